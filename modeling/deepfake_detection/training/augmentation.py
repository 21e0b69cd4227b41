"""Augmentations of face crops (HWC uint8 arrays) that keep the label, and self-blended images (extra fakes).

Everything works on one small crop with OpenCV and numpy, a fraction of a millisecond each, so preparing a batch
stays far cheaper than training on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentSettings:
    """Which label-keeping augmentations run, and how often (probabilities per crop)."""

    flip: float = 0.5
    shift_scale: float = 0.8
    colour: float = 0.8
    jpeg: float = 0.3
    rescale: float = 0.2
    cutout: float = 0.2
    resolution_cap: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: tuple[int, int] = (40, 96)
    rescale_smallest: float = 0.4

    @classmethod
    def none(cls) -> "AugmentSettings":
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def robust(cls) -> "AugmentSettings":
        """Light augmentation plus the degradations users' photos go through, drawn with the same probabilities
        whatever the label: a face-resolution cap (`cap_resolution`, so a sharp crop says nothing about the class),
        down/up-scaling to 0.25-1x, JPEG quality 30-95, mild blur and noise."""
        return cls(flip=0.5, shift_scale=0.0, colour=0.5, jpeg=0.5, rescale=0.3, cutout=0.0, resolution_cap=0.6,
                   blur=0.1, noise=0.1, jpeg_quality=(30, 96), rescale_smallest=0.25)

    @classmethod
    def light(cls) -> "AugmentSettings":
        """Flip and colour jitter only: nothing resamples, blurs or re-compresses the pixels, so the fine seams of a
        face swap reach the model intact (as in the 0.87 feasibility run's flip + brightness)."""
        return cls(flip=0.5, shift_scale=0.0, colour=0.5, jpeg=0.0, rescale=0.0, cutout=0.0)

    def describe(self) -> str:
        """The augmentations that run, in words ("none" when none does), for model cards."""
        names = {"flip": "flip", "shift_scale": "shift/scale", "colour": "colour jitter",
                 "rescale": "down/up-scaling", "jpeg": "JPEG re-compression", "cutout": "cutout",
                 "resolution_cap": "face-resolution cap", "blur": "blur", "noise": "noise"}
        used = [words for name, words in names.items() if getattr(self, name) > 0]
        return ", ".join(used) or "none"


AUGMENTATION_LEVELS = {"full": AugmentSettings(), "light": AugmentSettings.light(), "robust": AugmentSettings.robust(),
                       "none": AugmentSettings.none()}
"""The `--augment` choices: every augmentation, flip + colour only, light plus real-world degradations, or nothing."""


def augment(crop: np.ndarray, rng: np.random.Generator, settings: AugmentSettings = AugmentSettings(),
            face_width: float = float("nan")) -> np.ndarray:
    """A randomly altered copy of a `(size, size, 3)` uint8 crop, with the same shape and dtype.

    `face_width` is the face's width in its source image (`FaceCrops.face_widths`), which the resolution cap needs;
    NaN counts as the crop's own size. No step looks at the label: both classes go through the same draws.
    """
    out = crop
    if rng.random() < settings.resolution_cap:
        out = cap_resolution(out, face_width, rng)
    if rng.random() < settings.flip:
        out = out[:, ::-1]
    if rng.random() < settings.shift_scale:
        out = shift_scale(out, rng)
    if rng.random() < settings.colour:
        out = colour_jitter(out, rng)
    if rng.random() < settings.rescale:
        out = down_up_scale(out, rng, settings.rescale_smallest)
    if rng.random() < settings.blur:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < settings.noise:
        out = add_noise(out, rng)
    if rng.random() < settings.jpeg:
        out = jpeg_recompress(out, int(rng.integers(*settings.jpeg_quality)))
    if rng.random() < settings.cutout:
        out = cutout(out, rng)
    return np.ascontiguousarray(out)


def shift_scale(crop: np.ndarray, rng: np.random.Generator, max_shift: float = 0.06, scale=(0.92, 1.1)) -> np.ndarray:
    """Zoom by up to ±10% and shift by up to 6% of the side: detected boxes wobble about that much."""
    size = crop.shape[0]
    factor = rng.uniform(*scale)
    dx, dy = rng.uniform(-max_shift, max_shift, 2) * size
    matrix = np.array([[factor, 0, (1 - factor) * size / 2 + dx], [0, factor, (1 - factor) * size / 2 + dy]])
    return cv2.warpAffine(crop, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def colour_jitter(crop: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by up to ±`strength`."""
    image = crop.astype(np.float32)
    image *= rng.uniform(1 - strength, 1 + strength)
    mean = image.mean()
    image = (image - mean) * rng.uniform(1 - strength, 1 + strength) + mean
    grey = image.mean(axis=2, keepdims=True)
    image = (image - grey) * rng.uniform(1 - strength, 1 + strength) + grey
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def jpeg_recompress(crop: np.ndarray, quality: int) -> np.ndarray:
    """The crop after a JPEG round trip at `quality` (1-100), as re-uploaded videos are."""
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(crop[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]


def down_up_scale(crop: np.ndarray, rng: np.random.Generator, smallest: float = 0.4) -> np.ndarray:
    """Shrink to `smallest`-90% and scale back up: the blur of low-resolution faces."""
    return resample(crop, round(crop.shape[0] * rng.uniform(smallest, 0.9)))


def resample(crop: np.ndarray, side: int) -> np.ndarray:
    """The crop shrunk to `side` pixels (area averaging) and scaled back up to its size (bilinear)."""
    size = crop.shape[0]
    if side >= size:
        return crop
    shrunk = cv2.resize(crop, (max(8, side), max(8, side)), interpolation=cv2.INTER_AREA)
    return cv2.resize(shrunk, (size, size), interpolation=cv2.INTER_LINEAR)


def cap_resolution(crop: np.ndarray, face_width: float, rng: np.random.Generator, lowest: int = 64) -> np.ndarray:
    """Hold the face's real detail to a random 64 px-to-crop-size width, whatever its source resolution.

    A crop cut from a 250-px face is sharp, one cut from a 100-px face is an upscaled blur; when sources differ in
    size by label, sharpness alone gives the label away. Drawing one cap for every face, and shrinking only the crops
    whose face holds more detail than it, makes the resolution the model sees the same for both classes.
    """
    size = crop.shape[0]
    detail = size if np.isnan(face_width) else min(size, face_width)
    cap = rng.uniform(lowest, size)
    return resample(crop, round(cap)) if detail > cap else crop


def add_noise(crop: np.ndarray, rng: np.random.Generator, largest: float = 6.0) -> np.ndarray:
    """Gaussian sensor noise with a standard deviation of up to `largest` grey levels."""
    noisy = crop.astype(np.float32) + rng.normal(0.0, rng.uniform(1.0, largest), crop.shape).astype(np.float32)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def cutout(crop: np.ndarray, rng: np.random.Generator, largest: float = 0.35) -> np.ndarray:
    """Grey out a random rectangle up to 35% of the side, so no single region decides."""
    size = crop.shape[0]
    height, width = (rng.uniform(0.1, largest, 2) * size).astype(int)
    top, left = rng.integers(0, size - height), rng.integers(0, size - width)
    out = crop.copy()
    out[top : top + height, left : left + width] = 127
    return out


def landmark_mask(size: int, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft face mask (float32 in [0, 1], `(size, size)`) around MTCNN's five landmarks.

    The five points (eyes, nose, mouth corners) span the inner face; their hull is grown from its centre by a random
    1.4-1.9 and stretched towards the forehead, then blurred, as face-swap masks are.
    """
    points = landmarks.astype(np.float32)
    centre = points.mean(axis=0)
    grown = (points - centre) * rng.uniform(1.4, 1.9) + centre
    forehead = grown[:2] - np.array([0.0, rng.uniform(0.15, 0.3) * size], dtype=np.float32)
    hull = cv2.convexHull(np.concatenate([grown, forehead]).round().astype(np.int32))
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    kernel = int(rng.integers(2, 8)) * 2 + 1
    return cv2.GaussianBlur(mask, (kernel, kernel), 0)


def self_blend(crop: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended image (Shiohara & Yamasaki, CVPR 2022): the face blended into itself after a slight change.

    A copy of the crop is colour-shifted, sharpened or blurred, and shifted by a pixel or two, then pasted back
    through `landmark_mask`: the seams and colour mismatch of a face swap, without any other identity. Returns the
    blended crop and the mask; outside the mask (mask == 0) the crop is unchanged.
    """
    size = crop.shape[0]
    source = colour_jitter(crop, rng, strength=0.1)
    if rng.random() < 0.5:
        source = cv2.GaussianBlur(source, (3, 3), 0)
    else:
        blurred = cv2.GaussianBlur(source, (3, 3), 0).astype(np.float32)
        source = np.clip(source + 0.7 * (source - blurred), 0, 255).astype(np.uint8)
    dx, dy = rng.integers(-2, 3, 2)
    source = cv2.warpAffine(source, np.float32([[1, 0, dx], [0, 1, dy]]), (size, size), borderMode=cv2.BORDER_REFLECT)
    mask = landmark_mask(size, landmarks, rng) * rng.uniform(0.6, 1.0)
    alpha = mask[..., None]
    blended = np.where(alpha > 0, alpha * source + (1 - alpha) * crop, crop)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8), mask
