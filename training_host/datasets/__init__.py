"""Loaders for the character training data: one module per source, each returning a `CharSet`."""
