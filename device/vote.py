"""From a burst of per-frame reads to at most one logged read per car.

A car passing a PIR sensor is seen in several frames; single frames misread characters now and
then. Voting across the burst (most frames agreeing, then best confidence) gives one read per car
and the number of frames that agreed. Known plates snap near-misses to the listed plate, and a
repeat window stops one car parked in view from filling the log.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from anpr.evaluate import edit_distance  # Levenshtein, shared with the library's evaluation
from device.config import KnownPlatesConfig, RecognitionConfig


@dataclass(frozen=True)
class Candidate:
    """One plate read in one frame of the burst."""

    frame_index: int
    text: str
    confidence: float
    box: tuple[int, int, int, int]


@dataclass
class VotedRead:
    """The burst's verdict: what the store and the journal record."""

    plate: str
    confidence: float  # the best confidence among the frames that agreed
    frames_agreed: int
    frames_total: int
    box: tuple[int, int, int, int]  # from the best frame
    frame_index: int  # the best frame, for the snapshot
    label: str | None = None  # from the known-plates list
    raw_texts: list[str] = field(default_factory=list)


class KnownPlates:
    def __init__(self, config: KnownPlatesConfig) -> None:
        self.plates = dict(config.plates)
        self.max_distance = config.max_distance
        self.only_known = config.only_known

    def match(self, text: str) -> tuple[str, str | None] | None:
        """(plate, label) for the nearest known plate within max_distance; (text, None) if unlisted;
        None when only known plates are wanted and this is not one."""
        if text in self.plates:
            return text, self.plates[text]
        best = None
        for plate in self.plates:
            d = edit_distance(text, plate)
            if d <= self.max_distance and (best is None or d < best[0]):
                best = (d, plate)
        if best is not None:
            return best[1], self.plates[best[1]]
        return None if self.only_known else (text, None)


def vote(
    candidates: list[Candidate], frames_total: int, recognition: RecognitionConfig, known: KnownPlates
) -> VotedRead | None:
    """One read for the burst, or None when nothing passes min_confidence/min_frames/known plates."""
    groups: dict[str, list[Candidate]] = {}
    for cand in candidates:
        if not cand.text or cand.confidence < recognition.min_confidence:
            continue
        matched = known.match(cand.text)
        if matched is None:
            continue
        group = groups.setdefault(matched[0], [])
        # A frame counts once per plate even if the reader found the plate twice in it.
        if any(c.frame_index == cand.frame_index for c in group):
            continue
        group.append(cand)
    if not groups:
        return None
    plate, group = max(groups.items(), key=lambda kv: (len(kv[1]), max(c.confidence for c in kv[1])))
    if len(group) < recognition.min_frames:
        return None
    best = max(group, key=lambda c: c.confidence)
    return VotedRead(
        plate=plate,
        confidence=best.confidence,
        frames_agreed=len(group),
        frames_total=frames_total,
        box=best.box,
        frame_index=best.frame_index,
        label=known.plates.get(plate),  # what match() gave: the listed plate's label, None if unlisted
        raw_texts=[c.text for c in group],
    )


class RepeatFilter:
    """Drop a plate seen again within `window_s` of its last sighting (the window slides while it stays)."""

    def __init__(self, window_s: float, clock=time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._last_seen: dict[str, float] = {}

    def is_repeat(self, plate: str) -> bool:
        now = self._clock()
        last = self._last_seen.get(plate)
        self._last_seen[plate] = now
        if len(self._last_seen) > 10_000:  # forget plates whose window is long over
            self._last_seen = {p: t for p, t in self._last_seen.items() if now - t < self.window_s}
        return last is not None and now - last < self.window_s
