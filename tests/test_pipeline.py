"""The whole pipeline: contract 4 (PlateRead, PlateReader) and accuracy on a fixed dev subset."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from anpr.classify import CharClassifier
from anpr.localize import find_candidates, to_gray
from anpr.params import Params
from anpr.pipeline import PlateRead, PlateReader, best_confidence
from tests.pipeline_data import dev_photos
from tests.pipeline_models import default_model_or_skip, random_weights_file


class CountingClassifier:
    """Wraps a classifier and counts the batches it is asked for (swappability check)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.classes, self.sha256, self.engine = inner.classes, inner.sha256, inner.engine

    def classify(self, chars):
        self.calls += 1
        return self.inner.classify(chars)


@pytest.fixture(scope="module")
def random_classifier(tmp_path_factory):
    return CharClassifier(random_weights_file(tmp_path_factory.mktemp("w")))


def test_reads_follow_the_contract_and_boxes_are_original_pixels(random_classifier):
    photo = dev_photos("br", every=9)[0]
    image = photo.bgr()
    # an untrained model is never confident: report everything to check the fields
    reader = PlateReader(random_classifier, region="br", params=Params(min_confidence=0.0))
    reads = reader.read(image)
    assert reads and all(isinstance(r, PlateRead) for r in reads)
    confs = [r.confidence for r in reads]
    assert confs == sorted(confs, reverse=True)
    for r in reads:
        x, y, w, h = r.box
        assert all(isinstance(v, int) for v in r.box)
        assert -w <= x < image.shape[1] and -h <= y < image.shape[0]
        assert len(r.char_confidences) == len(r.text)
        assert 0.0 <= r.confidence <= 1.0


def test_gray_input_and_one_cnn_batch_per_frame(random_classifier):
    photo = dev_photos("eu", every=9)[0]
    counting = CountingClassifier(random_classifier)
    # the untrained model is never confident: keep the fine binarization, the text-line cue, the band
    # and Sauvola binarizations and the splitting out (tested below and in test_resegment.py)
    reader = PlateReader(counting, params=Params(second_look_candidates=0, textline_enabled=False,
                                                 band_candidates=0, sauvola_candidates=0, reseg_enabled=False))
    reads_gray = reader.read(photo.gray())
    assert counting.calls == 1
    # the classifier attribute is swappable (the daemon replaces it on model reload)
    other = CountingClassifier(random_classifier)
    reader.classifier = other
    reader.read(photo.bgr())
    assert other.calls == 1 and counting.calls == 1
    assert isinstance(reads_gray, list)


@pytest.mark.parametrize("trigger, batches", [(0.0, 1), (1.0, 2)])
def test_text_line_cue_runs_only_when_no_read_is_confident(random_classifier, trigger, batches):
    # an untrained model's reads stay far below 1.0 and never below 0.0
    photo = dev_photos("us", every=9)[0]
    counting = CountingClassifier(random_classifier)
    reader = PlateReader(counting, params=Params(textline_trigger=trigger, min_confidence=0.0, band_candidates=0,
                                                 sauvola_candidates=0, second_look_candidates=0, reseg_enabled=False))
    reads = reader.read(photo.bgr())
    assert counting.calls == batches
    assert [r.confidence for r in reads] == sorted((r.confidence for r in reads), reverse=True)


@pytest.mark.parametrize("stage", ["band", "sauvola"])
@pytest.mark.parametrize("trigger, batches", [(0.0, 1), (1.0, 2)])
def test_late_binarizations_run_only_when_no_read_is_confident(random_classifier, stage, trigger, batches):
    """The band and Sauvola binarizations each add one CNN batch, and only to an unsure frame."""
    photo = dev_photos("us", every=9)[0]
    counting = CountingClassifier(random_classifier)
    # three candidates: on this photo the best one alone gives no line to read
    off = {"band_candidates": 0, "sauvola_candidates": 0}
    on = {f"{stage}_trigger": trigger, f"{stage}_candidates": 3}
    reader = PlateReader(counting, params=Params(**{**off, **on}, min_confidence=0.0, second_look_candidates=0,
                                                 textline_enabled=False, reseg_enabled=False))
    reader.read(photo.bgr())
    assert counting.calls == batches


@pytest.mark.parametrize("trigger, methods, batches", [(0.0, ("fine", "clahe"), 1), (1.0, ("fine",), 2),
                                                      (1.0, ("fine", "clahe"), 3)])
def test_second_look_runs_only_when_no_read_is_confident(random_classifier, trigger, methods, batches):
    photo = dev_photos("us", every=9)[0]
    counting = CountingClassifier(random_classifier)
    reader = PlateReader(counting, params=Params(second_look_trigger=trigger, second_look_methods=methods,
                                                 min_confidence=0.0, band_candidates=0, sauvola_candidates=0,
                                                 textline_enabled=False, reseg_enabled=False))
    reads = reader.read(photo.bgr())
    assert counting.calls == batches
    assert [r.confidence for r in reads] == sorted((r.confidence for r in reads), reverse=True)


def test_fine_reads_are_discounted_against_direct_ones(random_classifier):
    """The lines the second look adds keep second_look_factor of their confidence; the direct ones keep
    theirs."""
    image = dev_photos("us", every=9)[0].bgr()

    def confidences(factor: float) -> list[float]:
        params = Params(min_confidence=0.0, second_look_trigger=1.0, second_look_factor=factor,
                        band_candidates=0, sauvola_candidates=0, textline_enabled=False, reseg_enabled=False)
        reader = PlateReader(random_classifier, region="us", params=params)
        return [h.reading.confidence for h in reader.line_reads(image)]

    whole, half = confidences(1.0), confidences(0.5)
    assert len(whole) == len(half)
    kept = [c for c in half if any(c == pytest.approx(w) for w in whole)]
    halved = [c for c in half if any(c == pytest.approx(0.5 * w) for w in whole)]
    assert kept and halved, "this photo should give lines of both stages"
    assert len(kept) + len(halved) == len(half)


def test_a_camera_timestamp_is_discounted_as_soon_as_it_is_read():
    """The text-line, band and splitting stages run when no read is confident; a timestamp burnt into
    the frame's top strip, read at 0.99, must not count as a confident read."""
    classifier = CharClassifier(default_model_or_skip())
    frame = np.full((720, 1280, 3), 90, np.uint8)
    cv2.putText(frame, "2026-06-20 10:40:11", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    gray = to_gray(frame)

    def best_read(overlay_factor: float) -> float:
        reader = PlateReader(classifier, region="us", params=Params(overlay_factor=overlay_factor))
        return best_confidence(reader.read_hypotheses(gray, frame, find_candidates(gray, reader.params)))

    undiscounted, seen = best_read(1.0), best_read(0.5)
    assert undiscounted >= 0.7 > seen
    assert seen <= 0.5 * undiscounted + 1e-9


def test_confidence_threshold_applies_to_every_read(random_classifier):
    photo = dev_photos("br", every=9)[0]
    everything = PlateReader(random_classifier, params=Params(min_confidence=0.0)).read(photo.bgr())
    assert everything
    cut = sorted(r.confidence for r in everything)[len(everything) // 2] + 1e-4  # reads round to 4 places
    some = PlateReader(random_classifier, params=Params(min_confidence=cut)).read(photo.bgr())
    assert all(r.confidence >= cut - 1e-4 for r in some) and len(some) < len(everything)


def test_blank_and_tiny_frames_read_nothing(random_classifier):
    reader = PlateReader(random_classifier)
    assert reader.read(np.zeros((480, 640, 3), np.uint8)) == []
    assert reader.read(np.full((3, 2), 255, np.uint8)) == []
    with pytest.raises(ValueError):
        reader.read(np.zeros((0, 0), np.uint8))


def test_unknown_region_and_parameters_are_refused(random_classifier):
    with pytest.raises(ValueError, match="unknown region"):
        PlateReader(random_classifier, region="xx")
    with pytest.raises(ValueError, match="unknown pipeline parameter"):
        Params.from_dict({"work_max_sid": 10})
    with pytest.raises(ValueError, match="min_chars"):
        Params.from_dict({"min_chars": 9, "max_chars": 5})
    with pytest.raises(ValueError, match="second_look_methods"):
        Params.from_dict({"second_look_methods": ["fine", "sharp"]})
    with pytest.raises(ValueError, match="clahe_tiles_x"):
        Params.from_dict({"clahe_tiles_x": 0})
    with pytest.raises(ValueError, match="second_look_factor"):
        Params.from_dict({"second_look_factor": 1.5})
    with pytest.raises(ValueError, match="char_ink_threshold"):
        Params.from_dict({"char_ink_threshold": 1.0})
    with pytest.raises(ValueError, match="sauvola_k"):
        Params.from_dict({"sauvola_k": 1.0})


def test_debug_dir_gets_the_step_images(random_classifier, tmp_path):
    photo = dev_photos("br", every=9)[0]
    reader = PlateReader(random_classifier, region="br", params=Params(min_confidence=0.0))
    reader.read(photo.bgr(), debug_dir=tmp_path / "dbg")
    names = {p.name for p in (tmp_path / "dbg").iterdir()}
    assert {"01-edges.png", "03-candidates.png", "06-result.png"} <= names
    assert any(n.startswith("04-plate-") for n in names)


def test_outer_blobs_that_are_no_characters_are_dropped(random_classifier):
    from anpr.localize import Candidate
    from anpr.pipeline import Hypothesis
    from anpr.rectify import PlateCrop
    from anpr.segment import Segmentation

    frame = np.full((100, 400, 3), 200, np.uint8)
    chars = [(60 + 30 * i, 30, 18, 32) for i in range(6)]
    band = (5, 30, 16, 32)  # far to the left and blue: the EU band
    frame[30:62, 5:21] = (200, 60, 20)
    bar = (chars[-1][0] + 19, 30, 3, 32)  # a thin bar pressed against the last character: the border
    crop = PlateCrop(frame[..., 0].copy(), np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    seg = Segmentation([band] + chars + [bar], True, "adaptive", 8.0)
    h = Hypothesis(Candidate(((200, 50), (400, 100), 0.0), (0, 0, 400, 100), 1.0), crop, seg)
    out = PlateReader(random_classifier).drop_outer_suspects(h, frame)
    assert out.seg.boxes == chars


@pytest.mark.parametrize("mode, expected", [("ends", "AB8CD"), ("all", "ABCD")])
def test_reject_class_inside_the_line_keeps_the_character_by_default(random_classifier, mode, expected):
    """A blurred 8 between two characters that the CNN's reject class `#` wins stays a character
    (read as its best real class) unless reject_mode says otherwise; the outer `#` blob goes."""
    from anpr.localize import Candidate
    from anpr.pipeline import Hypothesis
    from anpr.rectify import PlateCrop
    from anpr.segment import Segmentation

    classes = "ABCD8#"
    truth = ["#", "A", "B", "8", "C", "D"]
    probs = np.full((len(truth), len(classes)), 0.01)
    for i, c in enumerate(truth):
        probs[i, classes.index(c)] = 0.9
    probs[3, classes.index("#")] = 0.95  # the 8 is rejected, its best real class stays 8
    probs /= probs.sum(axis=1, keepdims=True)
    boxes = [(10 + 30 * i, 20, 18, 32) for i in range(len(truth))]
    crop = PlateCrop(np.zeros((72, 200), np.uint8), np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    h = Hypothesis(Candidate(((100, 36), (200, 72), 0.0), (0, 0, 200, 72), 1.0), crop,
                   Segmentation(boxes, True, "adaptive", 6.0))
    reader = PlateReader(random_classifier, params=Params(reject_mode=mode, min_chars=4, max_trim=0))
    reader.read_line(h, probs, classes)
    assert h.reading is not None and h.reading.text == expected


@pytest.mark.parametrize("classes", ["ABCD1#", "ABCD1"])
def test_a_blob_without_ink_contrast_at_the_end_is_dropped_even_when_read_as_a_sure_1(random_classifier, classes):
    """A patch of plate texture beside the characters: its crop, stretched, reads as a confident 1
    and would shift the read by one place. Far fainter than the line's characters, it is rejected,
    with or without the model's `#` class."""
    from anpr.localize import Candidate
    from anpr.pipeline import Hypothesis
    from anpr.rectify import PlateCrop
    from anpr.segment import Segmentation, ink_contrast

    rng = np.random.default_rng(0)
    gray = np.full((72, 240), 190, np.uint8)
    boxes = [(10 + 30 * i, 20, 18, 32) for i in range(5)]
    for x, y, w, hh in boxes[:4]:
        gray[y : y + hh, x : x + 5] = 40  # a dark stem: ink against the plate
    x, y, w, hh = boxes[4]
    gray[y : y + hh, x : x + w] = 185 + rng.integers(0, 8, (hh, w), dtype=np.uint8)  # texture only
    truth = ["A", "B", "C", "D", "1"]
    probs = np.full((len(truth), len(classes)), 0.01)
    for i, c in enumerate(truth):
        probs[i, classes.index(c)] = 0.95
    probs /= probs.sum(axis=1, keepdims=True)
    contrast = [ink_contrast(gray, b) for b in boxes]
    assert contrast[4] < 0.1 * contrast[0]

    def read(params: Params) -> str:
        crop = PlateCrop(gray, np.array([[1.0, 0, 0], [0, 1.0, 0]]))
        h = Hypothesis(Candidate(((120, 36), (240, 72), 0.0), (0, 0, 240, 72), 1.0), crop,
                       Segmentation(boxes, True, "adaptive", 5.0))
        PlateReader(random_classifier, params=params).read_line(h, probs, classes, contrast)
        assert h.reading is not None
        return h.reading.text

    assert read(Params(min_chars=4, max_trim=0)) == "ABCD"
    assert read(Params(min_chars=4, max_trim=0, faint_char_ratio=0.0)) == "ABCD1"
    with pytest.raises(ValueError, match="faint_char_ratio"):
        Params(faint_char_ratio=1.0)


def test_condensed_fonts_are_stretched_and_ordinary_ones_left_alone():
    from anpr.pipeline import font_stretch, stretched

    params = Params()
    condensed = [(10 + 20 * i, 10, 14, 40) for i in range(6)] + [(130, 10, 4, 40)]  # a bar: no vote
    ordinary = [(10 + 30 * i, 10, 24, 40) for i in range(6)]
    f = font_stretch(condensed, params)
    assert f == round(min(params.widen_to_aspect / (14 / 40), params.widen_max_factor), 1) > 1.0
    assert font_stretch(ordinary, params) == 1.0
    assert font_stretch(condensed, Params(widen_to_aspect=0.0)) == 1.0
    crop = np.zeros((40, 14), np.uint8)
    assert stretched(crop, f).shape == (40, round(14 * f))
    with pytest.raises(ValueError, match="widen_mode"):
        Params.from_dict({"widen_mode": "both"})


def test_a_model_with_another_input_size_reads_frames(tmp_path):
    """Weights may declare another input size (the loader accepts it): every crop is normalized to it."""
    from anpr.network import DEFAULT_CLASSES, Architecture, init_params
    from anpr.weights import FORMAT_VERSION, Weights, save_weights

    params = init_params(Architecture(input_size=32), seed=1)
    save_weights(Weights(FORMAT_VERSION, DEFAULT_CLASSES, 32, params, {"note": "random, 32 px"}), tmp_path / "w32.pkl")
    classifier = CharClassifier(tmp_path / "w32.pkl")
    reader = PlateReader(classifier, params=Params(min_confidence=0.0, reseg_trigger=1.0))
    reads = reader.read(dev_photos("us", every=9)[0].bgr())
    assert reads and all(isinstance(r, PlateRead) for r in reads)


def _read_line(text: str, conf: float, boxes: list[tuple[int, int, int, int]]):
    """A read hypothesis of one line in a 72 x 300 crop that maps to the frame unchanged."""
    from anpr.localize import Candidate
    from anpr.pipeline import Hypothesis
    from anpr.rectify import PlateCrop
    from anpr.segment import Segmentation

    crop = PlateCrop(np.zeros((72, 300), np.uint8), np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    h = Hypothesis(Candidate(((150, 36), (300, 72), 0.0), (0, 0, 300, 72), 1.0), crop,
                   Segmentation(boxes, True, "adaptive", float(len(boxes))))
    h.reading = _reading(text, conf, conf)
    return h


def _evenly(n: int, x0: int = 20, pitch: int = 20, wide_after: int | None = None) -> list[tuple[int, int, int, int]]:
    """n character boxes 16 px wide every `pitch` px; a group gap 30 px wider after box `wide_after`."""
    return [(x0 + pitch * i + (30 if wide_after is not None and i > wide_after else 0), 20, 16, 32) for i in range(n)]


def _reading(text: str, conf: float, sure: float = 1.0):
    """A Reading whose characters are all read at `sure`."""
    from anpr.recognize import Reading

    return Reading(text, conf, [sure] * len(text), True)


def test_a_missed_character_is_told_from_a_separator_by_its_spacing_and_certainty():
    from anpr.pipeline import missed_char_inside

    # the lost A of RK878AC stands at the usual spacing, between two characters of a group
    assert missed_char_inside(_reading("RK878C", 0.96), _reading("RK878AC", 0.92), _evenly(7), 1.5)
    # a doubled letter lost at either of its places
    assert missed_char_inside(_reading("4EU387", 0.92), _reading("4EEU387", 0.91), _evenly(7), 1.5)
    # a seal read as S in the wide gap between a German plate's groups (F | seal | WE50)
    boxes = [(20, 20, 16, 32), (52, 24, 16, 24), (84, 20, 16, 32), (104, 20, 16, 32), (124, 20, 16, 32),
             (144, 20, 16, 32)]
    assert not missed_char_inside(_reading("FWE50", 0.96), _reading("FSWE50", 0.95), boxes, 1.5)
    # a registration sticker filling the gap between a Missouri plate's groups, read as an unsure X
    sticker = _reading("8FVX480", 0.85)
    sticker.char_confidences[3] = 0.49
    assert not missed_char_inside(_reading("8FV480", 0.93), sticker, _evenly(7), 1.5)
    # at the ends the extra character is more often a border bar or a screw: not this rule's business
    assert not missed_char_inside(_reading("PGM335", 0.9), _reading("6PGM335", 0.9), _evenly(7), 1.5)
    assert not missed_char_inside(_reading("LM298A", 0.9), _reading("LM298AI", 0.9), _evenly(7), 1.5)
    # not one insertion
    assert not missed_char_inside(_reading("RK878C", 0.9), _reading("RK878AD", 0.9), _evenly(7), 1.5)
    assert not missed_char_inside(_reading("RK878C", 0.9), _reading("RK878C", 0.9), _evenly(6), 1.5)


def test_a_read_with_the_missed_character_is_reported_instead_and_keeps_its_confidence(random_classifier):
    reader = PlateReader(random_classifier, params=Params(missed_char_ratio=0.8))
    short = _read_line("7WV401", 0.78, _evenly(6))
    longer = _read_line("7AWV401", 0.75, _evenly(7))
    longer.reading.char_confidences[1] = 1.0  # the A that the shorter line lost, read surely
    other = _read_line("7AWV40", 0.74, _evenly(6))
    box = short.frame_box(reader.params)
    out = reader.missed_char_read(short, box, [other, longer])
    assert out is longer and out.reading.text == "7AWV401"
    assert out.reading.confidence == 0.75
    # too far below the best read, or switched off: the best read stays
    for params, longer_conf in ((Params(missed_char_ratio=0.8), 0.6), (Params(missed_char_ratio=0.0), 0.75)):
        longer.reading.confidence = longer_conf
        assert PlateReader(random_classifier, params=params).missed_char_read(short, box, [other, longer]) is None
    with pytest.raises(ValueError, match="missed_char_ratio"):
        Params(missed_char_ratio=1.5)


def test_a_line_of_uneven_heights_loses_confidence_in_proportion(random_classifier):
    even = _evenly(7)
    # PGM335N: the last "character" is a piece of the frame, taller than the characters and higher up
    framed = even[1:] + [(160, 14, 18, 38)]
    slightly = even[:-1] + [(140, 20, 16, 34)]
    hyps = [_read_line("6PGM335", 0.7, even), _read_line("PGM335N", 0.7, framed), _read_line("6PGM33S", 0.7, slightly)]
    PlateReader(random_classifier).apply_height_prior(hyps)
    assert hyps[0].reading.confidence == 0.7
    assert hyps[1].reading.confidence < hyps[2].reading.confidence < 0.7
    untouched = [_read_line("PGM335N", 0.7, framed)]
    PlateReader(random_classifier, params=Params(uneven_height_penalty=0.0)).apply_height_prior(untouched)
    assert untouched[0].reading.confidence == 0.7
