"""Small deepfake detectors with controlled weights for the tests (no pretrained weights exist on this machine).

`make_model` is the package's `testing.random_model` calibrated on face crops from a real photo.
The scores mean nothing about deepfakes; tests only use them as known, reproducible numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from skimage import data

from deepfake_detection import DeepfakeDetectorImageProcessor
from deepfake_detection.testing import random_model, save_model

__all__ = ["astronaut", "calibration_batch", "make_model", "save_model"]


def astronaut() -> Image.Image:
    """A real face photo shipped with scikit-image (512x512, one face)."""
    return Image.fromarray(data.astronaut())


def calibration_batch(count: int = 16, seed: int = 0) -> torch.Tensor:
    """Face-like classifier inputs: random crops and flips around the astronaut's face, as pixel values."""
    generator = np.random.default_rng(seed)
    image = astronaut()
    crops = []
    for _ in range(count):
        x, y, size = generator.integers(150, 200), generator.integers(40, 90), generator.integers(90, 160)
        crop = image.crop((x, y, x + size, y + size))
        crops.append(crop.transpose(Image.FLIP_LEFT_RIGHT) if generator.random() < 0.5 else crop)
    return DeepfakeDetectorImageProcessor()(crops)["pixel_values"]


def make_model(seed: int = 0, calibrate_on: torch.Tensor | None = None, **config_kwargs):
    """A model with seeded random weights, calibrated on `calibrate_on` (default: crops around the astronaut's face)."""
    return random_model(calibration_batch() if calibrate_on is None else calibrate_on, seed=seed, **config_kwargs)
