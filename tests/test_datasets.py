"""Each training-data loader on the real files in ../shared/data (skipped where absent) and on
small files the tests write in the exact formats (the A-Z CSV, raw IDX, multi-page box sheets)."""
from __future__ import annotations

import gzip
import shutil
import string

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from training_host.datasets.azcsv import AzCsvError, load_azcsv
from training_host.datasets.boxsheets import BoxSheetError, load_boxsheet
from training_host.datasets.mnist import IdxError, load_mnist, read_idx
from training_host.datasets.platechars import PlateCharsError, load_platechars, parse_name
from training_host.datasets.synthetic import render_glyph, resolve_font

CLASSES = string.digits + string.ascii_uppercase


def _ink_centred(images: np.ndarray) -> bool:
    """normalize_char output: bright ink inside, black frame (the 4-pixel MNIST margin)."""
    return float(images[:, :, :2].max()) <= 0.05 and float(images[:, 4:24, 4:24].mean()) > 0.1


# --- MNIST -------------------------------------------------------------------------------------

def test_mnist_test_set_gz():
    images = shared_path("mnist", "t10k-images-idx3-ubyte.gz")
    cs = load_mnist(images)
    assert len(cs) == 10_000 and cs.source == "mnist" and not cs.ink_dark
    assert set(cs.labels) == set(string.digits)
    assert cs.images.shape == (10_000, 28, 28)
    assert _ink_centred(cs.images[:200])
    assert len(np.unique(cs.groups)) == 20  # blocks of 500 rows


def test_mnist_raw_idx_equals_gz(tmp_path):
    src = shared_path("mnist")
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(src / f"{name}.gz", "rb") as fi, open(tmp_path / name, "wb") as fo:
            shutil.copyfileobj(fi, fo)
    raw = load_mnist(tmp_path / "t10k-images-idx3-ubyte", limit=300)
    gz = load_mnist(src / "t10k-images-idx3-ubyte.gz", limit=300)
    np.testing.assert_array_equal(raw.images, gz.images)
    np.testing.assert_array_equal(raw.labels, gz.labels)


def test_mnist_wrong_file_is_named():
    labels = shared_path("mnist", "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(IdxError, match="magic number 2049, expected 2051"):
        read_idx(labels, 2051)


# --- Kaggle A-Z CSV ----------------------------------------------------------------------------

def _letter_pixels(char: str) -> np.ndarray:
    """A letter drawn light on dark in 28x28, like the Kaggle CSV rows."""
    glyph = render_glyph(resolve_font("DejaVuSans-Bold.ttf"), char, 20)
    img = np.zeros((28, 28), np.uint8)
    g = 255 - np.asarray(Image.fromarray(glyph).resize((14, 18)))
    img[5:23, 7:21] = g
    return img


def _write_csv(path, rows: list[tuple[int, np.ndarray]]) -> None:
    with open(path, "w") as fh:
        for label, px in rows:
            fh.write(",".join([str(label)] + [str(int(v)) for v in px.reshape(-1)]) + "\n")


def test_azcsv_streams_and_caps(tmp_path):
    rows = [(k % 26, _letter_pixels(string.ascii_uppercase[k % 26])) for k in range(78)]  # 3 of each
    path = tmp_path / "A_Z Handwritten Data.csv"
    _write_csv(path, rows)
    # a broken row after each class is full must never be parsed: proof that rows past the cap are skipped
    with open(path, "a") as fh:
        fh.write("0," + ",".join(["x"] * 5) + "\n")
    cs = load_azcsv(path, max_per_class=3)
    assert len(cs) == 78 and not cs.ink_dark
    assert cs.class_counts() == {c: 3 for c in string.ascii_uppercase}
    assert cs.labels[0] == "A" and cs.labels[25] == "Z"  # label 0 is A
    assert _ink_centred(cs.images)
    with pytest.raises(AzCsvError, match=r":79: "):
        load_azcsv(path)  # without the cap the broken row is reached and named by line


def test_azcsv_rejects_short_rows(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("3," + ",".join(["0"] * 700) + "\n")
    with pytest.raises(AzCsvError, match="700 pixel values, expected 784"):
        load_azcsv(path)


# --- real plate character crops ----------------------------------------------------------------

def test_platechars_gb():
    cs = load_platechars(shared_path("plate-chars", "gb", "chars"))
    assert len(cs) == 3598 and cs.ink_dark and cs.source == "platechars-gb"
    assert set(cs.labels) <= set(CLASSES)
    assert _ink_centred(cs.images[::50])
    groups = np.unique(cs.groups)
    assert 250 <= len(groups) <= 322  # plate photos, some merged as the same plate


def test_platechars_br_lowercase_means_uppercase_and_plates_group():
    d = shared_path("plate-chars", "br", "chars")
    cs = load_platechars(d)
    assert len(cs) == 1772
    assert set(cs.labels) <= set(CLASSES) and {"A", "Q", "I"} <= set(cs.labels)
    names = sorted(p.name for p in d.iterdir() if p.suffix == ".jpg")
    where = {n: i for i, n in enumerate(names)}
    # every crop of a plate photo, all variants, is in one group
    kry = [where[n] for n in names if n.endswith("3_KRY2710.jpg")]
    assert len(kry) == 21 and len(set(cs.groups[kry])) == 1
    # the same plate cut twice under two readings is one group
    a = where["d-0-10_DWG1072.jpg"]
    b = where["d-0-10_DWGD072.jpg"]
    assert cs.labels[a] == "D" and cs.groups[a] == cs.groups[b]
    assert cs.groups[a] != cs.groups[kry[0]]


def test_platechars_name_rule():
    assert parse_name("a-0-3_GZA217Q.jpg") == ("A", "3_GZA217Q")
    assert parse_name("Z-2-CROPPED_GU60RZB-2014-12-04.094703.-IMAGE.jpg")[1].startswith("CROPPED_GU60RZB-2014")
    with pytest.raises(PlateCharsError, match="LABEL-VARIANT-PLATEID"):
        parse_name("combined.jpg")


# --- Tesseract box sheets ----------------------------------------------------------------------

@pytest.mark.parametrize("sheet", ["eu/input/leu.germany.exp0.tif", "br/chars/combined.tif",
                                   "fr/input/leu.france.exp0.tif"])
def test_boxsheet_real(sheet):
    tif = shared_path("plate-chars", *sheet.split("/"))
    lines = [ln for ln in tif.with_suffix(".box").read_text().splitlines() if ln.strip()]
    cs = load_boxsheet(tif)
    assert len(cs) == len(lines) and cs.ink_dark
    assert set(cs.labels) <= set(CLASSES)
    assert len(np.unique(cs.groups)) == 1
    # bottom-left origin: every box holds ink (read top-left, most boxes would land on blank paper)
    ink = np.array([(np.asarray(c) < 128).mean() for c in cs.crops])
    assert (ink > 0.08).mean() > 0.99
    assert _ink_centred(cs.images[::25])


def test_boxsheet_multipage_and_origin(tmp_path):
    font = resolve_font("DejaVuSans-Bold.ttf")
    pages, boxes = [], []
    for page, char in enumerate("K7"):
        canvas = np.full((200, 300), 255, np.uint8)
        glyph = render_glyph(font, char, 40)
        gh, gw = glyph.shape
        top, left = 20, 50 + 100 * page  # near the TOP of the page
        canvas[top: top + gh, left: left + gw] = glyph
        pages.append(Image.fromarray(canvas))
        boxes.append(f"{char} {left} {200 - top - gh} {left + gw} {200 - top} {page}")
    tif = tmp_path / "sheet.tif"
    pages[0].save(tif, save_all=True, append_images=pages[1:])
    (tmp_path / "sheet.box").write_text("\n".join(boxes) + "\n")
    cs = load_boxsheet(tif)
    assert list(cs.labels) == ["K", "7"]
    assert list(cs.groups) == ["sheet:0", "sheet:1"]
    for crop, char in zip(cs.crops, "K7"):
        np.testing.assert_array_equal(crop, render_glyph(font, char, 40))
    (tmp_path / "sheet.box").write_text("K 10 10 40 40 5\n")
    with pytest.raises(BoxSheetError, match="page 5 but .* has 2 page"):
        load_boxsheet(tif)


# --- crops cut from annotated plate photos -----------------------------------------------------

def _link_dev_photos(dest, per_region: int, plate: str | None = None):
    """`dest`/REGION/ with links to the first photos of each dev region (annotation rewritten with
    `plate` when given)."""
    dev = shared_path("openalpr-benchmark-dev")
    for region in ("br", "eu", "us"):
        (dest / region).mkdir(parents=True)
        for img in sorted((dev / region).glob("*.jpg"))[:per_region]:
            (dest / region / img.name).symlink_to(img)
            txt = img.with_suffix(".txt")
            if plate is None:
                (dest / region / txt.name).symlink_to(txt)
            else:
                parts = txt.read_text().split()
                (dest / region / txt.name).write_text("\t".join(parts[:5] + [plate]) + "\n")
    return dev


def test_platephotos_crops_carry_the_annotated_characters(tmp_path):
    from anpr.classify import CharClassifier
    from anpr.evaluate import parse_truth
    from training_host.datasets.platephotos import load_platephotos

    dev = _link_dev_photos(tmp_path, per_region=4)
    cs = load_platephotos(tmp_path)
    assert cs.ink_dark and cs.source == f"platephotos-{tmp_path.name}" and len(cs.crops) == len(cs)
    assert _ink_centred(cs.images)
    photos = np.unique(cs.groups)
    assert len(photos) >= 8  # of 12 (9 measured): the pipeline splits most plates into their characters
    for g in photos:  # a photo's crops spell its annotated plate, in order
        region, stem = g.split(":")[1].split("/")
        _, plate = parse_truth(dev / region / f"{stem}.txt")
        assert "".join(cs.labels[cs.groups == g]) == plate
    # the crops are the characters they are labelled with: the shipped CNN agrees on most
    read, _ = CharClassifier().classify(cs.images)
    assert np.mean(np.asarray(read) == cs.labels) >= 0.85  # 0.93 measured


def test_platephotos_without_usable_lines_is_named(tmp_path):
    from training_host.datasets.platephotos import PlatePhotosError, load_platephotos

    _link_dev_photos(tmp_path, per_region=1, plate="QQQQQQQQQQ")  # no line reads like this
    with pytest.raises(PlatePhotosError, match="split none of the 3 photos"):
        load_platephotos(tmp_path)
    with pytest.raises(PlatePhotosError, match="not a folder"):
        load_platephotos(tmp_path / "nothing")
