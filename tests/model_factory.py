"""Small deepfake detectors with controlled weights for the tests (no pretrained weights exist on this machine).

A randomly initialised InceptionResnetV1 gives nearly the same logit to every input. `make_model` therefore sets the
batch-norm statistics from a calibration batch (as training would) and standardises the final layer on it, so that
scores spread over (0, 1) and differ between faces without amplifying rounding noise.
The scores mean nothing about deepfakes; tests only use them as known, reproducible numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

from deepfake_detection import (
    DeepfakeDetectorConfig,
    DeepfakeDetectorForImageClassification,
    DeepfakeDetectorImageProcessor,
)


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


def make_model(
    seed: int = 0, calibrate_on: torch.Tensor | None = None, **config_kwargs
) -> DeepfakeDetectorForImageClassification:
    """A model with seeded random weights whose logits are standardised on `calibrate_on` (default: face crops)."""
    torch.manual_seed(seed)
    model = DeepfakeDetectorForImageClassification(DeepfakeDetectorConfig(**config_kwargs)).eval()
    inputs = calibration_batch() if calibrate_on is None else calibrate_on
    norms = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: the statistics of exactly this batch
    with torch.inference_mode():
        model.train()(inputs)
        model.eval()
        for norm in norms:
            norm.momentum = 0.1
        logits = model.score_logits(inputs)
        mean, std = logits.mean(), logits.std()
        model.inception.logits.weight.div_(std)
        model.inception.logits.bias.sub_(mean).div_(std)
    return model


def save_model(model: DeepfakeDetectorForImageClassification, folder: str | Path) -> Path:
    """Save model, config and processor config (with their code) as a loadable model folder."""
    folder = Path(folder)
    model.save_pretrained(folder)
    config = model.config
    DeepfakeDetectorImageProcessor(face_crop_size=config.face_crop_size, size=config.image_size).save_pretrained(folder)
    return folder
