"""One way through: frame -> candidate regions -> upright plate crops -> characters -> text.

Candidates come from cheap edge evidence (`localize`); each is cut out upright (`rectify`) and split
into characters in both polarities (`segment`); the most character-like lines are re-warped around
their characters (tilt levelled, height normalized, view widened; repeated while the line grows at
the crop's edge), outer blobs that are no characters by their place are dropped, and every
hypothesis's characters are read by the CNN in ONE batch per frame. Hypotheses are then ranked by
what they read as (character confidence, format fit, length, even heights, size, place), not by image
statistics alone; overlapping reads of one plate collapse to the best (or to a read of it that has a
character the best one lost inside the line), and several plates per frame are possible.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .charcrop import INPUT_SIZE, normalize_chars
from .localize import Candidate, find_candidates, iou, to_gray
from .textlines import text_line_candidates
from .params import Params
from .recognize import Reading, decode, line_factor
from .rectify import PlateCrop, crop_candidate, deskew_angle, rewarp
from .regions import formats_for
from .resegment import resegment
from .network import REJECT, character_columns
from .segment import (Segmentation, border_bar, extend_ends, fill_gaps, height_spread, ink_contrast, line_gaps,
                      line_ratio, masked_char_crop, merge_split_chars, middle, segment, trim_short_pieces,
                      widen_narrow_ends)


@dataclass
class PlateRead:
    """One plate found in a frame (contract 4)."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]  # x, y, w, h in original-image pixels
    char_confidences: list[float] = field(default_factory=list)


@dataclass
class Hypothesis:
    """A candidate's crop, one segmentation of it, and (after the CNN) its reading."""

    candidate: Candidate
    crop: PlateCrop
    seg: Segmentation
    reading: Reading | None = None
    # at most this many outer characters (left, right) may be dropped in reading; None: max_trim.
    # A line extended at its ends may drop only what was added (the line without it is a
    # hypothesis of its own)
    trim: tuple[int, int] | None = None

    def frame_char_height(self) -> float:
        """Median character height in frame pixels."""
        m = self.crop.to_frame
        return self.seg.char_height * float(np.hypot(m[0, 1], m[1, 1]))

    def frame_box(self, params: Params) -> tuple[int, int, int, int]:
        """The plate box in frame pixels: the characters' span plus a plate-like margin."""
        x, y, w, h = self.seg.span()
        ch = self.seg.char_height
        mx, my = params.plate_margin_x * ch, params.plate_margin_y * ch
        return self.crop.map_box(x - mx, y - my, w + 2 * mx, h + 2 * my)


def font_stretch(boxes: list[tuple[int, int, int, int]], params: Params) -> float:
    """Horizontal stretch that brings a condensed font's characters (median width / height of the
    line's non-bar characters) to `widen_to_aspect`: narrow state fonts then read like the wider
    fonts the CNN knows. 1.0 for lines of ordinary width; rounded so lines share their crops."""
    if params.widen_to_aspect <= 0:
        return 1.0
    aspects = [w / h for _, _, w, h in boxes if h > 0 and w >= params.widen_min_aspect * h]
    if not aspects:
        return 1.0
    factor = params.widen_to_aspect / middle(aspects)
    return round(min(max(factor, 1.0), params.widen_max_factor), 1)


def stretched(crop: np.ndarray, factor: float) -> np.ndarray:
    """`crop` widened by `factor` (1.0: unchanged)."""
    if factor == 1.0 or crop.size == 0:
        return crop
    h, w = crop.shape[:2]
    return cv2.resize(crop, (max(1, int(round(w * factor))), h), interpolation=cv2.INTER_LINEAR)


def line_rows(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """The rows (top, bottom) a line's characters share: the medians of their tops and bottoms."""
    return (int(middle([b[1] for b in boxes])), int(middle([b[1] + b[3] for b in boxes])))


def full_height(box: tuple[int, int, int, int], rows: tuple[int, int] | None, short: float = 1.0
                ) -> tuple[int, int, int, int]:
    """`box`, when shorter than `short` of the line, grown to span the line's rows: a character whose
    lower part came apart from it in the binary image (an E's bottom bar, a 9's tail) is read whole,
    not as an F or a fragment."""
    if rows is None:
        return box
    x, y, w, h = box
    if h >= short * (rows[1] - rows[0]):
        return box
    top, bottom = min(y, rows[0]), max(y + h, rows[1])
    return (x, top, w, bottom - top)


def missed_char_inside(read: Reading, longer: Reading, boxes: list[tuple[int, int, int, int]], max_gap: float
                       ) -> bool:
    """Whether `longer` (read from character `boxes`) is `read`'s text with one character inserted, not at
    either end, read at least as surely as `read` as a whole, and the gaps on both sides of its box are
    at most `max_gap` times the median of the line's other gaps: a character the shorter line's
    segmentation lost, not a separator read as one (a seal in the wide gap between a plate's groups, a
    registration sticker that the CNN reads as an unsure X)."""
    text = read.text
    if len(longer.text) != len(text) + 1 or len(boxes) != len(longer.text):
        return False
    gaps = line_gaps(boxes)
    for k in range(1, len(longer.text) - 1):
        if longer.text[:k] + longer.text[k + 1 :] != text or longer.char_confidences[k] < read.confidence:
            continue
        others = [g for n, g in enumerate(gaps) if n not in (k - 1, k)]
        if not others:
            continue
        usual = max(1.0, middle(others))
        if gaps[k - 1] <= max_gap * usual and gaps[k] <= max_gap * usual:
            return True  # a doubled character may have been lost at either of its places: any will do
    return False


def best_confidence(hyps: list[Hypothesis]) -> float:
    """The highest reading confidence among read hypotheses (0 without any)."""
    return max((h.reading.confidence for h in hyps if h.reading is not None), default=0.0)


def load_default_classifier():
    """The packaged CNN (imported late: the classifier is another module's, and loads weights)."""
    from .classify import CharClassifier

    return CharClassifier()


class PlateReader:
    """Reads plates from frames. `classifier` may be swapped at any time (model reload)."""

    def __init__(self, classifier: Any = None, region: str = "auto", params: Params | None = None):
        formats_for(region)  # validates the region name
        self.region = region
        self.params = params or Params()
        self.classifier = classifier if classifier is not None else load_default_classifier()

    # -- stages -------------------------------------------------------------------------------
    def hypotheses(self, gray: np.ndarray, cands: list[Candidate],
                   methods: tuple[str, ...] | None = None) -> list[Hypothesis]:
        """Segmented hypotheses for the candidate regions `cands`, first binarized by `methods`
        (default: first_pass_methods, with the rescue)."""
        p = self.params
        first: list[Hypothesis] = []
        for k, cand in enumerate(cands):
            crop = crop_candidate(gray, cand.rect, p)
            rescue = p.rescue_methods if k < p.rescue_candidates and methods is None else ()
            for seg in segment(crop.gray, p, methods=methods or p.first_pass_methods, rescue=rescue):
                first.append(Hypothesis(cand, crop, seg))
        # only the most character-like lines are worth a second, finer look
        first.sort(key=lambda h: -h.seg.score)
        out = []
        for h in first[: p.max_refine]:
            h = self.refine(gray, h)
            # a line that grew may continue beyond the new view (a candidate that caught half a plate)
            for _ in range(p.refine_rounds - 1):
                if not self.line_at_edge(h):
                    break
                n = len(h.seg.boxes)
                h = self.refine(gray, h)
                if len(h.seg.boxes) <= n:
                    break
            out += self.line_versions(h)
        return out

    def line_versions(self, h: Hypothesis) -> list[Hypothesis]:
        """The refined line `h` and the other cuttings of it worth reading (the CNN's confidence decides
        among them): a broken character put back (`fill_gaps`), a narrow outer character widened, a
        character beyond an end added (`extend_ends`), a character come apart in two merged, and, in
        any of these, a character joined to an emblem or a screw cut free."""
        p = self.params
        out = [h]
        if h.seg.binary is None:
            return out
        filled = fill_gaps(h.seg.binary, h.seg.boxes, p)
        if filled != h.seg.boxes:
            out.append(Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=filled)))
        if p.widen_narrow_ends:
            for line in [h.seg.boxes] + ([filled] if filled != h.seg.boxes else []):
                for widened in widen_narrow_ends(line, h.crop.gray.shape[1], p):
                    out.append(Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=widened)))
        if p.extend_line_ends:
            extended = extend_ends(h.seg.binary, filled, p)
            if extended != filled:
                added = (int(extended[0] != filled[0]), int(extended[-1] != filled[-1]))
                out.append(Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=extended), trim=added))
        merged = merge_split_chars(h.seg.boxes, p) if p.merge_split_chars else None
        if merged is not None:
            out.append(Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=merged)))
        if p.trim_short_pieces:
            seen = {tuple(v.seg.boxes) for v in out}
            for v in list(out):
                trimmed = trim_short_pieces(h.seg.binary, v.seg.boxes, p)
                if trimmed is not None and tuple(trimmed) not in seen:
                    seen.add(tuple(trimmed))
                    out.append(Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=trimmed), trim=v.trim))
        return out

    def line_at_edge(self, hyp: Hypothesis) -> bool:
        """Whether the outer characters come close to the crop's sides (the line may go on beyond)."""
        x, _, w, _ = hyp.seg.span()
        edge = self.params.refine_edge_frac * hyp.seg.char_height
        return x < edge or x + w > hyp.crop.gray.shape[1] - edge

    def refine(self, gray: np.ndarray, hyp: Hypothesis) -> Hypothesis:
        """Warp again around the character line: level its tilt, normalize the character height and
        widen the view so characters the candidate cut off come back; keep the better segmentation."""
        p = self.params
        angle = deskew_angle(hyp.seg.centers())
        if abs(angle) > p.deskew_max_deg:
            angle = 0.0
        x, _, w, _ = hyp.seg.span()
        ch = hyp.seg.char_height
        pad = p.refine_pad_x * ch
        crop = rewarp(gray, hyp.crop, x - pad, x + w + pad, angle, ch / p.refine_char_height_frac, p)
        new_ch = p.refine_char_height_frac * p.rect_height
        rows = None
        if p.refine_band_height > 0:
            # where the line's characters lie in the new view: their centres, mapped through the frame
            centre = hyp.crop.map_points(hyp.seg.centers()).mean(axis=0)
            inv = cv2.invertAffineTransform(crop.to_frame)
            cy = float(inv[1, 0] * centre[0] + inv[1, 1] * centre[1] + inv[1, 2])
            half = 0.5 * p.refine_band_height * new_ch
            rows = (int(np.floor(cy - half)), int(np.ceil(cy + half)))
        methods = p.refine_methods
        if hyp.seg.method not in methods:  # a rescued line: its own binarization found it
            methods = methods + (hyp.seg.method,)
        same = segment(crop.gray, p, polarities=(hyp.seg.ink_dark,), methods=methods,
                       char_height=new_ch, rows=rows)
        if same and same[0].score >= hyp.seg.score - p.refine_score_slack:
            return Hypothesis(hyp.candidate, crop, same[0])
        return hyp

    def drop_outer_suspects(self, h: Hypothesis, image: np.ndarray) -> Hypothesis:
        """Drop outer blobs that are no characters by their place in the line: bluer than the line
        (the EU band's letters and stars), narrow and far from the next character (a band, a logo),
        or a thin bar pressed against its neighbour (the plate's border); never below `min_chars`."""
        p = self.params
        boxes = list(h.seg.boxes)
        if len(boxes) < 3:
            return h
        blue = self.blueness(h, image) if image.ndim == 3 else None
        med_blue = middle(blue) if blue is not None else 0.0
        med_gap = max(1.0, middle(line_gaps(boxes)))

        def suspect(i: int, gap: float) -> bool:
            x, y, w, hh = boxes[i]
            if blue is not None and blue[i] - med_blue > p.band_blue_margin:
                return True
            if gap > p.isolated_gap_ratio * med_gap and gap > p.isolated_min_gap * hh and w < p.isolated_max_aspect * hh:
                return True
            return border_bar(boxes[i], gap, med_gap, p)

        lo, hi = 0, len(boxes)
        while hi - lo > p.min_chars and suspect(lo, boxes[lo + 1][0] - boxes[lo][0] - boxes[lo][2]):
            lo += 1
        while hi - lo > p.min_chars and suspect(hi - 1, boxes[hi - 1][0] - boxes[hi - 2][0] - boxes[hi - 2][2]):
            hi -= 1
        if (lo, hi) == (0, len(boxes)):
            return h
        return Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=boxes[lo:hi]))

    @staticmethod
    def blueness(h: Hypothesis, image: np.ndarray) -> list[float]:
        """Mean of blue minus the larger of green and red inside each character box, frame pixels."""
        out = []
        H, W = image.shape[:2]
        # every box's corners mapped to the frame at once (mean(b - max(g, r)) = mean(b) - mean(max(g, r)))
        corners = np.array([[(x, y), (x + w, y), (x, y + hh), (x + w, y + hh)] for x, y, w, hh in h.seg.boxes],
                           np.float64)
        frame = h.crop.map_points(corners.reshape(-1, 2)).reshape(-1, 4, 2)
        lo, hi = frame.min(axis=1), frame.max(axis=1)
        starts, sizes = np.rint(lo).astype(int), np.rint(hi - lo).astype(int)  # as PlateCrop.map_box rounds
        for (x0, y0), (bw, bh) in zip(starts.tolist(), sizes.tolist()):
            patch = image[max(0, y0) : min(H, y0 + bh), max(0, x0) : min(W, x0 + bw)]
            if patch.size == 0:
                out.append(0.0)
                continue
            out.append(cv2.mean(patch[..., 0])[0] - cv2.mean(np.maximum(patch[..., 1], patch[..., 2]))[0])
        return out

    def recognize(self, hyps: list[Hypothesis]) -> None:
        """Read every hypothesis's characters with the CNN in one batch; fill their readings.

        A character shared by several hypotheses (a line and its version with a broken character put
        back) is read once. A line in a condensed font is read both as it is and stretched to an
        ordinary width (`font_stretch`), probabilities averaged: the CNN mistakes narrow Cs for Qs.
        Hypotheses left with no readable line get reading None."""
        if not hyps:
            return
        pads = self.params.char_pad_fracs
        index: dict[tuple, int] = {}
        crops: list[list[np.ndarray]] = [[] for _ in pads]
        polarity: list[bool] = []
        contrast: dict[tuple, float] = {}
        stretch = [font_stretch(h.seg.boxes, self.params) for h in hyps]
        mode = self.params.widen_mode
        views = [{f, 1.0} if mode == "average" else {f} for f in stretch]

        def key(h: Hypothesis, box: tuple[int, int, int, int], f: float) -> tuple:
            # the crop is masked to its line's binary ink: same box, other binary, other crop
            return id(h.crop), h.seg.ink_dark, id(h.seg.binary), box, f

        for h, fs in zip(hyps, views):
            rows = self.crop_rows(h)
            for box in h.seg.boxes:
                if (id(h.crop), box) not in contrast:
                    contrast[(id(h.crop), box)] = ink_contrast(h.crop.gray, box)
                unstretched: list[np.ndarray] = []  # cut (and masked) once for both views
                for f in fs:
                    char = key(h, box, f)
                    if char not in index:
                        index[char] = len(polarity)
                        polarity.append(h.seg.ink_dark)
                        unstretched = unstretched or [self.cut_char(h, box, rows, pad) for pad in pads]
                        for k in range(len(pads)):
                            crops[k].append(stretched(unstretched[k], f))
        # normalize per polarity, keep the unique characters' order
        size = self.classifier_input_size()
        chars = np.zeros((len(pads), len(polarity), size, size), np.float32)
        for ink_dark in (True, False):
            idx = [i for i, pol in enumerate(polarity) if pol == ink_dark]
            if idx:
                for k in range(len(pads)):
                    chars[k, idx] = normalize_chars([crops[k][i] for i in idx], ink_dark=ink_dark, size=size,
                                                    ink_threshold=self.params.char_ink_threshold)
        allp = self.read_chars(chars.reshape(-1, *chars.shape[2:]))
        # each character was read once per padding: average its probabilities over the views
        probs = allp.reshape(len(pads), len(polarity), -1).mean(axis=0)
        classes = self.classifier.classes
        for h, fs in zip(hyps, views):
            p_line = np.mean([probs[[index[key(h, box, f)] for box in h.seg.boxes]] for f in fs], axis=0)
            self.read_line(h, p_line, classes, [contrast[(id(h.crop), box)] for box in h.seg.boxes])

    def crop_rows(self, h: Hypothesis) -> tuple[int, int] | None:
        """The rows a line's character crops are grown to (None: crops keep their own height)."""
        return line_rows(h.seg.boxes) if self.params.crop_full_height else None

    def cut_char(self, h: Hypothesis, box: tuple[int, int, int, int], rows: tuple[int, int] | None,
                 pad: float) -> np.ndarray:
        """The gray crop the CNN reads for one character box of a line (grown to the line's `rows`,
        padded by `pad`, masked to the line's binary ink), before the line's font stretch."""
        grown = full_height(box, rows, self.params.full_height_below)
        return masked_char_crop(h.crop.char_gray, h.seg.binary, grown, pad, self.params.char_mask_dilate)

    def char_images(self, h: Hypothesis) -> list[np.ndarray]:
        """A line's character crops as `recognize` cuts them (first padding, the line's font stretch),
        in the line's own polarity: what a character training set built from plate photos should hold."""
        rows = self.crop_rows(h)
        f = font_stretch(h.seg.boxes, self.params)
        return [stretched(self.cut_char(h, box, rows, self.params.char_pad_fracs[0]), f) for box in h.seg.boxes]

    def classifier_input_size(self) -> int:
        """Side of the CNN's square input (INPUT_SIZE unless the model says otherwise)."""
        return int(getattr(self.classifier, "input_size", INPUT_SIZE))

    def read_line(self, h: Hypothesis, probs: np.ndarray, classes: str, contrast: list[float] | None = None
                  ) -> None:
        """The best reading of one segmented line: blobs the CNN rejects (class `#`, when the model
        has it) or far fainter than the line's characters (`contrast`, `faint_char_ratio`) are dropped
        (by default only at the line's ends, `reject_mode`), then reads without an outer character or
        two (a border piece, a screw, the EU band's country code) compete on confidence and format
        fit. Nothing is ever added."""
        p = self.params
        boxes = list(h.seg.boxes)
        faint = [False] * len(boxes)
        if contrast is not None and p.faint_char_ratio > 0 and len(boxes) >= 3:
            floor = p.faint_char_ratio * middle(contrast)
            faint = [c < floor for c in contrast]
        if REJECT in classes or any(faint):
            r = classes.index(REJECT) if REJECT in classes else -1
            real = character_columns(classes)
            rejected = [faint[i] or int(probs[i].argmax()) == r for i in range(len(boxes))]
            if p.reject_mode == "ends":
                lo, hi = 0, len(boxes)
                while lo < hi and rejected[lo]:
                    lo += 1
                while hi > lo and rejected[hi - 1]:
                    hi -= 1
                rejected = [not lo <= i < hi for i in range(len(boxes))]
            elif p.reject_mode == "ignore":
                rejected = [False] * len(boxes)
            keep = [i for i in range(len(boxes)) if not rejected[i]]
            dropped = len(boxes) - len(keep)
            boxes = [boxes[i] for i in keep]
            probs = probs[keep][:, real]
            classes = "".join(classes[i] for i in real)
        else:
            dropped = 0
        n = len(boxes)
        best = None
        trim_a, trim_b = h.trim if h.trim is not None else (p.max_trim, p.max_trim)
        for a in range(0, min(trim_a, n) + 1):
            for b in range(0, min(trim_b, n) + 1):
                if n - a - b < p.min_chars:
                    continue
                reading = decode(probs[a : n - b], classes, self.region, p, line_ratio(boxes[a : n - b]))
                reading.confidence *= line_factor(boxes[a : n - b], p) * p.reject_factor ** dropped
                key = reading.confidence + p.rank_per_char * min(n - a - b, 7) - p.trim_cost * (a + b)
                if best is None or key > best[0]:
                    best = (key, reading, a, b)
        if best is None:
            h.reading = None
            return
        _, h.reading, a, b = best
        h.seg = replace(h.seg, boxes=boxes[a : n - b])

    def apply_height_prior(self, hyps: list[Hypothesis]) -> None:
        """Lower the confidence of lines whose characters' heights vary (`uneven_height_penalty`): a
        plate's characters share one height, while a frame piece or a screw taken for an outer character,
        or characters cut at different rows, do not. Applied once every stage has run, so it ranks the
        reads without changing which frames the later stages look at again."""
        for h in hyps:
            assert h.reading is not None
            h.reading.confidence *= max(0.0, 1.0 - self.params.uneven_height_penalty * height_spread(h.seg.boxes))

    def apply_size_prior(self, hyps: list[Hypothesis]) -> None:
        """Lower the confidence of lines much smaller than the frame's largest: small print on a plate
        (city names, slogans) and far-away plates read less reliably than the main plate."""
        if not hyps:
            return
        heights = [h.frame_char_height() for h in hyps]
        top = max(heights)
        for h, ch in zip(hyps, heights):
            assert h.reading is not None
            h.reading.confidence *= 1.0 - self.params.size_prior_weight * (1.0 - ch / top)

    def apply_overlay_prior(self, hyps: list[Hypothesis], shape: tuple[int, ...]) -> None:
        """Lower the confidence of lines inside the frame's top or bottom strip: camera overlays
        (date, time, camera name) live there, plates hardly ever do."""
        strip = self.params.overlay_strip_frac * shape[0]
        for h in hyps:
            assert h.reading is not None
            _, y, _, bh = h.frame_box(self.params)
            if y + bh <= strip or y >= shape[0] - strip:
                h.reading.confidence *= self.params.overlay_factor

    def read_hypotheses(self, gray: np.ndarray, image: np.ndarray, cands: list[Candidate],
                        unread: list | None = None, methods: tuple[str, ...] | None = None) -> list[Hypothesis]:
        """Hypotheses of the candidates `cands` that read as a line, before priors; those that did
        not are appended to `unread` when given."""
        return self.read_lines(self.hypotheses(gray, cands, methods), image, unread)

    def read_lines(self, hyps: list[Hypothesis], image: np.ndarray, unread: list | None = None
                   ) -> list[Hypothesis]:
        """`hyps` without their outer suspects, read by the CNN; those that read as a line (the rest are
        appended to `unread` when given), with the overlay prior applied at once: a confident camera
        timestamp must not stop the later stages from looking for the plate."""
        hyps = [self.drop_outer_suspects(h, image) for h in hyps]
        self.recognize(hyps)
        if unread is not None:
            unread.extend(h for h in hyps if h.reading is None)
        read = [h for h in hyps if h.reading is not None]
        self.apply_overlay_prior(read, image.shape)
        return read

    def resegmented(self, hyps: list[Hypothesis]) -> list[Hypothesis]:
        """The most character-like lines with their wide blobs cut where the CNN reads the pieces best
        (`resegment`): touching characters come apart. Only lines that changed are returned."""
        p = self.params
        out: list[Hypothesis] = []
        seen: set[tuple[int, bool]] = set()
        for h in sorted(hyps, key=lambda h: -h.seg.score):
            key = (id(h.crop), h.seg.ink_dark)
            if key in seen or h.seg.binary is None:
                continue
            seen.add(key)
            boxes = resegment(h.crop.gray, h.seg.binary, list(h.seg.boxes), h.seg.ink_dark,
                              self.read_chars, self.classifier.classes, p, self.classifier_input_size())
            if boxes is not None and boxes != list(h.seg.boxes):
                out.append(Hypothesis(h.candidate, h.crop, replace(h.seg, boxes=boxes)))
            if len(seen) >= p.reseg_lines:
                break
        return out

    def read_chars(self, chars: np.ndarray) -> np.ndarray:
        """The CNN's probabilities for normalized character crops (N, C)."""
        if len(chars) == 0:
            return np.zeros((0, len(self.classifier.classes)), np.float32)
        return self.classifier.classify(chars)[1]

    # -- the whole frame ----------------------------------------------------------------------
    def read(self, image: np.ndarray, debug_dir: Path | None = None) -> list[PlateRead]:
        """Plates in `image` (BGR or gray uint8), best first."""
        p = self.params
        trace: dict | None = {} if debug_dir is not None else None
        hyps = self.line_reads(image, trace)
        reads: list[PlateRead] = []
        kept: list[Hypothesis] = []

        def taken(box: tuple[int, int, int, int]) -> bool:
            return any(iou(box, r.box) > 0.0 for r in reads)

        for i, h in enumerate(hyps):
            assert h.reading is not None
            if h.reading.confidence < p.min_confidence:
                break  # sorted: the rest are lower still
            box = h.frame_box(p)
            if taken(box):
                continue
            # a read of this place that has a character this one lost goes in its stead
            other = self.missed_char_read(h, box, hyps[i + 1 :])
            if other is not None and other.reading.confidence >= p.min_confidence:
                other_box = other.frame_box(p)
                if not taken(other_box):
                    h, box = other, other_box
            reads.append(PlateRead(h.reading.text, round(h.reading.confidence, 4), box,
                                   [round(c, 4) for c in h.reading.char_confidences]))
            kept.append(h)
            if len(reads) >= p.max_plates:
                break
        reads.sort(key=lambda r: -r.confidence)
        if debug_dir is not None:
            from .debug import write_debug

            write_debug(Path(debug_dir), image, trace or {}, kept, p)
        return reads

    def missed_char_read(self, best: Hypothesis, box: tuple[int, int, int, int], later: list[Hypothesis]
                         ) -> Hypothesis | None:
        """The first of `later` (the reads after `best`, best first) that overlaps `best`'s frame `box`
        and is its text with one more character inside it, read surely and at the line's usual spacing
        (`missed_char_inside`), with at least `missed_char_ratio` of its confidence: `read` reports it
        in `best`'s stead, with its own confidence. None without one (or with the ratio 0: off)."""
        p = self.params
        if p.missed_char_ratio <= 0:
            return None
        for other in later:
            if other.reading.confidence < p.missed_char_ratio * best.reading.confidence:
                break
            if (iou(other.frame_box(p), box) > 0.0
                    and missed_char_inside(best.reading, other.reading, other.seg.boxes, p.missed_char_gap)):
                return other
        return None

    def line_reads(self, image: np.ndarray, trace: dict | None = None) -> list[Hypothesis]:
        """Every line of `image` the CNN read, priors applied, best first: all the stages before
        overlapping reads of one plate collapse to the best (`read`). `trace` collects debug images."""
        if image is None or image.size == 0 or image.ndim not in (2, 3):
            raise ValueError("reading needs a non-empty 2-D gray or 3-D BGR uint8 image")
        p = self.params
        gray = to_gray(image)
        unread: list[Hypothesis] = []
        cands = find_candidates(gray, p, trace)
        if trace is not None:
            trace["candidates"] = cands
        hyps = self.read_hypotheses(gray, image, cands, unread=unread)
        for method in p.second_look_methods if p.second_look_candidates else ():
            if best_confidence(hyps) >= p.second_look_trigger:
                break
            # faint characters, characters pressed against a frame, a dark plate: the best candidates
            # once more, binarized another way
            for h in self.read_hypotheses(gray, image, cands[: p.second_look_candidates], unread=unread,
                                          methods=(method,)):
                h.reading.confidence *= p.second_look_factor
                hyps.append(h)
        if p.textline_enabled and best_confidence(hyps) < p.textline_trigger:
            # no confident read from the edge candidates: try rows of character-like components
            seen = [h.candidate.box for h in hyps]
            extra = [c for c in text_line_candidates(gray, p)
                     if all(iou(c.box, b) < p.textline_novel_iou for b in seen)]
            if extra:
                hyps += self.read_hypotheses(gray, image, extra, unread=unread)
        if p.band_candidates and best_confidence(hyps) < p.band_trigger:
            # a plate in a dark frame pressed against its characters: the best candidates once more,
            # with the frame's rows cleared
            hyps += self.read_hypotheses(gray, image, cands[: p.band_candidates], unread=unread,
                                         methods=("band",))
        if p.sauvola_candidates and best_confidence(hyps) < p.sauvola_trigger:
            # a dark, blurred or small plate whose strokes the fixed-margin threshold lost: the best
            # candidates once more, with a margin below the local mean that follows its brightness and contrast
            hyps += self.read_hypotheses(gray, image, cands[: p.sauvola_candidates], unread=unread,
                                         methods=("sauvola",))
        if p.reseg_enabled and best_confidence(hyps) < p.reseg_trigger:
            # still nothing confident: cut the best lines again by what the CNN reads in them
            for h in self.read_lines(self.resegmented(hyps + unread), image):
                h.reading.confidence *= p.reseg_factor
                hyps.append(h)
        self.apply_height_prior(hyps)
        self.apply_size_prior(hyps)
        hyps.sort(key=lambda h: -h.reading.confidence)
        return hyps
