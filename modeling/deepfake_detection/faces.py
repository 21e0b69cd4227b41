"""Face detection: MTCNN (with the weights shipped in the facenet-pytorch wheel) finds faces and cuts their crops.

Reading images is `images.py`'s job; this module gets RGB PIL images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import extract_face
from PIL import Image

from .configuration_deepfake_detector import DeepfakeDetectorConfig

FACE_MODES = ("detect", "crops")
"""How a dataset's images become faces: `detect` finds them as the pipeline does; `crops` takes each image as one."""


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
    def width(self) -> float:
        """The box's width in image pixels: what the judged-size rule (`min_judged_face`) reads."""
        return max(self.box[2] - self.box[0], 0.0)

    @property
    def area(self) -> float:
        return max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0)

    def crop_image(self) -> Image.Image:
        """The crop as a PIL image, for display."""
        return Image.fromarray(self.crop.permute(1, 2, 0).clamp(0, 255).to(torch.uint8).numpy())


class FaceDetector:
    """Finds every face in an image with MTCNN and cuts `crop_size` crops exactly as facenet-pytorch's MTCNN does.

    `selection` keeps all faces (`"all"`, most confident first), the `"largest"`, or the `"most_confident"` one (what
    the original app's `MTCNN(select_largest=False)` returns). With `max_side`, detection runs on a downscaled copy and
    the boxes are mapped back, which is faster on large frames but moves the boxes slightly. `channels_last` runs
    MTCNN's three networks channels-last: about 15-20% faster on full-HD frames on CPUs, boxes within ~2e-4 px of the
    original layout's (`False` keeps the original arithmetic exactly).

    Faces narrower than `min_judged_face` px are too small to judge: `split` sets them apart, the selection policy
    picks among the judged faces only, and the too-small faces come last. `None` (the constructor's default) judges
    every face; `from_config` takes the model's rule. `min_face_size=None` sizes MTCNN's pyramid to that rule
    (`DeepfakeDetectorConfig.detection_size`: 20 when every face is judged, as facenet-pytorch's default).
    """

    def __init__(
        self,
        crop_size: int = 160,
        margin: int = 0,
        selection: str = "all",
        min_face_size: int | None = None,
        min_judged_face: int | None = None,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        max_side: int | None = None,
        channels_last: bool = True,
        device: str | torch.device = "cpu",
    ):
        DeepfakeDetectorConfig.check_face_selection(selection)
        for name, value in (("min_face_size", min_face_size), ("min_judged_face", min_judged_face)):
            DeepfakeDetectorConfig.check_face_width(name, value)
        self.min_judged_face = min_judged_face
        self.crop_size = crop_size
        self.margin = margin
        self.selection = selection
        self.max_side = max_side
        self.mtcnn = MTCNN(
            image_size=crop_size,
            margin=margin,
            min_face_size=DeepfakeDetectorConfig.detection_size(min_face_size, min_judged_face),
            thresholds=list(thresholds),
            select_largest=False,
            post_process=False,
            keep_all=True,
            device=device,
        ).eval()
        if channels_last:
            self.mtcnn.to(memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, config, **overrides) -> "FaceDetector":
        """Build the detector from a `DeepfakeDetectorConfig`'s face settings; keyword arguments override them (`None`
        keeps the config's, except for `min_judged_face`, where `None` means judge every face)."""
        settings = dict(
            min_judged_face=overrides.pop("min_judged_face", config.min_judged_face),
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
        """All faces of one RGB PIL image: the judged ones after the selection policy, then those too small to judge
        (see `split`); an empty list when there is none."""
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

    def split(self, faces: Sequence[Face]) -> tuple[list[Face], list[Face]]:
        """The faces that are judged and those too small to judge (`DeepfakeDetectorConfig.is_judged`), in order."""
        judged = [face for face in faces if DeepfakeDetectorConfig.is_judged(face.width, self.min_judged_face)]
        return judged, [face for face in faces if not DeepfakeDetectorConfig.is_judged(face.width, self.min_judged_face)]

    def _faces(self, image: Image.Image, boxes, probs, points) -> list[Face]:
        """The selected judged faces, most confident (or largest) first, then every face too small to judge."""
        if boxes is None or len(boxes) == 0:
            return []
        faces = [
            Face(
                box=tuple(float(v) for v in boxes[i]),
                confidence=float(probs[i]),
                landmarks=[(float(x), float(y)) for x, y in points[i]],
                crop=extract_face(image, boxes[i], self.crop_size, self.margin),
            )
            for i in np.argsort(probs)[::-1]
        ]
        judged, too_small = self.split(faces)
        if self.selection == "largest" and judged:
            judged = [max(judged, key=lambda face: face.area)]
        elif self.selection == "most_confident":
            judged = judged[:1]
        return judged + too_small
