"""Every threshold of the recognition pipeline, named, with its default, in one place.

`Params` is a frozen dataclass; `Params.from_dict` builds one from a mapping (e.g. a TOML table) and
rejects unknown keys and out-of-range values with a message that names the key, so a typo in a
configuration file fails loudly instead of silently using a default.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

# Images above this many pixels are refused before decoding (a 20000x20000 photo would need 1.2 GB).
DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Params:
    """Tunable figures of localization, rectification, segmentation and recognition."""

    # --- localization (working resolution: the frame is shrunk so its longer side is at most this)
    work_max_side: int = 896
    # the frame's longer side is first raised to at least this (small photos: plates of ~70 px)
    work_min_side: int = 640
    # vertical-edge map: Sobel x magnitude thresholded at mean + k * std of the frame
    edge_k_std: float = 1.5
    # morphological closing kernels (width, height) at working resolution; each one is a pass
    close_kernels: tuple[tuple[int, int], ...] = ((5, 3), (9, 3), (17, 5), (31, 7))
    # candidate region size at working resolution, in pixels
    cand_min_height: int = 8
    cand_max_height_frac: float = 0.35
    cand_min_width: int = 24
    # plate aspect ratio (width / height) of a candidate region
    cand_min_aspect: float = 1.4
    cand_max_aspect: float = 9.0
    # fraction of the candidate's box that the closed edge blob must fill
    cand_min_fill: float = 0.35
    # at most this many candidates (best edge evidence first) go on to segmentation
    max_candidates: int = 8
    # two candidates overlapping more than this (IoU) count as one
    cand_nms_iou: float = 0.5

    # --- rectification
    # margin added around a candidate before warping (fraction of its width / height)
    rect_margin_x: float = 0.3
    rect_margin_y: float = 0.3
    # height in pixels of the rectified crop handed to segmentation
    rect_height: int = 72
    # the CNN's character crops of a plate enlarged at least char_cubic_from times to rect_height are cut
    # from a second, bicubic warp: sharper strokes on small plates (segmentation keeps the bilinear warp
    # its thresholds are tuned to; bicubic for both lost dev plates) (0: off)
    char_cubic_from: float = 2.0
    # residual tilt (degrees) measured on the characters is undone up to this angle
    deskew_max_deg: float = 25.0
    # on re-warping around the characters: they fill this fraction of the crop height, the view
    # extends this many character heights beyond the outer ones, and the new segmentation is kept
    # unless its score falls more than the slack below the first one
    refine_char_height_frac: float = 0.45
    refine_pad_x: float = 1.5
    refine_score_slack: float = 0.5
    # on the re-warped crop, ink farther than refine_band_height / 2 character heights above or below
    # the line's centre is cleared (0: keep all): frames and slogans touching the characters
    refine_band_height: float = 1.6
    # re-warping repeats (up to this many times in all) while the line keeps gaining characters and
    # its outer characters come closer than refine_edge_frac character heights to the crop's sides
    refine_rounds: int = 3
    refine_edge_frac: float = 1.2
    # reported plate box: the characters' span widened by these many character heights
    plate_margin_x: float = 0.35
    plate_margin_y: float = 0.25

    # --- segmentation
    # binarizations tried on a candidate's first crop and on the crops re-warped around a line
    first_pass_methods: tuple[str, ...] = ("adaptive",)
    refine_methods: tuple[str, ...] = ("adaptive", "otsu")
    # first-pass rescue: the crop of one of the best rescue_candidates candidates (0: off) that gives no
    # line in either polarity is binarized again by rescue_methods ("fine": adaptive over a block of
    # fine_block_frac of the crop height, so characters come apart from a frame or slogan pressed
    # against them; "closed": Otsu with gaps up to closed_gap_frac of the crop height closed
    # vertically, so faint thin strokes broken into pieces join); such lines score
    # rescue_score_penalty lower, so lines found directly go first, and their re-warp also tries the
    # method that found them
    rescue_candidates: int = 2
    rescue_methods: tuple[str, ...] = ("fine", "closed")
    fine_block_frac: float = 0.15
    closed_gap_frac: float = 0.04
    rescue_score_penalty: float = 3.0
    # at most this many first-pass lines (most characters first) are re-warped and read
    max_refine: int = 8
    # adaptive-threshold block (fraction of crop height, made odd) and offset
    adaptive_block_frac: float = 0.45
    adaptive_c: float = 10.0
    # ink runs longer than these fractions of the crop's width / height are frame lines, not strokes
    line_min_width_frac: float = 0.3
    line_min_height_frac: float = 0.75
    # ... or, on a crop re-warped around a line of known character height, longer than this many heights
    line_char_height_ratio: float = 1.2
    # character blob size relative to the rectified crop height
    char_min_height_frac: float = 0.14
    char_max_height_frac: float = 0.95
    # character width / height
    char_min_aspect: float = 0.08
    char_max_aspect: float = 1.2  # = split_min_aspect: wider blobs are split, narrower ones kept whole
    # fraction of its box a character's ink fills
    char_min_fill: float = 0.15
    char_max_fill: float = 0.92
    # blobs of one plate line agree in height, top and bottom within these fractions of their height
    group_height_tol: float = 0.15
    group_align_tol: float = 0.15
    # largest gap between neighbouring characters, in character heights
    group_max_gap: float = 1.6
    # character counts a plate line may have
    min_chars: int = 4
    max_chars: int = 9
    # a blob wider than this (in character heights) is split at its thinnest column
    split_min_aspect: float = 1.2
    # ... unless it is wider than this (in character heights): then it is no characters at all
    split_max_aspect: float = 3.5
    # ... and only at a column whose ink is at most this fraction of the blob's height (a neck)
    split_neck_frac: float = 0.25
    # a gap inside a line between gap_min_width and gap_max_width median character widths whose ink
    # spans at least gap_min_height of the line's height may be a character broken into pieces: the
    # line is read with and without it. Up to 3 widths: a character beside the space between a
    # plate's two groups (US ABC 123, a state emblem between them) leaves a gap of about 2.5 widths
    gap_min_width: float = 0.6
    gap_max_width: float = 3.0
    gap_min_height: float = 0.8
    # likewise at the line's ends: ink one character pitch beyond an outer character, within
    # end_half_width median character widths of where its centre would be (window at least
    # end_min_width widths wide), makes a second reading with it (extend_line_ends)
    extend_line_ends: bool = True
    end_half_width: float = 0.6
    end_min_width: float = 0.5
    end_min_char_width: float = 0.6
    # an outer box narrower than narrow_end_frac of the line's usual character width (the
    # narrow_end_width_quantile of the widths of boxes at least widen_min_aspect wide), no farther
    # from its neighbour than narrow_end_max_gap median gaps, is also read widened outward to that
    # width: a U left as its right stem by the frame beside it; likewise the character just inside a
    # thin outer bar (widen_narrow_ends; a border bar, as drop_outer_suspects sees one, is not widened)
    widen_narrow_ends: bool = True
    narrow_end_frac: float = 0.6
    narrow_end_width_quantile: float = 0.75
    narrow_end_max_gap: float = 2.0
    # two neighbouring boxes at most merge_max_gap character heights apart, one of them narrower than
    # merge_thin_frac of the line's usual character width (as widen_narrow_ends measures it), together
    # at most merge_max_width usual widths wide, may be one character come apart in two: the line is
    # also read with them as one box (merge_split_chars; an M or W split at a thin diagonal, an R or U
    # at a faint joint, read as II, IJ or 11)
    merge_split_chars: bool = True
    merge_max_gap: float = 0.1
    merge_thin_frac: float = 0.6
    merge_max_width: float = 1.4
    # a box at least trim_wide usual widths wide is cut at its thinnest column (at least trim_cut_margin
    # of its width from either side); when one piece's ink is shorter than trim_short character heights
    # and the other's at least trim_tall and narrower than trim_wide usual widths, the line is also read
    # with the tall piece alone (trim_short_pieces: a state emblem, a screw or a frame piece joined to a
    # character); every version of a line is offered so (filled, widened, extended, merged)
    trim_short_pieces: bool = True
    trim_wide: float = 1.2
    trim_cut_margin: float = 0.2
    trim_short: float = 0.8
    trim_tall: float = 0.85
    # paddings around a character crop (fractions of its height); the CNN reads every character once
    # per padding and the probabilities are averaged (more than one: a cheap test-time ensemble)
    char_pad_fracs: tuple[float, ...] = (0.04,)
    # the CNN sees only a character's own ink: pixels farther than char_mask_dilate of its height from
    # the box's binary ink are set to the crop's background (0: off; segment.masked_char_crop), and the
    # ink box that normalize_char frames is where the stretched crop exceeds char_ink_threshold (the
    # training crops use charcrop.INK_THRESHOLD, 0.5; with the shading masked away, a lower one keeps
    # a blurred P's thin stem, which alone would leave its bowl to read as a D)
    char_mask_dilate: float = 0.15
    char_ink_threshold: float = 0.4
    # each character is cropped over the rows the line's characters share (at least): a character
    # broken in the binary image is read whole
    crop_full_height: bool = True
    full_height_below: float = 0.9  # ... when its box is shorter than this fraction of the line
    # a line whose characters (those at least widen_min_aspect wide: no bars) have a median width /
    # height below widen_to_aspect is a condensed font: all its character crops are stretched
    # horizontally to that median, by at most widen_max_factor (widen_to_aspect 0: off)
    widen_min_aspect: float = 0.3
    widen_to_aspect: float = 0.6
    widen_max_factor: float = 1.6
    # "replace": only the stretched crops are read; "average": both views, probabilities averaged
    widen_mode: str = "average"

    # outer blobs dropped before reading: bluer than the line's median by this much (EU band); farther
    # from the next blob than isolated_gap_ratio median gaps and isolated_min_gap of its own height
    # while narrower than isolated_max_aspect (a band, a logo; not the F of a German "F WE 50"); or
    # thinner than border_bar_aspect and closer than border_bar_gap_ratio median gaps (the border)
    band_blue_margin: float = 25.0
    isolated_gap_ratio: float = 4.0
    isolated_min_gap: float = 0.6
    isolated_max_aspect: float = 0.35
    border_bar_aspect: float = 0.3
    border_bar_gap_ratio: float = 0.5

    # --- second candidate cue (textlines.py): rows of character-like components (min_chars to max_chars
    # of them, as a plate line), used only when the edge candidates gave no read at least
    # textline_trigger confident
    textline_enabled: bool = True
    textline_trigger: float = 0.7  # 0.7-0.8 measure the same; 1.0 (always) costs ~10 ms a frame
    textline_block: int = 15  # adaptive threshold block (odd, working pixels)
    textline_c: int = 7
    textline_min_char_h: int = 7
    textline_max_char_h: int = 60
    textline_min_aspect: float = 0.12  # blob width / height
    textline_max_aspect: float = 1.0
    textline_min_fill: float = 0.15
    textline_max_fill: float = 0.9
    textline_height_ratio: float = 1.3
    textline_max_dy: float = 0.35  # centre offset between neighbours, in character heights
    textline_max_gap: float = 1.0  # horizontal gap between neighbours, in character heights
    textline_gap_std: float = 0.5  # spread of the gaps, in character heights
    textline_pad_x: float = 1.0  # extra width, in character heights
    textline_height_frac: float = 1.6  # candidate height, in character heights
    textline_max_candidates: int = 4
    # a row overlapping an edge candidate more than this adds nothing new (0.7 to 1.0 measure the same;
    # lower drops rows that cut a plate more tightly than the edge blob that failed on it)
    textline_novel_iou: float = 0.7

    # --- a second look at unsure frames: when no read of the edge candidates is at least
    # second_look_trigger confident, the second_look_candidates best of them are segmented again by
    # each of second_look_methods in turn, while the frame stays unsure: "fine" (adaptive over a small
    # block: characters part from a frame pressed against them, faint strokes stay whole) and "clahe"
    # (adaptive after a local contrast equalization, clahe_clip over clahe_tiles_x x clahe_tiles_y
    # tiles: a dark or washed-out plate). Their reads keep second_look_factor of their confidence, so
    # a line read directly wins a tie (second_look_candidates 0: off). Only unsure frames pay for it:
    # the 1080p median does not move
    second_look_methods: tuple[str, ...] = ("fine", "clahe")
    second_look_candidates: int = 2
    second_look_trigger: float = 0.7
    second_look_factor: float = 0.8
    clahe_clip: float = 2.0
    clahe_tiles_x: int = 4
    clahe_tiles_y: int = 2

    # --- a plate in a dark frame: when no read is at least band_trigger confident, the band_candidates
    # best edge candidates are segmented again with the "band" binarization (adaptive, then the rows
    # whose ink covers at least band_row_fill of the crop's middle half are cleared: the frame's bars
    # and a dealer's name pressed against the characters from above or below) (band_candidates 0: off;
    # 2 read no more dev plates than 1 and cost 2 ms of the 1080p median)
    band_candidates: int = 1
    band_trigger: float = 0.7
    band_row_fill: float = 0.75

    # --- a late look: when still no read is at least sauvola_trigger confident, the sauvola_candidates
    # best edge candidates are segmented again with Sauvola's threshold (segment.sauvola over the
    # adaptive block: ink darker than mean * (1 + sauvola_k * (std / sauvola_range - 1)), a margin wide
    # in flat regions, narrow around strokes and smaller in dark regions): lines of dark, blurred or
    # shaded plates that `adaptive`'s one margin breaks or merges. On the dev photos and their four
    # changed copies: 890 -> 902 of 1185 reads (0.9: 910, always: 914, at +2.7 and +12 ms of the 1080p
    # median; as a first-pass method: 886); at 0.7 the median does not move (sauvola_candidates 0: off)
    sauvola_candidates: int = 8
    sauvola_trigger: float = 0.7
    sauvola_k: float = 0.35
    sauvola_range: float = 128.0

    # --- segmentation by recognition (resegment.py), used only when no read is at least reseg_trigger
    # confident: in the reseg_lines most character-like lines, blobs at least reseg_wide character
    # heights wide (touching characters) are cut into up to reseg_max_pieces where the CNN reads best
    reseg_enabled: bool = True
    reseg_trigger: float = 0.7
    reseg_lines: int = 4
    reseg_wide: float = 0.85
    reseg_wide_ratio: float = 1.6  # ... or this many times the width of the line's single characters
    reseg_max_pieces: int = 3
    reseg_smooth: float = 0.08  # the column ink profile is smoothed over this many character heights
    reseg_valley_window: float = 0.15  # a cut: the profile's lowest point within this many character
    reseg_valley_depth: float = 0.8  # heights, below this fraction of the window's highest
    reseg_min_width: float = 0.2  # narrowest piece, in character heights
    reseg_min_height: float = 0.6  # a piece's ink spans at least this much of the character height
    reseg_thin_width: float = 0.25  # the line's characters at least this wide and narrower than
    # reseg_wide give the width a piece should have (reseg_default_width character heights without them)
    reseg_default_width: float = 0.5
    reseg_char_bonus: float = 0.3  # score per piece, added to its log probability; a piece pays
    reseg_width_cost: float = 1.5  # this times |ln(width / expected width)| (a merged pair ~0.7 of it)
    reseg_factor: float = 0.9  # confidence factor of a line cut this way (the direct cutting goes first)

    # --- recognition and ranking
    # plate confidence from character probabilities: "geo" (geometric mean) or "min"
    confidence_mode: str = "geo"
    # a plate read is reported when its confidence is at least this (on the dev photos every correct
    # top read had 0.48 or more, while a third of the wrong ones fell below 0.4)
    min_confidence: float = 0.3
    # at most this many plates per frame
    max_plates: int = 4
    # region format rescoring: a confusable alternative replaces the CNN's choice when the format
    # wants it and its probability is at least this fraction of the CNN's top probability (0: the
    # format always decides within a look-alike pair; formats compete on the probabilities they keep)
    format_swap_ratio: float = 0.0
    # ... but a format may cost the CNN's reading at most this much in all (nats: the log of the
    # probability ratio, summed over the characters it swaps; 8 = a factor of about 3000): beyond
    # that the CNN read something no format has (a sign, a vanity plate) and keeps its characters
    format_max_cost: float = 8.0
    # the CNN's probability of a character the line's region hardly ever issues (regions.RARE_CHARS: a
    # US Q) is multiplied by this before decoding (1: off): a C or O read as a Q then reads as what
    # the CNN gave its second thought, while a sure Q stays a Q
    rare_char_factor: float = 0.1
    # confidence factor of a character the format swapped within its look-alike pair (1: none): a
    # read that fits the format as the CNN read it beats one that fits only after swaps (a junk
    # outer blob plus all but one true character, shifted into the format by O/0, S/5 swaps)
    swap_factor: float = 0.9
    # a character outside the look-alike pairs (4 read as A, T as 7) is swapped to the best character of
    # the kind the format wants when the CNN gives that one at least this fraction of its top probability
    # (above 1: only the pairs); such a swap costs other_swap_factor on top of swap_factor, so a read that fits
    # as read, or by the pairs, still wins
    other_swap_ratio: float = 0.2
    other_swap_factor: float = 0.6
    # confidence multiplier for a reading that fits none of the region's formats; under region auto a
    # read fitting only some regions' formats gets the penalty in part, by how unlikely those regions
    # are for the line (a 4-character German layout does not save a fragment of a US plate)
    format_miss_penalty: float = 0.7
    # region auto: a line spanning fewer than this many character heights is likely a US plate (its
    # condensed 6-7 characters span 3-4 heights, European and Brazilian lines 5-6; logistic spread
    # auto_ratio_width), which weighs the US formats against the others (regions.region_weights)
    auto_us_line_ratio: float = 4.5
    auto_ratio_width: float = 0.3
    # choosing among reads of one line with and without outer characters: a gain per character
    # (prefers the whole plate over a fragment) and a cost per dropped character; at most max_trim
    # characters are dropped on each side
    rank_per_char: float = 0.08
    max_trim: int = 1
    trim_cost: float = 0.06
    # a read of the same place as a plate's best read (overlapping it) that is that text with one more
    # character inside it (not at an end) is reported in its stead when its confidence is at least
    # missed_char_ratio of the best read's (0: off), that character is read at least as surely as the
    # best read, and the gaps on either side of it are at most missed_char_gap times the median of the
    # line's other gaps: a line that lost a faint or broken character reads the rest the same and wins
    # on its surer average, while a seal, emblem or sticker read as a character stands in the wide gap
    # between the plate's groups or reads unsure
    missed_char_ratio: float = 0.8
    missed_char_gap: float = 1.5
    # confidence factor per blob the CNN rejects as no character (models with a `#` class)
    reject_factor: float = 0.95
    # confidence of a line whose characters are k times the height of the frame's largest line's is
    # multiplied by 1 - size_prior_weight * (1 - k)
    size_prior_weight: float = 0.3
    # lines entirely within the top or bottom overlay_strip_frac of the frame (camera overlays: date,
    # time) have their confidence multiplied by overlay_factor
    overlay_strip_frac: float = 0.06
    overlay_factor: float = 0.5
    # which rejected blobs are dropped: "all", "ends" (only outer runs), "ignore" (none). "ends": a blob
    # inside a line that matches its characters' height and place is a character even when the CNN's
    # reject class wins (blurred 8s and 0s between two characters); borders, screws and bands are outer
    reject_mode: str = "ends"
    # a blob whose ink contrast (the 5-95 % spread of its gray box) is below faint_char_ratio of the
    # line's median counts as rejected too, with or without a `#` class: the crop normalization
    # stretches any contrast, so a patch of plate texture or rim beside the characters reads as a
    # confident 1 or I and shifts the read by one place (0: off)
    faint_char_ratio: float = 0.25
    # a line whose share of thin blobs (width < thin_char_aspect * height) exceeds the allowance has
    # its confidence multiplied by 1 - excess * thin_line_penalty (grilles read as IIII1111)
    thin_char_aspect: float = 0.3
    thin_line_allowance: float = 0.35
    thin_line_penalty: float = 1.0
    # once every stage has run, a line's confidence is multiplied by 1 - uneven_height_penalty * the
    # coefficient of variation of its characters' heights (0: off): a plate's characters share one
    # height, while a border piece or a screw taken for an outer character, or characters cut at
    # different rows, vary. Among reads of one plate the evener line wins a near tie (PGM335N with a
    # frame piece for its N against 6PGM335)
    uneven_height_penalty: float = 2.5

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> "Params":
        """Build from a mapping, refusing unknown keys and out-of-range values."""
        if not values:
            return cls()
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown pipeline parameter(s) {unknown}; known: {sorted(known)}")
        defaults = cls()
        coerced: dict[str, Any] = {}
        for key, value in values.items():
            default = getattr(defaults, key)
            if isinstance(default, tuple) and default and isinstance(default[0], str):
                coerced[key] = tuple(str(v) for v in value)
            elif isinstance(default, tuple) and default and isinstance(default[0], float):
                coerced[key] = tuple(float(v) for v in value)
            elif isinstance(default, tuple):
                coerced[key] = tuple(tuple(int(v) for v in pair) for pair in value)
            elif isinstance(default, bool) or not isinstance(default, (int, float)):
                coerced[key] = value
            elif isinstance(default, int):
                if isinstance(value, bool) or int(value) != value:
                    raise ValueError(f"pipeline parameter {key}={value!r} must be an integer")
                coerced[key] = int(value)
            else:
                coerced[key] = float(value)
        return replace(defaults, **coerced)  # __post_init__ validates the result

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range value."""
        for key, value in asdict(self).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"pipeline parameter {key}={value} must not be negative")
        if not 0 < self.work_min_side <= self.work_max_side:
            raise ValueError(f"need 0 < work_min_side ({self.work_min_side}) <= work_max_side ({self.work_max_side})")
        # the binarizations each stage may use (segment.binarize); only the second look may have none
        for key, allowed, may_be_empty in (
                ("first_pass_methods", ("adaptive", "otsu"), False),
                ("refine_methods", ("adaptive", "otsu"), False),
                ("rescue_methods", ("fine", "closed", "otsu", "adaptive"), False),
                ("second_look_methods", ("fine", "closed", "clahe", "sauvola", "otsu", "adaptive"), True)):
            methods = getattr(self, key)
            if (not methods and not may_be_empty) or any(m not in allowed for m in methods):
                names = ", ".join(repr(m) for m in allowed[:-1])
                raise ValueError(f"{key}={methods!r}: use {names} and/or {allowed[-1]!r}")
        if not 0 < self.sauvola_k < 1 or self.sauvola_range <= 0:
            raise ValueError(f"sauvola_k={self.sauvola_k}, sauvola_range={self.sauvola_range}: need 0 < sauvola_k < 1 "
                             "and a positive range (128 for 8-bit gray)")
        if self.clahe_clip <= 0 or self.clahe_tiles_x < 1 or self.clahe_tiles_y < 1:
            raise ValueError(f"clahe_clip={self.clahe_clip}, clahe_tiles_x={self.clahe_tiles_x}, "
                             f"clahe_tiles_y={self.clahe_tiles_y}: need a positive clip and at least one tile each way")
        if not self.char_pad_fracs:
            raise ValueError("char_pad_fracs needs at least one padding")
        if self.reject_mode not in ("all", "ends", "ignore"):
            raise ValueError(f"reject_mode={self.reject_mode!r}: use 'all', 'ends' or 'ignore'")
        if self.widen_mode not in ("replace", "average"):
            raise ValueError(f"widen_mode={self.widen_mode!r}: use 'replace' or 'average'")
        if self.faint_char_ratio >= 1.0:
            raise ValueError(f"faint_char_ratio={self.faint_char_ratio} must be below 1 (0: off)")
        if self.trim_cut_margin >= 0.5:
            raise ValueError(f"trim_cut_margin={self.trim_cut_margin} must be below 0.5 (a cut inside the box)")
        for key in ("band_row_fill", "narrow_end_width_quantile"):
            if not 0 < getattr(self, key) <= 1.0:
                raise ValueError(f"{key}={getattr(self, key)} must be in (0, 1]")
        if not 0 < self.char_ink_threshold < 1:
            raise ValueError(f"char_ink_threshold={self.char_ink_threshold} must be between 0 and 1 (exclusive)")
        for key in ("swap_factor", "other_swap_factor", "rare_char_factor", "second_look_factor", "missed_char_ratio"):
            if getattr(self, key) > 1.0:
                raise ValueError(f"{key}={getattr(self, key)} must be at most 1")
        if self.auto_ratio_width <= 0:
            raise ValueError(f"auto_ratio_width={self.auto_ratio_width} must be positive")
        if self.widen_max_factor < 1.0:
            raise ValueError(f"widen_max_factor={self.widen_max_factor} must be at least 1")
        if self.confidence_mode not in ("geo", "min"):
            raise ValueError(f"confidence_mode={self.confidence_mode!r}: use 'geo' or 'min'")
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) exceeds max_chars ({self.max_chars})")
        if self.char_max_aspect < self.split_min_aspect:
            raise ValueError(f"char_max_aspect ({self.char_max_aspect}) must be at least split_min_aspect "
                             f"({self.split_min_aspect}), or blobs between the two are lost")
        if self.textline_block < 3 or self.textline_block % 2 == 0:
            raise ValueError(f"textline_block={self.textline_block} must be odd and at least 3")
        if self.rect_height < 24:
            raise ValueError(f"rect_height={self.rect_height} is too small to segment (use 24 or more)")
        for kw, kh in self.close_kernels:
            if kw < 1 or kh < 1:
                raise ValueError(f"close_kernels entry ({kw}, {kh}) must be positive")

    def __post_init__(self) -> None:
        self.validate()
