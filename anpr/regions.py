"""Plate formats per region, used only to rescore confusable characters.

A format is a string of slots: `L` a letter, `D` a digit, `A` either. The recognizer may replace a
character with its confusable partner (O/0, I/1, B/8, S/5, Z/2, D/0, G/6) when the format wants the
other kind and the CNN gave the partner a real probability (or by the CNN's best character of that kind,
see `Params.other_swap_ratio`); it never adds, drops or invents characters. `auto` tries every region's formats,
each weighted by how likely the line's region has it (`region_weights`, `format_prior`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from itertools import product

import numpy as np

from .params import Params

# letter <-> digit pairs that plate fonts and blur make look alike
CONFUSABLE_LETTER_TO_DIGIT = {"O": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "D": "0", "G": "6", "Q": "0"}
CONFUSABLE_DIGIT_TO_LETTER = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G"}
# Glyph twins: pairs that many plate fonts draw identically (in the gb crops the letter O and the
# digit 0 are the same glyph; gb '1', br '1' and br 'I' are all plain bars). Only the plate format
# (letter or digit position) separates them, and annotators type either, so accuracy is also reported
# with each pair merged (the CNN's in training_host, whole plates in `anpr eval`).
GLYPH_TWINS = ("0O", "1I")


def _german() -> list[str]:
    """German: 1-3 letter district, 1-2 letters, 1-4 digits (written without the separators)."""
    return ["L" * a + "L" * b + "D" * c for a, b, c in product((1, 2, 3), (1, 2), (1, 2, 3, 4)) if a + b + c <= 8]


FORMATS: dict[str, list[str]] = {
    # Brazil: the grey ABC1234 plates. The Mercosur ABC1D23 is left out on purpose: its letter in
    # the fifth place would stop the I/1, B/8, S/5 rescoring there on the grey plates.
    "br": ["LLLDDDD"],
    # Europe: SK/HR/IT/FR style AA123AA, CZ 1A2 3456, PL/others, UK AB12CDE, German, Dutch sidecodes
    "eu": sorted(set(
        ["LLDDDLL", "DLDDDDD", "LLDDDDD", "LLLDDDD", "LLDDLLL", "LDDDDDD", "DDLLLD", "LLDDDL", "DLLLDD",
         "LLDDDD"] + _german()
    )),
    # United States: the most common state layouts
    "us": ["DLLLDDD", "LLLDDDD", "LLLDDD", "DDDLLL", "LLDLDL", "DDLDLL", "LDDDDDD", "DDDDDDD", "LLDLDDD",
           "DLLDDD", "DLDDDDD", "LLLDDDL", "DDDDDLD"],
}
REGIONS = ("auto", "eu", "br", "us")
# characters a region's plates hardly ever carry: US states leave Q out of their series (it reads as O
# or 0), so a US plate's Q is nearly always a C or O the CNN misread (a C with shading inside it)
RARE_CHARS: dict[str, str] = {"us": "Q"}


def formats_for(region: str) -> list[str]:
    """Formats of one region, or of all regions for `auto`."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; use one of {', '.join(REGIONS)}")
    if region == "auto":
        return sorted({f for fs in FORMATS.values() for f in fs})
    return FORMATS[region]


@lru_cache(maxsize=None)
def formats_of_length(region: str, length: int) -> tuple[str, ...]:
    """The region's formats with exactly `length` characters (cached: decoding asks per line)."""
    return tuple(f for f in formats_for(region) if len(f) == length)


def region_weights(region: str, line_ratio: float | None = None, params: Params | None = None) -> dict[str, float]:
    """How likely a line comes from each region: all on `region` when one is named. For `auto`, the
    line's span in character heights (`line_ratio`) tells a US plate from the others: US characters
    are condensed (about 70 mm tall on a 12-inch plate), so a US line of 6-7 spans about 3-4 heights,
    while European (FE-Schrift, 75 x 47 mm) and Brazilian lines span 5-6. Below
    `params.auto_us_line_ratio` the line is likely US (a logistic of `auto_ratio_width` spread);
    Europe and Brazil share the rest evenly. Without a ratio every region weighs the same."""
    if region != "auto":
        return {region: 1.0}
    if line_ratio is None:
        return {r: 1.0 / len(FORMATS) for r in FORMATS}
    params = params or Params()
    z = (params.auto_us_line_ratio - line_ratio) / params.auto_ratio_width
    us = 0.5 * (1.0 + math.tanh(z / 2))  # the logistic of z, without overflow for any ratio
    others = [r for r in FORMATS if r != "us"]
    return {"us": us, **{r: (1.0 - us) / len(others) for r in others}}


def format_prior(weights: dict[str, float], fmt: str) -> float:
    """The share of plates written in `fmt` under region `weights` (`region_weights`), a region's
    formats taken as equally common. With `auto` the formats of all regions compete, and without this
    weight a rare layout (a German district code, a US vanity pattern) that fits a read as it is beats
    the common layout that needs one look-alike swap (MXQ160I over Brazil's MXQ1601). Within one
    region every format weighs the same."""
    return sum(w / len(FORMATS[r]) for r, w in weights.items() if fmt in FORMATS[r])


def rare_char_prior(classes: str, weights: dict[str, float], factor: float) -> np.ndarray | None:
    """Per-class multipliers of the CNN's probabilities: `factor` for a character the line's region
    hardly ever issues (`RARE_CHARS`), mixed by the region `weights` under `auto`; 1 for the rest.
    None when no class is rare (nothing to do)."""
    prior = np.ones(len(classes))
    for region, w in weights.items():
        for ch in RARE_CHARS.get(region, ""):
            if ch in classes:
                prior[classes.index(ch)] -= w * (1.0 - factor)
    return None if np.all(prior == 1.0) else prior


def format_share(weights: dict[str, float], fmt: str) -> float:
    """How likely the line's region has `fmt` at all: 1 under a named region that has it. Under
    `auto` a read that fits only another region's layout is less of a fit."""
    return sum(w for r, w in weights.items() if fmt in FORMATS[r])


def slot_accepts(slot: str, ch: str) -> bool:
    """Whether character `ch` fits format slot `slot` (L, D or A)."""
    if slot == "A":
        return True
    return ch.isdigit() if slot == "D" else ch.isalpha()


def partner(ch: str) -> str | None:
    """The confusable character of the other kind, if any."""
    return CONFUSABLE_LETTER_TO_DIGIT.get(ch) or CONFUSABLE_DIGIT_TO_LETTER.get(ch)


def fold_twins(text: str) -> str:
    """`text` with each glyph twin written as the first of its pair (O as 0, I as 1)."""
    for pair in GLYPH_TWINS:
        for ch in pair[1:]:
            text = text.replace(ch, pair[0])
    return text
