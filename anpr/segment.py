"""Split an upright plate crop into character boxes.

Both polarities are tried (dark ink on a light plate, light ink on a dark plate), each binarized with
an adaptive and a global (Otsu) threshold. Rows and columns that are nearly all ink (the plate's
border, a bumper edge) are cleared, connected components become blobs, blobs that are too wide are
split at their thinnest column, and blobs of character-like size are grouped into a text line: blobs
of one line agree in height and vertical position and follow each other at moderate gaps. Screws,
the EU blue band's stars and country code, state logos and small print fail the size, shape or
alignment tests and drop out. The best line of each polarity is a hypothesis for the recognizer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from .charcrop import percentiles
from .params import Params


@dataclass
class Segmentation:
    """Character boxes (x, y, w, h) in crop pixels, left to right, and the ink polarity."""

    boxes: list[tuple[int, int, int, int]]
    ink_dark: bool
    method: str
    score: float
    binary: np.ndarray | None = field(default=None, repr=False)

    @property
    def char_height(self) -> float:
        return middle([b[3] for b in self.boxes]) if self.boxes else 0.0

    def centers(self) -> np.ndarray:
        return np.array([[x + w / 2.0, y + h / 2.0] for x, y, w, h in self.boxes], np.float64)

    def span(self) -> tuple[int, int, int, int]:
        """Box around all characters (x, y, w, h) in crop pixels."""
        return bounding_box(self.boxes)


def bounding_box(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The box (x, y, w, h) around non-empty `boxes`."""
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


METHODS = ("adaptive", "otsu")
# "fine": adaptive with a small block (Params.fine_block_frac), and "closed": Otsu with small vertical
# gaps closed (Params.closed_gap_frac); only rescues of a crop giving no line (and, for "fine", the
# second look at unsure frames).
# "band": adaptive with the frame's rows cleared (clear_frame_rows); only for plates read unsurely
# "clahe": adaptive after a local contrast equalization (Params.clahe_*); only a second look at unsure frames
# "sauvola": a margin that follows the local brightness and contrast (Params.sauvola_*); only a late look at
# unsure frames
ALL_METHODS = METHODS + ("fine", "closed", "clahe", "band", "sauvola")


def binarize(gray: np.ndarray, ink_dark: bool, method: str, params: Params) -> np.ndarray:
    """Binary image (ink = 255) of `gray` for one polarity: `adaptive` (local mean), `fine` (local mean
    over a small block: a character separates from a frame pressed against it), `otsu` (global) or
    `closed` (Otsu, then vertical gaps of a few rows closed: the thin strokes of a faint, small
    character that the threshold broke into pieces join again), `clahe` (`adaptive` after a local
    contrast equalization: a dark or washed-out plate), `band` (thresholds as `adaptive`; its frame
    rows are cleared after frame lines, in best_segmentation) or `sauvola` (a margin below the local mean
    that follows the local brightness and contrast: see `sauvola`)."""
    mode = cv2.THRESH_BINARY_INV if ink_dark else cv2.THRESH_BINARY
    if method == "clahe":
        tiles = (params.clahe_tiles_x, params.clahe_tiles_y)
        return binarize(cv2.createCLAHE(params.clahe_clip, tiles).apply(gray), ink_dark, "adaptive", params)
    if method == "closed":
        rows = max(2, int(round(params.closed_gap_frac * gray.shape[0])))
        return cv2.morphologyEx(binarize(gray, ink_dark, "otsu", params), cv2.MORPH_CLOSE,
                                cv2.getStructuringElement(cv2.MORPH_RECT, (1, rows)))
    if method in ("adaptive", "fine", "band", "sauvola"):
        frac = params.fine_block_frac if method == "fine" else params.adaptive_block_frac
        block = max(3, int(gray.shape[0] * frac) | 1)
        if method == "sauvola":
            return sauvola(gray, ink_dark, block, params.sauvola_k, params.sauvola_range)
        return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, mode, block, params.adaptive_c)
    if method == "otsu":
        return cv2.threshold(gray, 0, 255, mode | cv2.THRESH_OTSU)[1]
    raise ValueError(f"unknown binarization method {method!r}; use one of {ALL_METHODS}")


def sauvola(gray: np.ndarray, ink_dark: bool, block: int, k: float, spread: float) -> np.ndarray:
    """Sauvola's binarization (ink = 255): ink is darker than mean * (1 + k * (std / spread - 1)) over a
    block x block window. Its margin below the local mean, k * mean * (1 - std / spread), is wide in
    flat regions (shading and grain stay background), narrow around strokes, where the local contrast
    is high, and smaller in dark regions; `adaptive` keeps one margin (adaptive_c gray levels) everywhere."""
    g = gray.astype(np.float32)
    if not ink_dark:
        g = 255.0 - g
    mean = cv2.boxFilter(g, cv2.CV_32F, (block, block), borderType=cv2.BORDER_REPLICATE)
    mean_sq = cv2.sqrBoxFilter(g, cv2.CV_32F, (block, block), borderType=cv2.BORDER_REPLICATE)
    std = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    return cv2.compare(g, mean * (1.0 + k * (std / spread - 1.0)), cv2.CMP_LT)


def clear_lines(binary: np.ndarray, params: Params, char_height: float | None = None) -> np.ndarray:
    """Remove long horizontal and vertical ink runs: plate borders and frames, bumper edges.

    Characters touching the plate's frame would otherwise merge with it into one blob. A horizontal
    run longer than `line_min_width_frac` of the crop width or a vertical one longer than
    `line_min_height_frac` of its height (or, when the character height is known, longer than
    `line_char_height_ratio` character heights) is no character stroke.
    """
    h, w = binary.shape
    kw = max(3, int(params.line_min_width_frac * w))
    if char_height:
        kh = max(3, int(params.line_char_height_ratio * char_height))
    else:
        kh = max(3, int(params.line_min_height_frac * h))
    return cv2.subtract(binary, cv2.bitwise_or(line_opening(binary, kw, axis=1), line_opening(binary, kh, axis=0)))


def line_opening(binary: np.ndarray, length: int, axis: int) -> np.ndarray:
    """The ink runs of `binary` at least `length` pixels long along `axis` (1: rows, 0: columns): its
    morphological opening by a line. The same image as cv2.morphologyEx(MORPH_OPEN) with a 1-pixel-wide
    rectangle and OpenCV's default borders, but each window minimum (then maximum) is built by doubling
    a span over shifted views, log2(length) cv2.min/max steps instead of `length` per pixel: about
    twice as fast for the long kernels of `clear_lines`, which run on every binarization."""
    n = binary.shape[axis]
    a = length // 2  # OpenCV's anchor: the window is [i - a, i + length - 1 - a]

    def cut(m: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return m[lo:hi] if axis == 0 else m[:, lo:hi]

    def window(m: np.ndarray, op) -> np.ndarray:
        span = 1  # m[i] holds the op over the `span` pixels from i on
        while span * 2 <= length:
            m = op(cut(m, 0, m.shape[axis] - span), cut(m, span, m.shape[axis]))
            span *= 2
        return op(cut(m, 0, n), cut(m, length - span, length - span + n)) if span < length else cut(m, 0, n)

    def border(m: np.ndarray, value: int) -> np.ndarray:
        before, after = a, length - 1 - a
        pads = (before, after, 0, 0) if axis == 0 else (0, 0, before, after)
        return cv2.copyMakeBorder(m, *pads, cv2.BORDER_CONSTANT, value=value)

    # erosion counts the outside as ink (a run may leave the image), dilation as background
    return window(border(window(border(binary, 255), cv2.min), 0), cv2.max)


def clear_frame_rows(binary: np.ndarray, fill: float) -> np.ndarray:
    """Clear the rows whose ink covers at least `fill` of the crop's middle half, in place.

    A dark plate frame (often carrying a dealer's name) pressed against the characters from above or
    below joins every character into one blob; in the middle half of the crop its rows are nearly all
    ink, while a row through the characters has the gaps between them.
    """
    w = binary.shape[1]
    centre = binary[:, w // 4: w - w // 4]
    if centre.size:
        binary[np.count_nonzero(centre, axis=1) >= fill * centre.shape[1]] = 0
    return binary


def split_wide(binary: np.ndarray, box: tuple[int, int, int, int], char_h: float, params: Params
               ) -> list[tuple[int, int, int, int]]:
    """Split a blob wider than a character at its thinnest columns (touching characters), where the
    column's ink is a thin neck; a blob without such a neck stays whole (a wide W, M)."""
    x, y, w, h = box
    if w <= params.split_min_aspect * char_h:
        return [box]
    n = int(round(w / (0.6 * char_h)))
    n = max(2, min(n, 4))
    profile = np.count_nonzero(binary[y : y + h, x : x + w], axis=0).astype(np.float64)
    cuts = []
    for k in range(1, n):
        centre = k * w / n
        lo, hi = int(centre - 0.2 * w / n), int(centre + 0.2 * w / n) + 1
        lo, hi = max(1, lo), min(w - 1, hi)
        if hi <= lo:
            continue
        cut = lo + int(np.argmin(profile[lo:hi]))
        # touching characters meet at a thin neck; a wide W or M has full strokes at its middle
        if profile[cut] <= params.split_neck_frac * h:
            cuts.append(cut)
    edges = [0] + cuts + [w]
    parts = []
    for a, b in zip(edges[:-1], edges[1:]):
        sub = binary[y : y + h, x + a : x + b]
        ys = np.nonzero(np.count_nonzero(sub, axis=1))[0]
        if b - a < 2 or ys.size == 0:
            continue
        parts.append((x + a, y + int(ys[0]), b - a, int(ys[-1] - ys[0] + 1)))
    return parts or [box]


def component_stats(binary: np.ndarray) -> np.ndarray:
    """`cv2.connectedComponentsWithStats` (8-connected) stats rows, background first. 16-bit labels
    where they cannot overflow (8-connected components are at least one pixel apart both ways, so an
    h x w image holds at most ceil(h/2) * ceil(w/2)): OpenCV's 16-bit labelling gives the same stats
    about twice as fast on plate crops."""
    h, w = binary.shape[:2]
    ltype = cv2.CV_16U if ((h + 1) // 2) * ((w + 1) // 2) < 65535 else cv2.CV_32S
    return cv2.connectedComponentsWithStats(binary, connectivity=8, ltype=ltype)[2]


def char_shaped(w: np.ndarray, h: np.ndarray, area: np.ndarray, params: Params) -> np.ndarray:
    """Which boxes (widths, heights, ink areas) have a character's aspect and ink fill (thin ones, a 1
    or an I, may fill their box)."""
    aspect = w / np.maximum(h, 1.0)
    fill = area / np.maximum(w * h, 1.0)
    return ((params.char_min_aspect <= aspect) & (aspect <= params.char_max_aspect)
            & (((params.char_min_fill <= fill) & (fill <= params.char_max_fill)) | (aspect <= 0.3)))


def char_blobs(binary: np.ndarray, params: Params) -> list[tuple[int, int, int, int]]:
    """Boxes of connected components whose size and shape could be a character."""
    H = binary.shape[0]
    stats = component_stats(binary)[1:]
    min_h = params.char_min_height_frac * H
    max_h = params.char_max_height_frac * H
    x, y, w, h, area = (stats[:, k].astype(np.float64) for k in range(5))
    sized = (h >= min_h) & (h <= max_h) & (w <= params.split_max_aspect * h)
    wide = sized & (w > params.split_min_aspect * h)
    whole = sized & ~wide & char_shaped(w, h, area, params)
    out: list[tuple[int, int, int, int]] = [tuple(r) for r in stats[whole, :4].tolist()]
    parts = [part for i in np.flatnonzero(wide)
             for part in split_wide(binary, tuple(int(v) for v in stats[i, :4]), int(stats[i, 3]), params)]
    if parts:
        pw, ph = (np.array([p[k] for p in parts], np.float64) for k in (2, 3))
        pa = np.array([np.count_nonzero(binary[py : py + hh, px : px + ww]) for px, py, ww, hh in parts], np.float64)
        keep = (ph >= min_h) & char_shaped(pw, ph, pa, params)
        out += [part for part, k in zip(parts, keep) if k]
    return out


def height_spread(boxes: list[tuple[int, int, int, int]]) -> float:
    """Coefficient of variation of the boxes' heights (0 for a perfectly even line)."""
    hs = [b[3] for b in boxes]
    mean = sum(hs) / len(hs)
    return (sum((h - mean) ** 2 for h in hs) / len(hs)) ** 0.5 / max(mean, 1.0)


def agrees(h: np.ndarray, top: np.ndarray, ref_h, ref_top, params: Params) -> np.ndarray:
    """Whether blobs of heights `h` and tops `top` agree in height, top and bottom with a reference
    line (`ref_h`, `ref_top`: numbers, or columns to test against many references at once), all
    relative to the reference's height."""
    return (
        (np.abs(h - ref_h) <= params.group_height_tol * ref_h)
        & (np.abs(top - ref_top) <= params.group_align_tol * ref_h)
        & (np.abs(top + h - ref_top - ref_h) <= params.group_align_tol * ref_h)
    )


def line_members(arr: np.ndarray, ref_h: float, ref_top: float, params: Params) -> np.ndarray:
    """Indices of blobs (rows x, y, w, h of `arr`) that agree with a reference line (`agrees`)."""
    return np.flatnonzero(agrees(arr[:, 3], arr[:, 1], ref_h, ref_top, params))


def middle(values) -> float:
    """Median of a short array or list (np.median's overhead dominates at this size)."""
    v = np.sort(values)
    n = len(v)
    return float(v[n // 2]) if n % 2 else float(v[n // 2 - 1] + v[n // 2]) / 2.0


def quantile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of a short non-empty list, interpolated between the closest ranks as
    np.percentile does by default, which costs ~50x more at a line's few values."""
    v = sorted(values)
    k = (len(v) - 1) * q
    i = int(k)
    j = min(i + 1, len(v) - 1)
    return float(v[i] + (v[j] - v[i]) * (k - i))


def best_line(blobs: list[tuple[int, int, int, int]], params: Params) -> list[tuple[int, int, int, int]]:
    """Largest run of blobs that agree in height, top and bottom, with moderate gaps between them.

    Each blob seeds a line; the line's members are re-selected around their median height, top and
    bottom, so one odd seed (a border piece) does not pull in blobs of another size.
    """
    if not blobs:
        return []
    blobs = sorted(blobs, key=lambda b: b[0])
    arr = np.array(blobs, np.float64)
    best: list[tuple[int, int, int, int]] = []
    best_key = (0, 0.0)
    seen: set[tuple[int, ...]] = set()
    # every blob seeds a line at once: (seed, blob) agreement matrix, one row per distinct member set
    h, top = arr[:, 3], arr[:, 1]
    agree = agrees(h[None, :], top[None, :], h[:, None], top[:, None], params)
    rows = {row.tobytes(): row for row in agree[agree.sum(axis=1) >= 2]}
    for row in rows.values():
        idx = np.flatnonzero(row)
        med_h, med_top = middle(arr[idx, 3]), middle(arr[idx, 1])
        idx = line_members(arr, med_h, med_top, params)
        key_members = tuple(idx.tolist())
        if key_members in seen:
            continue
        seen.add(key_members)
        members = [blobs[i] for i in key_members]
        # drop blobs nested inside a wider one (holes, stacked fragments)
        members = [b for b in members if not any(
            o is not b and o[0] <= b[0] and b[0] + b[2] <= o[0] + o[2] and o[2] > b[2] for o in members)]
        runs: list[list[tuple[int, int, int, int]]] = [[]]
        for b in members:
            run = runs[-1]
            if run and b[0] - (run[-1][0] + run[-1][2]) > params.group_max_gap * med_h:
                runs.append([])
                run = runs[-1]
            run.append(b)
        for run in runs:
            if len(run) > params.max_chars or len(run) < best_key[0]:
                continue
            key = (len(run), -height_spread(run))
            if key > best_key:
                best, best_key = run, key
    return best


def ink_box(binary: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int, int, int] | None:
    """The tight box (x, y, w, h) of the ink inside the window [x0, x1) x [y0, y1); None without ink."""
    window = binary[y0:y1, x0:x1]
    rows = np.flatnonzero(np.count_nonzero(window, axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(np.count_nonzero(window, axis=0))
    return (x0 + int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def line_extent(line: list[tuple[int, int, int, int]]) -> tuple[float, float, int, int]:
    """A line's median character height and width, and the rows its characters span (top, bottom)."""
    return (middle([b[3] for b in line]), middle([b[2] for b in line]),
            int(min(b[1] for b in line)), int(max(b[1] + b[3] for b in line)))


def line_ratio(line: list[tuple[int, int, int, int]]) -> float:
    """How many median character heights a line spans, from its leftmost to its rightmost pixel."""
    width = max(b[0] + b[2] for b in line) - min(b[0] for b in line)
    return width / max(1.0, middle([b[3] for b in line]))


def line_gaps(line: list[tuple[int, int, int, int]]) -> list[int]:
    """Pixels between each pair of neighbouring boxes of a line (negative where they overlap)."""
    return [b[0] - (a[0] + a[2]) for a, b in zip(line[:-1], line[1:])]


def thin_bar(box: tuple[int, int, int, int], params: Params) -> bool:
    """Whether a box is a bar too thin for most characters (narrower than `border_bar_aspect` of its
    height): the plate's border, or one stem of a character the threshold cut."""
    return box[2] < params.border_bar_aspect * box[3]


def border_bar(box: tuple[int, int, int, int], gap: float, med_gap: float, params: Params) -> bool:
    """Whether an outer box is the plate's border: a thin bar pressed against its neighbour (`gap`
    pixels away, `med_gap` the line's median gap)."""
    return thin_bar(box, params) and gap < params.border_bar_gap_ratio * med_gap


def fill_gaps(binary: np.ndarray, line: list[tuple[int, int, int, int]], params: Params
              ) -> list[tuple[int, int, int, int]]:
    """The line with characters broken into pieces put back: where two neighbours leave room for a
    character, the ink in that gap (within the line's rows) counts when it is nearly as tall as the
    line (a 9 whose loop came apart from its tail). The caller reads both versions and keeps the
    better: an emblem or a seal in a gap is rejected or read with low confidence."""
    if len(line) < 2:
        return line
    med_h, med_w, top, bot = line_extent(line)
    out = [line[0]]
    for a, b in zip(line[:-1], line[1:]):
        x0, x1 = a[0] + a[2] + 1, b[0] - 1
        if params.gap_min_width * med_w <= x1 - x0 <= params.gap_max_width * med_w:
            box = ink_box(binary, x0, top, x1, bot)
            if box is not None and box[3] >= params.gap_min_height * med_h:
                out.append(box)
        out.append(b)
    return out if len(out) <= params.max_chars else line


def extend_ends(binary: np.ndarray, line: list[tuple[int, int, int, int]], params: Params
                ) -> list[tuple[int, int, int, int]]:
    """The line with a character put back at either end where the next one would stand: ink within
    the line's rows, one character pitch beyond the outer character, nearly as tall as the line (a
    last 9 merged with the plate's border, a thin 1 that broke apart). The caller reads both versions;
    a screw or a border piece loses on confidence or is trimmed."""
    if len(line) < 2 or len(line) >= params.max_chars:
        return line
    med_h, med_w, top, bot = line_extent(line)
    pitch = middle([b[0] - a[0] for a, b in zip(line[:-1], line[1:])])
    W = binary.shape[1]

    def find(x0: int, x1: int, left: bool) -> tuple[int, int, int, int] | None:
        x0, x1 = max(0, x0), min(W, x1)
        if x1 - x0 < params.end_min_width * med_w:
            return None
        box = ink_box(binary, x0, top, x1, bot)
        if box is None or box[3] < params.gap_min_height * med_h:
            return None
        # a thin bar may be the plate's border (a 1 is left out too)
        if box[2] < params.end_min_char_width * med_w:
            return None
        # ink running on to the window's far side is no character (a border, an emblem)
        if box[0] == x0 if left else box[0] + box[2] == x1:
            return None
        return box

    first, last = line[0], line[-1]
    half = params.end_half_width * med_w
    right_c = last[0] + last[2] / 2.0 + pitch
    left_c = first[0] + first[2] / 2.0 - pitch
    right = find(last[0] + last[2] + 1, int(right_c + half) + 1, False)
    left = find(int(left_c - half), first[0] - 1, True)
    out = ([left] if left else []) + list(line) + ([right] if right else [])
    return out if len(out) <= params.max_chars else line


def usual_char_width(line: list[tuple[int, int, int, int]], params: Params) -> float | None:
    """The width of the line's ordinary characters: the narrow_end_width_quantile (the upper quartile)
    of the widths of its boxes at least widen_min_aspect of their height wide, since a line with several
    1s or Is has a median width near theirs. None when no box is that wide."""
    wide = [b[2] for b in line if b[2] >= params.widen_min_aspect * b[3]]
    if not wide:
        return None
    return quantile(wide, params.narrow_end_width_quantile)


def char_size(line: list[tuple[int, int, int, int]], params: Params) -> tuple[float, float] | None:
    """The usual width (`usual_char_width`) and the median height of a line's characters; None for a
    line too short to tell (under min_chars) or without a box that wide."""
    if len(line) < params.min_chars:
        return None
    usual = usual_char_width(line, params)
    return None if usual is None else (usual, middle([b[3] for b in line]))


def merge_split_chars(line: list[tuple[int, int, int, int]], params: Params
                      ) -> list[tuple[int, int, int, int]] | None:
    """The line with each pair of neighbouring boxes that together make one character merged into one
    box, or None when no pair does. On dark, blurred or condensed plates a character's thin stroke
    falls under the threshold and the character comes apart: an M or W at a diagonal, an R or U at
    a joint, read as II, IJ or 11. A pair qualifies when the boxes (nearly) touch (merge_max_gap
    character heights), one is thin (under merge_thin_frac of the usual width) and both together
    are no wider than merge_max_width usual widths. The caller reads both versions: a real 11 reads
    best apart."""
    size = char_size(line, params)
    if size is None:
        return None
    usual, ch = size
    gaps = line_gaps(line)
    out: list[tuple[int, int, int, int]] = []
    i = 0
    while i < len(line):
        if i + 1 < len(line):
            pair = bounding_box(line[i : i + 2])
            thin = min(line[i][2], line[i + 1][2]) < params.merge_thin_frac * usual
            if gaps[i] <= params.merge_max_gap * ch and thin and pair[2] <= params.merge_max_width * usual:
                out.append(pair)
                i += 2
                continue
        out.append(line[i])
        i += 1
    return out if len(out) < len(line) and len(out) >= params.min_chars else None


def trim_short_pieces(binary: np.ndarray, line: list[tuple[int, int, int, int]], params: Params
                      ) -> list[tuple[int, int, int, int]] | None:
    """The line with each box wider than a character cut down to its one tall piece, or None when no
    box is. A state emblem, a screw or a piece of the frame joined to a character makes a box wider
    than the line's characters (trim_wide usual widths), which the CNN reads as a W or not at all
    (SH0W1X for Missouri SH0R7X, LX039 for VLX039). The box is cut at its thinnest ink column, away
    from its sides (trim_cut_margin of its width); when one piece's ink is short (under trim_short
    character heights) and the other's is tall (trim_tall) and no wider than one character (under
    trim_wide usual widths), the tall piece replaces the box. Two characters joined into one blob
    are two tall pieces, or one too wide, and stay as they are (resegment splits them). The caller
    reads both versions."""
    size = char_size(line, params)
    if size is None:
        return None
    usual, ch = size
    out = list(line)
    for k, (x, y, w, h) in enumerate(line):
        if w < params.trim_wide * usual:
            continue
        lo, hi = max(1, int(params.trim_cut_margin * w)), min(w - 1, int((1 - params.trim_cut_margin) * w) + 1)
        if hi <= lo:
            continue
        cut = x + lo + int(np.argmin(np.count_nonzero(binary[y : y + h, x + lo : x + hi], axis=0)))
        left, right = ink_box(binary, x, y, cut, y + h), ink_box(binary, cut, y, x + w, y + h)
        if left is None or right is None:
            continue
        for short, tall in ((left, right), (right, left)):
            if (short[3] < params.trim_short * ch and tall[3] >= params.trim_tall * ch
                    and tall[2] < params.trim_wide * usual):
                out[k] = tall
                break
    return out if out != line else None


def widen_narrow_ends(line: list[tuple[int, int, int, int]], width: int, params: Params
                      ) -> list[list[tuple[int, int, int, int]]]:
    """Versions of the line with a narrow outer character widened outward to the line's usual
    character width (within the crop's `width`). Beside a plate's frame the adaptive threshold often
    loses a character's outer stroke: a U is left as its right stem, an M as its right leg, a G as
    its left arc, and the CNN reads the piece as a J, an I or a C. The CNN reads gray crops, so the
    widened box shows it the whole glyph. The outer boxes are widened, and where an outer box is a
    thin bar (the plate's border, or such a stem), the character inside it as well (a second
    version). A thin bar far from its neighbour or pressed against it (the plate's border) is not
    widened itself. The caller reads every version, and a real 1 is read best narrow."""
    size = char_size(line, params)
    if size is None:
        return []
    usual = size[0]
    gaps = line_gaps(line)
    med_gap = max(1.0, middle(gaps))

    def narrow(box: tuple[int, int, int, int], gap: int) -> bool:
        # a border bar is left to drop_outer_suspects
        return (box[2] < params.narrow_end_frac * usual and gap <= params.narrow_end_max_gap * med_gap
                and not border_bar(box, gap, med_gap, params))

    n = len(line)
    out: list[list[tuple[int, int, int, int]]] = []
    for lo, hi in ((0, n), (int(thin_bar(line[0], params)), n - int(thin_bar(line[-1], params)))):
        if hi - lo < params.min_chars:
            continue
        version = list(line)
        x, y, w, h = line[lo]
        if narrow(line[lo], gaps[lo]):
            x0 = max(line[lo - 1][0] + line[lo - 1][2] if lo > 0 else 0, int(round(x + w - usual)))
            version[lo] = (x0, y, x + w - x0, h)
        x, y, w, h = line[hi - 1]
        if narrow(line[hi - 1], gaps[hi - 2]):
            x1 = min(line[hi][0] if hi < n else width, int(round(x + usual)))
            version[hi - 1] = (x, y, x1 - x, h)
        if version != line and version not in out:
            out.append(version)
    return out


def segment(gray: np.ndarray, params: Params | None = None, polarities: tuple[bool, ...] = (True, False),
            methods: tuple[str, ...] = METHODS, char_height: float | None = None,
            rows: tuple[int, int] | None = None, rescue: tuple[str, ...] = ()) -> list[Segmentation]:
    """Best character line per polarity (dark ink first), each with at least `min_chars` characters.

    `char_height`, when the caller knows it (a crop re-warped around a line), sharpens frame-line removal;
    `rows` (top, bottom), when the caller knows where the line lies, clears the ink above and below it, so
    characters touching a frame or a dealer's slogan come apart from it. `rescue`: binarizations tried
    only when `methods` give no line in either polarity (their lines score rescue_score_penalty less)."""
    params = params or Params()
    out = [s for s in (best_segmentation(gray, ink, methods, params, char_height, rows) for ink in polarities)
           if s is not None]
    if not out and rescue:
        out = [s for s in (best_segmentation(gray, ink, rescue, params, char_height, rows,
                                             params.rescue_score_penalty) for ink in polarities)
               if s is not None]
    return out


def best_segmentation(gray: np.ndarray, ink_dark: bool, methods: tuple[str, ...], params: Params,
                      char_height: float | None, rows: tuple[int, int] | None, penalty: float = 0.0
                      ) -> Segmentation | None:
    """The best line over `methods` for one polarity (more characters, evener heights); None without one."""
    best: Segmentation | None = None
    for method in methods:
        binary = clear_lines(binarize(gray, ink_dark, method, params), params, char_height)
        if method == "band":
            clear_frame_rows(binary, params.band_row_fill)
        if rows is not None:
            binary[: max(0, rows[0])] = 0
            binary[max(0, rows[1]) :] = 0
        line = best_line(char_blobs(binary, params), params)
        if len(line) < params.min_chars:
            continue
        score = len(line) - height_spread(line) - penalty
        if best is None or score > best.score:
            best = Segmentation(line, ink_dark, method, float(score), binary)
    return best


def char_crop(gray: np.ndarray, box: tuple[int, int, int, int], pad_frac: float) -> np.ndarray:
    """Gray crop of one character box padded by `pad_frac` of its height, for `normalize_chars`."""
    H, W = gray.shape
    x, y, w, h = box
    pad = int(round(pad_frac * h))
    return gray[max(0, y - pad) : min(H, y + h + pad), max(0, x - pad) : min(W, x + w + pad)]


@lru_cache(maxsize=32)
def square(radius: int) -> np.ndarray:
    """A square structuring element reaching `radius` pixels each way (cached: one per crop height)."""
    return cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))


def masked_char_crop(gray: np.ndarray, binary: np.ndarray | None, box: tuple[int, int, int, int], pad_frac: float,
                     dilate: float) -> np.ndarray:
    """`char_crop` with every pixel farther than `dilate` of the box's height from the binary ink
    inside the box set to the crop's background (the median of those pixels). Plate shading, the
    frame or a neighbour's edge beside a character would otherwise pass for ink (a pale P's shaded side
    made it a D, a dash joined to a K made it a reject). Unmasked when `dilate` is 0, without a binary
    or without ink in the box."""
    crop = char_crop(gray, box, pad_frac)
    if dilate <= 0 or binary is None or crop.size == 0:
        return crop
    x, y, w, h = box
    pad = int(round(pad_frac * h))
    y0, x0 = max(0, y - pad), max(0, x - pad)
    mask = np.zeros(crop.shape, np.uint8)
    # the box's ink, in crop coordinates (the padding around it starts masked)
    ya, xa = max(0, y) - y0, max(0, x) - x0
    mask[ya : ya + h, xa : xa + w] = binary[max(0, y) : y + h, max(0, x) : x + w]
    mask = cv2.dilate(mask, square(max(1, int(round(dilate * h)))))
    background = crop[mask == 0]
    if background.size == 0 or background.size == crop.size:
        return crop
    out = np.full_like(crop, np.partition(background, background.size // 2)[background.size // 2])
    cv2.copyTo(crop, mask, out)
    return out


def ink_contrast(gray: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Spread of the gray levels in a box (5th to 95th percentile): a character's ink against its
    background; a patch of plate texture beside the characters has little."""
    x, y, w, h = box
    patch = gray[max(0, y) : y + h, max(0, x) : x + w]
    if patch.size < 2:
        return 0.0
    lo, hi = percentiles(patch, 0.05, 0.95)
    return hi - lo


def char_crops(gray: np.ndarray, seg: Segmentation, pad_frac: float) -> list[np.ndarray]:
    """`char_crop` of every character box of a line."""
    return [char_crop(gray, box, pad_frac) for box in seg.boxes]
