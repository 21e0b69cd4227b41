"""Small deepfake detectors with controlled weights for the tests (no pretrained weights exist on this machine).

`make_model` is `seed_reference.random_model` (scripts/seed_reference.py) calibrated on face crops from a real photo.
The scores mean nothing about deepfakes; tests only use them as known, reproducible numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from seed_reference import random_model, save_model
from skimage import data

from deepfake_detection import DeepfakeDetectorImageProcessor

__all__ = ["astronaut", "calibration_batch", "face_crops", "faces_image", "make_model", "save_model"]


def astronaut() -> Image.Image:
    """A real face photo shipped with scikit-image (512x512, one face)."""
    return Image.fromarray(data.astronaut())


def faces_image(crop_widths: list[int], size: tuple[int, int] = (1024, 512)) -> Image.Image:
    """A grey canvas with the astronaut's face pasted left to right, its 180x200 crop resized to each of
    `crop_widths` (MTCNN's box is about half the crop's width: 88 px at 180)."""
    canvas, face, left = Image.new("RGB", size, (90, 90, 90)), astronaut().crop((140, 20, 320, 220)), 40
    for width in crop_widths:
        canvas.paste(face.resize((width, round(width * 200 / 180))), (left, 100))
        left += width + 60
    return canvas


def face_crops(count: int, seed: int) -> list[Image.Image]:
    """Different crops (some mirrored) around the astronaut's face, as a face-crop dataset would hold them."""
    generator = np.random.default_rng(seed)
    image = astronaut()
    crops = []
    for _ in range(count):
        x, y, size = generator.integers(140, 210), generator.integers(30, 100), generator.integers(80, 170)
        crop = image.crop((x, y, x + size, y + size))
        crops.append(crop.transpose(Image.FLIP_LEFT_RIGHT) if generator.random() < 0.5 else crop)
    return crops


def calibration_batch(count: int = 16, seed: int = 0) -> torch.Tensor:
    """Face-like classifier inputs: `face_crops` as pixel values."""
    return DeepfakeDetectorImageProcessor()(face_crops(count, seed))["pixel_values"]


def make_model(seed: int = 0, calibrate_on: torch.Tensor | None = None, **config_kwargs):
    """A model with seeded random weights, calibrated on `calibrate_on` (default: crops around the astronaut's face).

    Unless told otherwise it judges every face (`min_judged_face=None`, so MTCNN looks from 20 px, as the original
    app did): the shipped judged size is the bundled model's measurement, meaningless for random weights, and the
    astronaut's face (87 px) is under it. Tests of the judged-size rule set `min_judged_face` themselves."""
    config_kwargs.setdefault("min_judged_face", None)
    return random_model(calibration_batch() if calibrate_on is None else calibrate_on, seed=seed, **config_kwargs)
