"""Synthetic camera frames with a plate in them, for `anpr-device demo`, tests and benchmarks.

The repository carries no third-party photos, so the demo's `files` camera replays frames drawn
here: a plain, noisy street-like scene, a car body, and a white plate with black characters in a
system font. Each car gets a short burst of frames that differ a little (position, scale, light,
noise) as consecutive frames of a passing car would. File names carry the plate text
(`0003_AB12CDE_1.jpg`) so a test can compare what the daemon logged with what was drawn.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Letters that UK-style plates use and that are not look-alikes of digits (I, O, Q excluded).
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
PLATE_DIGITS = "0123456789"
# Narrow bold sans faces first: closest to plate typefaces (Charles Wright, FE-Schrift) among common
# system fonts (Debian fonts-liberation, fonts-freefont-ttf, fonts-dejavu-core).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)
DEFAULT_SIZE = (1280, 720)  # width, height
PLATE_WIDTH_FRACTION = 0.26  # plate width relative to the frame width
PLATE_ASPECT = 4.7  # width / height of a European plate (520 x 111 mm)
TEXT_HEIGHT_FRACTION = 0.62  # character height relative to the plate height
JPEG_QUALITY = 92


@dataclass(frozen=True)
class SampleFrame:
    path: Path
    plate: str
    car: int
    frame: int
    box: tuple[int, int, int, int]  # x, y, w, h of the plate in the frame


def random_plate(rng: random.Random) -> str:
    """A UK-style plate: two letters, two digits, three letters (AB12CDE)."""
    pick = rng.choice
    return "".join([pick(PLATE_LETTERS), pick(PLATE_LETTERS), pick(PLATE_DIGITS), pick(PLATE_DIGITS),
                    pick(PLATE_LETTERS), pick(PLATE_LETTERS), pick(PLATE_LETTERS)])


def _font(size_px: int):
    """A PIL TrueType font of about `size_px` cap height, or None when PIL or the fonts are missing."""
    try:
        from PIL import ImageFont
    except ImportError:
        return None
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size_px)
    try:
        return ImageFont.load_default(size_px)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return None


def render_plate(text: str, width: int) -> np.ndarray:
    """A BGR plate image: white background, thin black border, black characters centred."""
    height = int(round(width / PLATE_ASPECT))
    plate = np.full((height, width, 3), 255, np.uint8)
    border = max(2, height // 30)
    cv2.rectangle(plate, (border, border), (width - 1 - border, height - 1 - border), (0, 0, 0), border)
    text_h = int(height * TEXT_HEIGHT_FRACTION)
    font = _font(int(text_h * 1.32))  # font size is about 1.32 x the cap height for DejaVu/Liberation
    if font is not None:
        from PIL import Image, ImageDraw

        img = Image.fromarray(plate)
        draw = ImageDraw.Draw(img)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        scale_w = (width * 0.86) / max(1, right - left)
        if scale_w < 1.0:  # too wide for the plate: smaller font
            font = _font(int(text_h * 1.32 * scale_w))
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x = (width - (right - left)) // 2 - left
        y = (height - (bottom - top)) // 2 - top
        draw.text((x, y), text, fill=(0, 0, 0), font=font)
        return np.asarray(img).copy()
    # No PIL: OpenCV's Hershey font, fitted to the plate.
    face, thick = cv2.FONT_HERSHEY_DUPLEX, max(2, text_h // 10)
    (tw, th), _ = cv2.getTextSize(text, face, 1.0, thick)
    scale = min(text_h / th, width * 0.86 / tw)
    (tw, th), _ = cv2.getTextSize(text, face, scale, thick)
    cv2.putText(plate, text, ((width - tw) // 2, (height + th) // 2), face, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return plate


def render_scene(text: str, size: tuple[int, int] = DEFAULT_SIZE, rng: random.Random | None = None,
                 jitter: float = 1.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A frame (BGR uint8) with one car and its plate; returns the frame and the plate box (x, y, w, h)."""
    rng = rng or random.Random(0)
    w, h = size
    nrng = np.random.default_rng(rng.randrange(2**32))
    # Street: vertical grey gradient with noise.
    top, bottom = rng.randint(90, 150), rng.randint(60, 100)
    column = np.linspace(top, bottom, h, dtype=np.float32)[:, None]
    scene = np.repeat(np.repeat(column, w, axis=1)[:, :, None], 3, axis=2)
    # Car body: a dark rounded block around the plate.
    pw = int(w * PLATE_WIDTH_FRACTION * (1 + 0.06 * jitter * rng.uniform(-1, 1)))
    ph = int(round(pw / PLATE_ASPECT))
    cx = int(w * (0.5 + 0.12 * jitter * rng.uniform(-1, 1)))
    cy = int(h * (0.62 + 0.08 * jitter * rng.uniform(-1, 1)))
    body = tuple(float(c) for c in rng.choice([(40, 40, 45), (120, 30, 30), (30, 60, 120), (170, 170, 175), (20, 80, 40)]))
    cv2.rectangle(scene, (cx - int(pw * 1.6), cy - int(ph * 3.2)), (cx + int(pw * 1.6), cy + int(ph * 1.8)), body, -1)
    cv2.rectangle(scene, (cx - int(pw * 1.1), cy - int(ph * 3.0)), (cx + int(pw * 1.1), cy - int(ph * 1.4)), (60, 60, 60), -1)
    for side in (-1, 1):  # lamps
        lx = cx + side * int(pw * 1.3)
        cv2.rectangle(scene, (lx - ph // 2, cy - ph), (lx + ph // 2, cy - ph // 3), (40, 40, 200), -1)
    x, y = cx - pw // 2, cy - ph // 2
    scene[y:y + ph, x:x + pw] = render_plate(text, pw)
    # Light level and sensor noise.
    scene = scene * rng.uniform(0.85, 1.1) + nrng.normal(0, 4.0 + 3.0 * jitter, scene.shape)
    frame = np.clip(scene, 0, 255).astype(np.uint8)
    return frame, (x, y, pw, ph)


def generate_samples(folder: Path | str, cars: int = 6, frames_per_car: int = 3,
                     size: tuple[int, int] = DEFAULT_SIZE, seed: int = 0, plates: list[str] | None = None) -> list[SampleFrame]:
    """Write `cars` bursts of `frames_per_car` JPEG frames into `folder` (created); returns what was drawn."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    plates = list(plates) if plates else []
    while len(plates) < cars:
        p = random_plate(rng)
        if p not in plates:
            plates.append(p)
    out = []
    for car, plate in enumerate(plates[:cars]):
        for frame in range(frames_per_car):
            image, box = render_scene(plate, size, random.Random(rng.randrange(2**32)))
            path = folder / f"{car:04d}_{plate}_{frame}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            out.append(SampleFrame(path, plate, car, frame, box))
    return out


def plate_of(path: Path | str) -> str:
    """The plate drawn in a generated frame, from its file name."""
    return Path(path).stem.split("_")[1]
