"""Real-world degradations in training: label-blind, shape-keeping, and the resolution cap that hides a source's size."""

import numpy as np
import pytest
from model_factory import astronaut

from deepfake_detection.training import FaceCrops
from deepfake_detection.training.augmentation import (
    AUGMENTATION_LEVELS,
    AugmentSettings,
    add_noise,
    augment,
    cap_resolution,
    resample,
)
from deepfake_detection.training.crops import FAKE, NO_GROUP, REAL
from deepfake_detection.training.data import FaceCropDataset


def face_crop(size: int = 160) -> np.ndarray:
    return np.asarray(astronaut().crop((170, 60, 330, 220)).resize((size, size)))


def detail(crop: np.ndarray) -> float:
    """Fine detail: the mean absolute difference between neighbouring pixels."""
    values = crop.astype(np.float32)
    return float(np.abs(np.diff(values, axis=0)).mean() + np.abs(np.diff(values, axis=1)).mean())


def test_robust_degradations_keep_shape_and_dtype():
    crop = face_crop()
    settings = AugmentSettings(flip=0, shift_scale=0, colour=0, jpeg=1, rescale=1, cutout=0, resolution_cap=1,
                               blur=1, noise=1, jpeg_quality=(30, 31), rescale_smallest=0.25)
    rng = np.random.default_rng(0)
    for width in (float("nan"), 60.0, 400.0):
        out = augment(crop, rng, settings, face_width=width)
        assert out.shape == crop.shape and out.dtype == np.uint8
        assert not np.array_equal(out, crop)


def test_degradations_are_drawn_at_the_same_rate_for_real_and_fake_faces():
    """The dataset applies the same draws whatever the label: the detail lost is the same for both classes."""
    count = 200
    pixels = np.repeat(face_crop()[None], count, axis=0)
    labels = np.array([REAL, FAKE] * (count // 2))
    crops = FaceCrops(pixels, labels, np.full(count, NO_GROUP), np.full((count, 5, 2), np.nan, np.float32),
                      [f"{i}.png" for i in range(count)], face_widths=np.full(count, 250.0, np.float32))
    dataset = FaceCropDataset(crops, AUGMENTATION_LEVELS["robust"], seed=5)
    items = [dataset[i] for i in range(count)]
    assert [item["labels"] for item in items] == labels.tolist()  # labels untouched
    lost = np.array([detail(pixels[0]) - detail(item["crop"].permute(1, 2, 0).numpy()) for item in items])
    changed = np.array([not np.array_equal(item["crop"].permute(1, 2, 0).numpy(), pixels[0]) for item in items])
    for values in (lost, changed.astype(float)):
        real, fake = values[labels == REAL], values[labels == FAKE]
        standard_error = np.sqrt(real.var() / len(real) + fake.var() / len(fake))
        assert abs(real.mean() - fake.mean()) < 4 * standard_error + 1e-9


def test_the_resolution_cap_shrinks_only_faces_with_more_detail_than_the_cap():
    crop = face_crop()
    rng = np.random.default_rng(1)
    low = [cap_resolution(crop, 60.0, rng) for _ in range(50)]
    assert all(out is crop for out in low)  # a 60-px face has less detail than any cap (64 px and up)
    high = [cap_resolution(crop, 400.0, rng) for _ in range(200)]
    shrunk = np.mean([out is not crop for out in high])
    assert 0.9 < shrunk <= 1.0  # nearly every cap in 64-160 px is below a 400-px face's detail
    assert detail(np.mean(high, axis=0)) < detail(crop)


def test_resample_and_noise_keep_the_crop_and_change_it_as_named():
    crop = face_crop()
    assert resample(crop, 200) is crop  # nothing to remove above the crop's own size
    blurred = resample(crop, 40)
    assert blurred.shape == crop.shape and detail(blurred) < 0.7 * detail(crop)
    noisy = add_noise(crop, np.random.default_rng(2))
    assert noisy.dtype == np.uint8 and 0.5 < np.abs(noisy.astype(int) - crop).mean() < 8


def test_robust_is_a_named_level_and_describes_its_steps():
    assert "robust" in AUGMENTATION_LEVELS
    words = AUGMENTATION_LEVELS["robust"].describe()
    for step in ("face-resolution cap", "JPEG re-compression", "down/up-scaling", "blur", "noise"):
        assert step in words
    with pytest.raises(ValueError, match="augment must be one of"):
        from deepfake_detection.training import TrainingRecipe

        TrainingRecipe(augment="extreme")
