"""Torch datasets over cached face crops, and the collator that turns crops into the model's inputs exactly as inference does."""

from __future__ import annotations

import numpy as np
import torch

from ..image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
from .augmentation import AugmentSettings, augment, self_blend
from .crops import FAKE, FaceCrops

TEMPLATE_LANDMARKS = np.array([[0.34, 0.42], [0.66, 0.42], [0.5, 0.58], [0.37, 0.75], [0.63, 0.75]], np.float32)
"""Where MTCNN's five landmarks fall in a typical tight face crop, as fractions of its side: used when a crop has
none (crops mode), so it can still be self-blended."""


class FaceCropDataset(torch.utils.data.Dataset):
    """Items `{"crop": uint8 CHW tensor, "labels": class index}`; index `i + len(crops)` is real `i` self-blended.

    With `augment_settings`, each item is a fresh random augmentation, drawn anew each time it is read (a resumed
    run sees the same samples in the same order, with fresh augmentations).
    """

    def __init__(self, crops: FaceCrops, augment_settings: AugmentSettings | None = None, seed: int = 0):
        self.crops = crops
        self.augment_settings = augment_settings
        self.seed = seed
        self.draws = 0

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int) -> dict:
        size = len(self.crops)
        source = index % size
        pixels, label = self.crops.pixels[source], int(self.crops.labels[source])
        rng = np.random.default_rng([self.seed, index, self.draws, torch.initial_seed() % 2**32])
        self.draws += 1
        if index >= size:
            landmarks = self.crops.landmarks[source]
            if np.isnan(landmarks).any():
                landmarks = TEMPLATE_LANDMARKS * pixels.shape[0]
            pixels, _ = self_blend(pixels, landmarks, rng)
            label = FAKE
        if self.augment_settings is not None:
            pixels = augment(pixels, rng, self.augment_settings, float(self.crops.face_widths[source]))
        return {"crop": torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1), "labels": label}


class CropCollator:
    """Stacks crops and runs the model's own image processor on them (resize to `image_size`, scale to 0-1)."""

    def __init__(self, processor: DeepfakeDetectorImageProcessor, channels_last: bool = True):
        self.processor = processor
        self.channels_last = channels_last

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        crops = torch.stack([item["crop"] for item in items]).float()
        pixel_values = self.processor(crops, return_tensors="pt")["pixel_values"]
        if self.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        return {"pixel_values": pixel_values, "labels": torch.tensor([item["labels"] for item in items])}
