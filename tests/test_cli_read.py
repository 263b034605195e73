"""`anpr read` / `anpr eval` command-line contract: JSON lines, input order, errors, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.pipeline_data import dev_photos
from tests.pipeline_models import random_weights_file


def anpr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anpr.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return str(random_weights_file(tmp_path_factory.mktemp("w")))


def test_read_json_lines_in_input_order_with_errors_on_their_line(tmp_path, weights):
    good = str(dev_photos("eu", every=20)[0].path)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("not an image")
    gray16 = tmp_path / "gray16.png"
    cv2.imwrite(str(gray16), (cv2.imread(good, cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 257))
    r = anpr("read", "--json", "--weights", weights, good, str(empty), str(text), str(gray16))
    assert r.returncode == 1, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["image"] for d in lines] == [good, str(empty), str(text), str(gray16)]
    for d in (lines[0], lines[3]):
        assert set(d) == {"image", "plates", "ms"} and d["ms"] >= 0
        for p in d["plates"]:
            assert set(p) == {"text", "confidence", "box"} and len(p["box"]) == 4
        confs = [p["confidence"] for p in d["plates"]]
        assert confs == sorted(confs, reverse=True)
    assert "empty" in lines[1]["error"] and "not a readable image" in lines[2]["error"]
    assert "empty.jpg" in r.stderr and "text.png" in r.stderr


def test_read_all_good_exits_zero_and_table_without_json(weights):
    good = str(dev_photos("br", every=20)[0].path)
    r = anpr("read", "--weights", weights, "--region", "br", good)
    assert r.returncode == 0, r.stderr
    assert good in r.stdout and "plate" in r.stdout.splitlines()[0]


def test_pixel_limit_refuses_large_images(tmp_path, weights):
    p = tmp_path / "big.png"
    cv2.imwrite(str(p), np.zeros((300, 400), np.uint8))
    r = anpr("read", "--json", "--weights", weights, "--max-pixels", "1000", str(p))
    assert r.returncode == 1
    assert "above the limit" in json.loads(r.stdout)["error"]


def test_usage_errors_exit_two(tmp_path):
    assert anpr().returncode == 2
    assert anpr("read").returncode == 2
    assert anpr("read", "--region", "mars", "x.jpg").returncode == 2
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    r = anpr("read", "--weights", str(bad), "x.jpg")
    assert r.returncode == 2 and "bad.pkl" in r.stderr
    assert anpr("eval", str(tmp_path / "missing")).returncode == 2
    assert anpr("eval", str(tmp_path)).returncode == 2  # no annotated images there


def test_eval_on_a_small_folder_writes_table_json_and_failures(tmp_path, weights):
    root = tmp_path / "bench"
    for region in ("br", "eu"):
        (root / region).mkdir(parents=True)
        for photo in dev_photos(region, every=30):
            (root / region / photo.path.name).symlink_to(photo.path)
            (root / region / photo.path.with_suffix(".txt").name).symlink_to(photo.path.with_suffix(".txt"))
    out = tmp_path / "report.json"
    fails = tmp_path / "fails"
    r = anpr("eval", str(root), "--weights", weights, "--json", str(out), "--save-failures", str(fails))
    assert r.returncode == 0, r.stderr
    assert "overall" in r.stdout and "br" in r.stdout and "eu" in r.stdout
    report = json.loads(out.read_text())
    assert report["overall"]["images"] == 4
    for key in ("exact", "exact_twins", "char_accuracy", "detection", "median_ms", "p90_ms"):
        assert 0 <= report["overall"][key]
    assert all(x["exact_twins"] for x in report["results"] if x["exact"])
    assert report["overall"]["exact_twins"] >= report["overall"]["exact"]
    assert "O=0,I=1" in r.stdout
    misses = [x for x in report["results"] if not x["exact"]]
    assert len(list(fails.glob("*.jpg"))) == len(misses)


def test_eval_counts_an_unreadable_image_as_a_miss_and_exits_one(tmp_path, weights):
    root = tmp_path / "bench" / "br"
    root.mkdir(parents=True)
    photo = dev_photos("br", every=30)[0]
    (root / photo.path.name).symlink_to(photo.path)
    (root / photo.path.with_suffix(".txt").name).symlink_to(photo.path.with_suffix(".txt"))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not a whole jpeg")
    (root / "broken.txt").write_text("broken.jpg\t10\t10\t40\t20\tABC1234\n")
    out = tmp_path / "report.json"
    r = anpr("eval", str(tmp_path / "bench"), "--weights", weights, "--json", str(out))
    assert r.returncode == 1
    assert "broken.jpg" in r.stderr and "counted as a miss" in r.stderr
    report = json.loads(out.read_text())
    assert report["overall"]["images"] == 2 and report["overall"]["errors"] == 1
    broken = [x for x in report["results"] if x["image"].endswith("broken.jpg")][0]
    assert broken["error"] and not broken["exact"] and not broken["exact_twins"]
