"""Training the detector on real and fake faces: cached face crops, paired batches, augmentations, `Trainer`.

`train_on_dataset` is the whole job (what `deepfake-detection train` runs); the pieces are importable for other
recipes: `prepare_face_crops`, `PairedSampler`, `augment` / `self_blend`, `WeightEMA`, and `train`. Names are
imported on first use, so the command line can read `TrainingRecipe`'s defaults without loading torch or OpenCV.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "AugmentSettings": "augmentation",
    "FaceCrops": "crops",
    "PairedSampler": "pairs",
    "TrainingRecipe": "recipe",
    "WeightEMA": "ema",
    "augment": "augmentation",
    "load_crops": "run",
    "prepare_face_crops": "crops",
    "self_blend": "augmentation",
    "train": "trainer",
    "train_on_dataset": "run",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value
