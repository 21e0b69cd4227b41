"""Training the detector on real and fake faces: cached face crops, paired batches, augmentations, `Trainer`.

`train_on_dataset` is the whole job (what `deepfake-detection train` runs); the pieces are importable for other
recipes: `prepare_face_crops`, `PairedSampler`, `augment` / `self_blend`, and `train`.
"""

from .augment import AugmentSettings, augment, self_blend
from .crops import FaceCrops, prepare_face_crops
from .pairs import PairedSampler
from .run import load_crops, train_on_dataset
from .trainer import TrainingRecipe, train

__all__ = [
    "AugmentSettings",
    "FaceCrops",
    "PairedSampler",
    "TrainingRecipe",
    "augment",
    "load_crops",
    "prepare_face_crops",
    "self_blend",
    "train",
    "train_on_dataset",
]
