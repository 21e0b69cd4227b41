"""From one image's detected faces to its result: judged faces scored, faces too small to judge only reported.

Which faces are judged is decided once, by `FaceDetector.split` (the rule itself is
`DeepfakeDetectorConfig.is_judged`, set by `min_judged_face`); this module turns each side of that split into
results, so images, video frames, evaluation and the Space all read the same `ImageResult.too_small`.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from PIL import Image

from .explain import face_overlay, image_overlay
from .faces import Face
from .modeling_deepfake_detector import FaceVerdict
from .outputs import FaceResult, ImageResult, TooSmallFace


def face_result(face: Face, score: float, config, threshold: float | None, heatmap=None) -> FaceResult:
    """One judged face's result: its verdict at `threshold`, where it is, and its Grad-CAM when explained."""
    verdict = FaceVerdict.from_score(score, config, threshold)
    return FaceResult(
        **verdict,
        box=[round(v, 2) for v in face.box],
        detection_confidence=face.confidence,
        landmarks=[[round(x, 2), round(y, 2)] for x, y in face.landmarks],
        heatmap=heatmap,
        face_overlay=face_overlay(face, heatmap, config.image_size) if heatmap is not None else None,
    )


def image_result(image: Image.Image, faces: Sequence[Face], too_small: Sequence[Face], scores: Iterator[float],
                 heatmaps: Iterator | None, config, threshold: float | None,
                 min_judged_face: int | None) -> ImageResult:
    """One image's result: its judged `faces` (taking their scores and heatmaps, in order) decide the verdict; the
    `too_small` faces are reported with their boxes and never scored."""
    results = [face_result(face, next(scores), config, threshold, next(heatmaps) if heatmaps else None)
               for face in faces]
    overlay = None
    if heatmaps is not None and faces:  # no judged face, nothing explained: no overlay, alone or in a list
        overlay = image_overlay(image, list(faces), [face.heatmap for face in results])
    return ImageResult.from_faces(results, overlay=overlay, too_small=[TooSmallFace.from_face(face) for face in too_small],
                                  min_judged_face=min_judged_face)
