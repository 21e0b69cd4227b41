"""Stand-in models for tests and benchmarks: seeded random weights that give spread, reproducible scores.

No pretrained weights are needed: batch-norm statistics are set from a calibration batch (as training would) and
the final layer is standardised on it, so scores spread over (0, 1) without amplifying rounding noise. Such a model
detects nothing; it only makes parity, speed and plumbing measurable.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .configuration_deepfake_detector import DeepfakeDetectorConfig
from .image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
from .modeling_deepfake_detector import DeepfakeDetectorForImageClassification


def random_model(calibrate_on: torch.Tensor, seed: int = 0, **config_kwargs) -> DeepfakeDetectorForImageClassification:
    """A model with seeded random weights, calibrated on the `(batch, 3, size, size)` pixel values `calibrate_on`."""
    torch.manual_seed(seed)
    model = DeepfakeDetectorForImageClassification(DeepfakeDetectorConfig(**config_kwargs))
    norms = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: the statistics of exactly this batch
    with torch.inference_mode():
        model.train()(calibrate_on)
        model.eval()
        for norm in norms:
            norm.momentum = 0.1
        logits = model.score_logits(calibrate_on)
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
