import numpy as np

from anpr.charcrop import INPUT_SIZE, normalize_char, normalize_chars


def test_dark_ink_becomes_bright_and_centred():
    crop = np.full((40, 20), 220, np.uint8)
    crop[5:35, 8:12] = 30  # a dark vertical bar, like a "1"
    out = normalize_char(crop, ink_dark=True)
    assert out.shape == (INPUT_SIZE, INPUT_SIZE)
    assert out.dtype == np.float32
    ys, xs = np.nonzero(out > 0.5)
    assert ys.max() - ys.min() + 1 == 20  # longest side fitted to the 20-pixel ink box
    assert abs((xs.min() + xs.max()) / 2 - (INPUT_SIZE - 1) / 2) <= 1
    assert out[0, 0] == 0.0


def test_polarity_flag_matters():
    crop = np.zeros((30, 30), np.uint8)
    crop[10:20, 10:20] = 255
    bright = normalize_char(crop, ink_dark=False)
    dark = normalize_char(crop, ink_dark=True)
    assert bright.max() == 1.0
    # read as dark ink, the ink is the black frame around the square, with a hole in the middle
    assert bright[14, 14] == 1.0 and dark[14, 14] == 0.0
    assert dark[4, 14] == 1.0


def test_flat_and_empty_crops_are_black():
    assert normalize_char(np.full((10, 10), 128, np.uint8)).max() == 0.0
    assert normalize_char(np.zeros((0, 5), np.uint8)).max() == 0.0
    assert normalize_chars([]).shape == (0, INPUT_SIZE, INPUT_SIZE)


def test_colour_and_16_bit_inputs():
    crop = np.full((30, 30, 3), 200, np.uint8)
    crop[5:25, 12:18] = 20
    a = normalize_char(crop)
    b = normalize_char((crop[:, :, 0].astype(np.uint16) * 257))
    assert np.allclose(a, b, atol=1e-3)


def test_a_lower_ink_threshold_keeps_a_pale_stroke_in_the_frame():
    # a pale P: a dark bowl on top, its stem much paler below the bowl (blur thins a stroke's ink)
    crop = np.full((40, 24), 250, np.uint8)
    crop[4:36, 6:10] = 205  # the stem, top to bottom: 0.45 of the bowl's contrast
    crop[4:22, 6:20] = 150  # the bowl
    def bottom_row_width(threshold: float) -> int:
        out = normalize_char(crop, ink_threshold=threshold)
        ys, _ = np.nonzero(out > 0.3)
        return int(np.count_nonzero(out[ys.max()] > 0.3))

    # at 0.5 the ink box is the bowl alone, which fills the frame (a D, to the CNN); at 0.4 it reaches
    # down to the stem's foot
    assert bottom_row_width(0.5) >= 12
    assert bottom_row_width(0.4) <= 4
