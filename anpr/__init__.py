"""Recognition library: frame -> plate regions -> character crops -> text."""

__version__ = "0.1.0"
