"""Recognition: plate text from character probabilities, region-format rescoring of confusables."""
from __future__ import annotations

import numpy as np
import pytest

from anpr.params import Params
from anpr.recognize import combine, decode, line_factor
from anpr.regions import FORMATS, fold_twins, format_prior, format_share, formats_for, partner, region_weights

CLASSES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def probs_for(reading: list[dict[str, float]]) -> np.ndarray:
    """(N, 36) probabilities from per-position {char: p}, the rest spread evenly."""
    out = np.zeros((len(reading), len(CLASSES)), np.float32)
    for i, pos in enumerate(reading):
        rest = (1.0 - sum(pos.values())) / (len(CLASSES) - len(pos))
        out[i] = rest
        for ch, p in pos.items():
            out[i, CLASSES.index(ch)] = p
    return out


def sure(text: str, p: float = 0.98) -> list[dict[str, float]]:
    return [{c: p} for c in text]


def test_plain_reading_and_confidence_is_the_weakest_character():
    r = decode(probs_for(sure("ABC1234")[:6] + [{"4": 0.7}]), CLASSES, "br", Params(confidence_mode="min"))
    assert r.text == "ABC1234"
    assert r.fits_format
    assert r.confidence == pytest.approx(0.7, abs=1e-6)
    assert len(r.char_confidences) == 7


def test_brazil_format_turns_a_doubtful_O_into_zero_in_a_digit_slot():
    pos = sure("ABC") + [{"O": 0.55, "0": 0.40}] + sure("123")
    assert decode(probs_for(pos), CLASSES, "br").text == "ABC0123"
    # without a region that knows the slot, the CNN's choice stands... unless another format wants it
    assert decode(probs_for(pos), CLASSES, "us").text in ("ABCO123", "ABC0123")


def test_auto_prefers_the_common_layout_over_a_rare_one_that_fits_as_read():
    """MXQ160I fits the US layout LLLDDDL as read; LLLDDDD (Brazil, US, Europe) needs the I -> 1
    swap. Plates of an unknown region are far more often LLLDDDD, so auto swaps; a US reader, for
    which both layouts are equally common, keeps the CNN's I."""
    pos = sure("MXQ160") + [{"I": 0.6, "1": 0.35}]
    assert decode(probs_for(pos), CLASSES, "auto").text == "MXQ1601"
    assert decode(probs_for(pos), CLASSES, "us").text == "MXQ160I"
    auto, us = region_weights("auto"), region_weights("us")
    assert format_prior(auto, "LLLDDDD") > 10 * format_prior(auto, "LLLDDDL")
    assert format_prior(us, "LLLDDDD") == format_prior(us, "LLLDDDL")
    assert sum(format_prior(auto, f) for f in formats_for("auto")) == pytest.approx(1.0)


def test_a_us_q_the_cnn_was_unsure_of_reads_as_its_second_thought():
    """US series leave Q out: a C with shading inside read as Q (0.6, C 0.3) is a C on a US plate,
    a Brazilian plate keeps the Q, and a Q the CNN is sure of stays a Q everywhere."""
    pos = [{"Q": 0.6, "C": 0.3}] + sure("WW2245")
    assert decode(probs_for(pos), CLASSES, "us").text == "CWW2245"
    assert decode(probs_for(pos), CLASSES, "br").text == "QWW2245"
    assert decode(probs_for(pos), CLASSES, "us", Params(rare_char_factor=1.0)).text == "QWW2245"
    assert decode(probs_for(sure("QWW2245")), CLASSES, "us").text == "QWW2245"
    # under auto the factor follows how likely the line is a US one (its span in character heights)
    assert decode(probs_for(pos), CLASSES, "auto", line_ratio=3.2).text == "CWW2245"
    assert decode(probs_for(pos), CLASSES, "auto", line_ratio=6.0).text == "QWW2245"
    with pytest.raises(ValueError, match="rare_char_factor"):
        Params(rare_char_factor=1.5)


def test_auto_weighs_the_regions_by_the_lines_span_in_character_heights():
    assert region_weights("br", 3.0) == {"br": 1.0}  # a named region is never second-guessed
    assert region_weights("auto") == pytest.approx({"br": 1 / 3, "eu": 1 / 3, "us": 1 / 3})
    narrow, long = region_weights("auto", 3.5), region_weights("auto", 5.5)  # a US line, an EU/BR line
    assert narrow["us"] > 0.95 and long["us"] < 0.05
    assert long["eu"] == pytest.approx(long["br"]) and sum(long.values()) == pytest.approx(1.0)
    assert region_weights("auto", 1e9)["us"] == 0.0 and region_weights("auto", -1e9)["us"] == 1.0  # no overflow
    assert decode(probs_for(sure("ABC123")), CLASSES, "auto", line_ratio=1e9).text == "ABC123"
    # TRZ5, a fragment of a US plate, fits only a German layout (LLLD): on a US-sized line that is
    # nearly no fit at all, on a European-sized line it is one
    assert format_share(narrow, "LLLD") < 0.05 and format_share(long, "LLLD") > 0.45
    pos = sure("TRZ5")
    as_us = decode(probs_for(pos), CLASSES, "auto", line_ratio=3.5)
    as_eu = decode(probs_for(pos), CLASSES, "auto", line_ratio=5.5)
    missed = decode(probs_for(pos), CLASSES, "br")  # 4 characters fit no Brazilian layout
    assert as_us.confidence == pytest.approx(missed.confidence, rel=0.03)
    assert as_eu.confidence > 1.15 * as_us.confidence
    # a named region reads the same whatever the line's span
    assert decode(probs_for(pos), CLASSES, "eu", line_ratio=3.5).confidence == decode(probs_for(pos), CLASSES, "eu").confidence


def test_letter_slots_get_letters_back():
    pos = [{"8": 0.6, "B": 0.35}] + sure("RA1234")
    assert decode(probs_for(pos), CLASSES, "br").text == "BRA1234"


def test_no_swap_when_the_cnn_gives_the_partner_too_little_weight():
    pos = sure("ABC") + [{"O": 0.999, "0": 0.0005}] + sure("123")
    assert decode(probs_for(pos), CLASSES, "br").text == "ABC0123"  # default: the format decides the pair
    out = decode(probs_for(pos), CLASSES, "br", Params(format_swap_ratio=0.01))
    assert out.text == "ABCO123"  # left as read, marked as not fitting, confidence lowered
    assert not out.fits_format
    assert out.confidence < 0.999


def test_never_invents_or_drops_characters():
    for text in ("AB12", "X", "ABCDEFGHI"):
        out = decode(probs_for(sure(text)), CLASSES, "auto")
        assert out.text == text


def test_a_character_outside_the_pairs_is_swapped_only_when_the_cnn_doubts_it():
    doubted = sure("ABC") + [{"K": 0.6, "4": 0.35}] + sure("123")
    out = decode(probs_for(doubted), CLASSES, "br")
    assert out.text == "ABC4123" and out.fits_format
    p = Params()
    assert out.char_confidences[3] == pytest.approx(0.95 * p.swap_factor * p.other_swap_factor, abs=1e-6)
    sure_k = sure("ABC") + [{"K": 0.9, "4": 0.05}] + sure("123")  # 4 under other_swap_ratio of K
    kept = decode(probs_for(sure_k), CLASSES, "br")
    assert kept.text == "ABCK123" and not kept.fits_format
    assert decode(probs_for(doubted), CLASSES, "br", Params(other_swap_ratio=1.5)).text == "ABCK123"


def test_the_look_alike_partner_goes_before_a_likelier_other_character_only_when_that_one_is_weak():
    # a D slot holding O: the pair gives 0; a 4 the CNN likes better than 0 (and above the ratio) wins
    pos = sure("ABC") + [{"O": 0.5, "0": 0.1, "4": 0.3}] + sure("123")
    assert decode(probs_for(pos), CLASSES, "br").text == "ABC4123"
    pos = sure("ABC") + [{"O": 0.8, "0": 0.1, "4": 0.12}] + sure("123")  # 4 under 0.2 * 0.8
    assert decode(probs_for(pos), CLASSES, "br").text == "ABC0123"


def test_regions_and_partners():
    with pytest.raises(ValueError, match="unknown region"):
        formats_for("mars")
    assert set(formats_for("auto")) >= set(FORMATS["br"]) | set(FORMATS["eu"])
    for a, b in ("O0", "I1", "B8", "S5", "Z2"):
        assert partner(a) == b and partner(b) == a


def test_confidence_modes_and_format_miss_penalty():
    p = Params()
    assert combine([0.9, 0.4], Params(confidence_mode="min")) == pytest.approx(0.4)
    assert combine([0.9, 0.4], p) == pytest.approx(0.6, abs=1e-6)
    fits = decode(probs_for(sure("ABC1234", 0.9)), CLASSES, "br")
    misses = decode(probs_for(sure("ABCK234", 0.9)), CLASSES, "br")  # K has no digit look-alike
    assert fits.fits_format and not misses.fits_format
    assert misses.confidence == pytest.approx(fits.confidence * p.format_miss_penalty, rel=1e-3)


def test_lines_of_thin_bars_lose_confidence():
    p = Params()
    chars = [(10 + 30 * i, 20, 18, 30) for i in range(7)]
    bars = [(10 + 12 * i, 20, 4, 30) for i in range(7)]
    assert line_factor(chars, p) == 1.0
    assert line_factor(bars, p) < 0.7


def test_a_read_that_needs_format_swaps_is_less_sure_than_one_that_fits_as_read():
    # a shifted read of an SK plate (junk blob + six characters) fits LLDDDLL only after S->5 and 0->O
    shifted_probs = probs_for(sure("MT") + [{"S": 0.88, "5": 0.1}] + sure("26") + [{"0": 0.88, "O": 0.1}] + sure("A"))
    shifted = decode(shifted_probs, CLASSES, "eu")
    true = decode(probs_for(sure("TS260AK")), CLASSES, "eu")
    assert (shifted.text, true.text) == ("MT526OA", "TS260AK")
    assert shifted.fits_format and true.fits_format
    assert shifted.confidence < true.confidence
    plain = decode(shifted_probs, CLASSES, "eu", Params(swap_factor=1.0))
    assert plain.confidence == pytest.approx(true.confidence, abs=1e-3)
    with pytest.raises(ValueError, match="swap_factor"):
        Params(swap_factor=1.2)
    with pytest.raises(ValueError, match="other_swap_factor"):
        Params(other_swap_factor=1.2)


def test_a_format_does_not_overrule_a_cnn_that_is_sure():
    # a US plate in a layout the list lacks (LDDDDL): the only 6-character layout it fits after
    # look-alike swaps is LLDLDL, by turning two 2s into Zs
    doubtful = sure("N") + [{"2": 0.85, "Z": 0.13}] + sure("4") + [{"2": 0.85, "Z": 0.13}] + sure("7E")
    assert decode(probs_for(doubtful), CLASSES, "us").text == "NZ4Z7E"
    # with the 2s read at 0.97 against 0.001 the swaps would cost about 2 x 6.9 nats, over
    # format_max_cost: the CNN's reading stands, as one that fits no format
    sure_2 = sure("N") + [{"2": 0.97, "Z": 0.001}] + sure("4") + [{"2": 0.97, "Z": 0.001}] + sure("7E")
    out = decode(probs_for(sure_2), CLASSES, "us")
    assert (out.text, out.fits_format) == ("N2427E", False)
    assert decode(probs_for(sure_2), CLASSES, "us", Params(format_max_cost=20.0)).text == "NZ4Z7E"


def test_fold_twins_writes_each_twin_pair_one_way():
    # the Slovak RK-026AJ typed with a letter O, and a br 1 typed as I, count as the same plate
    assert fold_twins("RKO26AJ") == fold_twins("RK026AJ") == "RK026AJ"
    assert fold_twins("ABCI234") == fold_twins("ABC1234")
    # other look-alikes are real misreads, not annotation choices
    assert fold_twins("B951283") != fold_twins("8951283")
    assert fold_twins("5DJ0529") != fold_twins("SDJ0529")
