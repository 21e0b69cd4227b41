"""Face detection: MTCNN (with the weights shipped in the facenet-pytorch wheel) finds faces and cuts their crops."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import extract_face
from PIL import Image, ImageOps, UnidentifiedImageError

from .configuration_deepfake_detector import FACE_SELECTIONS

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, bytes]


class ImageLoadError(ValueError):
    """An input could not be read as an image; the message names the input and what to do."""


@dataclass
class Face:
    """One detected face: its box `(x1, y1, x2, y2)` in image pixels, MTCNN's confidence, 5 landmarks, and the crop.

    `crop` is a `(3, crop_size, crop_size)` float tensor of 0-255 values, exactly what facenet-pytorch's MTCNN returns
    with `post_process=False`.
    """

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: list[tuple[float, float]]
    crop: torch.Tensor = field(repr=False)

    @property
    def area(self) -> float:
        return max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0)

    def crop_image(self) -> Image.Image:
        """The crop as a PIL image, for display."""
        return Image.fromarray(self.crop.permute(1, 2, 0).clamp(0, 255).to(torch.uint8).numpy())


def load_image(image: ImageInput, timeout: float | None = None) -> Image.Image:
    """Read a path, URL, bytes, PIL image or HWC array as an RGB PIL image (EXIF orientation applied).

    Raises `ImageLoadError` with the reason when the input is not a readable image.
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    if isinstance(image, np.ndarray):
        return _array_to_image(image)
    if isinstance(image, bytes):
        source, opener = "the given bytes", lambda: Image.open(io.BytesIO(image))
    elif isinstance(image, (str, os.PathLike)):
        source = str(image)
        if source.startswith(("http://", "https://")):
            return _load_url(source, timeout)
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{source}: no such file. Check the path.")
        opener = lambda: Image.open(path)  # noqa: E731
    else:
        raise ImageLoadError(
            f"Cannot read an image from a {type(image).__name__}: pass a path, URL, bytes, PIL image or numpy array."
        )
    try:
        with opener() as opened:
            opened.load()
            return ImageOps.exif_transpose(opened).convert("RGB")
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"{source}: image too large ({error}). Downscale it first.") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"{source}: not a readable image ({error}). Use a JPEG, PNG or WebP file.") from error


def _load_url(url: str, timeout: float | None) -> Image.Image:
    from transformers.image_utils import load_image as load_remote_image

    try:
        return ImageOps.exif_transpose(load_remote_image(url, timeout=timeout)).convert("RGB")
    except Exception as error:  # network and decoding errors come in many types; all mean the same to the user
        raise ImageLoadError(f"{url}: could not download an image ({error}). Check the URL.") from error


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageLoadError(f"An image array must be HxW, HxWx3 (RGB) or HxWx4, got shape {array.shape}.")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array[..., :3])


class FaceDetector:
    """Finds every face in an image with MTCNN and cuts `crop_size` crops exactly as facenet-pytorch's MTCNN does.

    `selection` keeps all faces (`"all"`, most confident first), the `"largest"`, or the `"most_confident"` one (what
    the original app's `MTCNN(select_largest=False)` returns). With `max_side`, detection runs on a downscaled copy and
    the boxes are mapped back, which is faster on large frames but moves the boxes slightly.
    """

    def __init__(
        self,
        crop_size: int = 160,
        margin: int = 0,
        selection: str = "all",
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        max_side: int | None = None,
        device: str | torch.device = "cpu",
    ):
        if selection not in FACE_SELECTIONS:
            raise ValueError(f"selection must be one of {FACE_SELECTIONS}, got {selection!r}.")
        self.crop_size = crop_size
        self.margin = margin
        self.selection = selection
        self.max_side = max_side
        self.mtcnn = MTCNN(
            image_size=crop_size,
            margin=margin,
            min_face_size=min_face_size,
            thresholds=list(thresholds),
            select_largest=False,
            post_process=False,
            keep_all=True,
            device=device,
        ).eval()

    @classmethod
    def from_config(cls, config, **overrides) -> "FaceDetector":
        """Build the detector from a `DeepfakeDetectorConfig`'s face settings; keyword arguments override them."""
        settings = dict(
            crop_size=config.face_crop_size,
            margin=config.face_margin,
            selection=config.face_selection,
            min_face_size=config.min_face_size,
            thresholds=config.detection_thresholds,
            max_side=config.detection_max_side,
        )
        settings.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**settings)

    def detect(self, image: Image.Image) -> list[Face]:
        """All faces of one RGB PIL image, after the selection policy; an empty list when there is none."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[Image.Image]) -> list[list[Face]]:
        """Faces of several images. They go through MTCNN one at a time: on CPUs, stacking full-HD frames into one
        MTCNN batch is slower per frame and needs more memory (measured by scripts/benchmark.py)."""
        return [self._faces(image, *self._detect_boxes(image)) for image in images]

    def _detect_boxes(self, image: Image.Image) -> tuple:
        scale = 1.0
        if self.max_side is not None and max(image.size) > self.max_side:
            scale = self.max_side / max(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        if min(image.size) < self.mtcnn.min_face_size:
            return None, None, None  # smaller than the smallest face MTCNN looks for (it would fail on it)
        boxes, probs, points = self.mtcnn.detect(image, landmarks=True)
        if boxes is None:
            return None, None, None
        # facenet-pytorch 2.5.3 returns object arrays under numpy 2: cast them.
        return (
            np.asarray(boxes, dtype=np.float64) / scale,
            np.asarray(probs, dtype=np.float64),
            np.asarray(points, dtype=np.float64) / scale,
        )

    def _faces(self, image: Image.Image, boxes, probs, points) -> list[Face]:
        if boxes is None or len(boxes) == 0:
            return []
        if self.selection == "largest":
            order = np.argsort((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[::-1][:1]
        else:
            order = np.argsort(probs)[::-1]
            if self.selection == "most_confident":
                order = order[:1]
        return [
            Face(
                box=tuple(float(v) for v in boxes[i]),
                confidence=float(probs[i]),
                landmarks=[(float(x), float(y)) for x, y in points[i]],
                crop=extract_face(image, boxes[i], self.crop_size, self.margin),
            )
            for i in order
        ]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def find_images(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand folders into the image files they hold (recursively, sorted); files are kept as given, in order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found
