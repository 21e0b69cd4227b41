"""What the pipeline returns: one `FaceResult` per detected face and one `ImageResult` per image.

The verdict rule (`FaceVerdict.from_score`, from the model file) and the "most suspicious face decides" rule
(`most_suspicious`) live here once; the pipeline, evaluation, the CLI and the Space all read these results.
(Evaluation's per-image record, `Prediction`, lives with the metrics computed from it.)
Results read as attributes or, like transformers' `ModelOutput`, as keys; `to_dict()` is their JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from .modeling_deepfake_detector import DetectorOutput, FaceVerdict
from .tracking import DEFAULT_TOP_K, aggregate

NO_FACE_MESSAGE = "No face detected. Use a photo or frame where a face is clearly visible and not too small."
NO_FACE_IN_VIDEO_MESSAGE = (
    "No face detected in any sampled frame. Use a clip where a face is clearly visible, or sample more frames."
)
TOO_SMALL_IN_VIDEO_MESSAGE = (
    "No sampled frame has a face large enough to judge: the faces found are all under {min_width} px wide, too small "
    "for a verdict. Use a clip where a face is larger (closer, or at a higher resolution), or sample more frames."
)


def too_small_message(count: int, min_width: int | None) -> str:
    """Why an image whose every face is too small to judge has no verdict, and what to do (not "no face")."""
    faces = "1 face was found, but it is" if count == 1 else f"{count} faces were found, but all are"
    return (f"{faces} too small to judge (under {min_width} px wide): a face that small carries too little evidence "
            "for a verdict. Use a photo where the face is larger (closer, or at a higher resolution).")


@dataclass(eq=True)
class TooSmallFace(DetectorOutput):
    """A face the detector found but that is too small to judge (narrower than `min_judged_face`): where it is
    (`box` as `(x1, y1, x2, y2)` image pixels), its `width` in pixels and MTCNN's `detection_confidence`. It is not
    scored and takes no part in any verdict."""

    box: list[float]
    width: float
    detection_confidence: float | None = None

    @classmethod
    def from_face(cls, face) -> TooSmallFace:
        """The report of a detected `faces.Face` that the judged-size rule sets apart."""
        return cls(box=[round(v, 2) for v in face.box], width=round(face.width, 1),
                   detection_confidence=face.confidence)


@dataclass(eq=True)
class FaceResult(FaceVerdict):
    """One detected face: its verdict, where it is (`box` as `(x1, y1, x2, y2)` image pixels, MTCNN's
    `detection_confidence`, 5 `landmarks`), and with `explain=True` its Grad-CAM `heatmap` and `face_overlay`."""

    box: list[float] = field(default_factory=list)
    detection_confidence: float | None = None
    landmarks: list[list[float]] = field(default_factory=list)
    heatmap: Any = field(default=None, repr=False, compare=False)
    face_overlay: Any = field(default=None, repr=False, compare=False)


def most_suspicious(faces: Sequence[FaceVerdict]) -> FaceVerdict | None:
    """The face with the highest fake probability: the one whose verdict is the image's (`None` without faces)."""
    return max(faces, key=lambda face: face.probabilities["fake"], default=None)


@dataclass(eq=True)
class ImageResult(DetectorOutput):
    """One image: the verdict (`label`) and `fake_probability` of its most suspicious judged face, every judged face
    (`num_faces` of them), and the faces `too_small` to judge (reported, never scored).

    Without a judged face, `label` is `None` and `message` says why (no face, or every face too small); an input that
    could not be read or analysed has an `error` instead. With `explain=True`, `overlay` shows every face's heatmap.
    """

    label: str | None
    fake_probability: float | None
    num_faces: int
    faces: list[FaceResult]
    too_small: list[TooSmallFace] = field(default_factory=list)
    message: str | None = None
    error: str | None = None
    overlay: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_faces(cls, faces: list[FaceResult], overlay: Any = None, too_small: Sequence[TooSmallFace] = (),
                   min_judged_face: int | None = None) -> ImageResult:
        """The image's result from its judged faces (the most suspicious one decides) and those too small to judge."""
        suspect, too_small = most_suspicious(faces), list(too_small)
        if suspect is None:
            message = too_small_message(len(too_small), min_judged_face) if too_small else NO_FACE_MESSAGE
            return cls(label=None, fake_probability=None, num_faces=0, faces=[], too_small=too_small, message=message,
                       overlay=overlay)
        return cls(label=suspect.label, fake_probability=suspect.probabilities["fake"], num_faces=len(faces),
                   faces=faces, too_small=too_small, overlay=overlay)

    @classmethod
    def unreadable(cls, reason: str) -> ImageResult:
        """The result for an input that could not be read or analysed: no verdict, no faces, and the reason."""
        return cls(label=None, fake_probability=None, num_faces=0, faces=[], error=reason)

    @property
    def suspect(self) -> FaceResult | None:
        """The face whose verdict is the image's."""
        return most_suspicious(self.faces)

    @property
    def all_too_small(self) -> bool:
        """Whether faces were found but none is judged: every one is too small (no verdict, and not "no face")."""
        return not self.faces and bool(self.too_small)

    def relabel(self, config, threshold: float) -> ImageResult:
        """The same result with every verdict taken at another threshold, without running the model again."""
        if self.error is not None:
            return self
        faces = [face.relabel(config, threshold) for face in self.faces]
        return ImageResult.from_faces(faces, overlay=self.overlay, too_small=self.too_small,
                                      min_judged_face=config.min_judged_face)


@dataclass(eq=True)
class FrameResult(DetectorOutput):
    """One sampled video frame: where it is (`index`, `time_s`), its judged faces, the track (person) of each, and the
    faces `too_small` to judge (in no track and no verdict)."""

    index: int
    time_s: float
    faces: list[FaceResult]
    track_ids: list[int]
    too_small: list[TooSmallFace] = field(default_factory=list)
    error: str | None = None
    overlay: Any = field(default=None, repr=False, compare=False)

    @property
    def fake_probability(self) -> float | None:
        """The frame's most suspicious face's fake probability (`None` without faces)."""
        suspect = most_suspicious(self.faces)
        return None if suspect is None else suspect.probabilities["fake"]


@dataclass(eq=True)
class TrackResult(FaceVerdict):
    """One person followed through a video: the verdict of their fake probability aggregated over time, and the
    sequence it came from (one value per sampled frame where they were found)."""

    track_id: int = 1
    frame_indices: list[int] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    fake_probabilities: list[float] = field(default_factory=list)


@dataclass(eq=True)
class VideoResult(DetectorOutput):
    """One video: the verdict (`label`) and `fake_probability` of its most suspicious person (track), every track,
    every sampled frame, how many sampled frames had no judged face (`frames_without_faces`) and, of those, how many
    had only faces too small to judge (`frames_too_small`). `aggregation` says how scores over time were combined.
    Without a judged face in any frame, `label` is `None` and `message` says why; an unreadable video has `error`.
    `notice` says what the file did not deliver (a header that promised more frames than decode, frames left out)."""

    label: str | None
    fake_probability: float | None
    num_tracks: int
    tracks: list[TrackResult]
    frames: list[FrameResult]
    frames_sampled: int
    frames_without_faces: int
    aggregation: str
    frames_too_small: int = 0
    top_k: int | None = None
    fps: float | None = None
    duration_s: float | None = None
    message: str | None = None
    error: str | None = None
    notice: str | None = None

    @classmethod
    def from_frames(cls, frames: list[FrameResult], config, aggregation: str = "mean", top_k: int = DEFAULT_TOP_K,
                    threshold: float | None = None, **info) -> VideoResult:
        """The video's result from its analysed frames (faces already linked into tracks): each track's fake
        probabilities aggregated over time give its verdict, and the most suspicious track decides."""
        sequences: dict[int, list[tuple[FrameResult, FaceResult]]] = {}
        for frame in frames:
            for face, track_id in zip(frame.faces, frame.track_ids):
                sequences.setdefault(track_id, []).append((frame, face))
        tracks = [
            TrackResult.from_fake_probability(
                aggregate([face.probabilities["fake"] for _, face in seen], aggregation, top_k), config, threshold,
                track_id=track_id, frame_indices=[frame.index for frame, _ in seen],
                times_s=[frame.time_s for frame, _ in seen],
                fake_probabilities=[face.probabilities["fake"] for _, face in seen],
            )
            for track_id, seen in sorted(sequences.items())
        ]
        suspect = most_suspicious(tracks)
        too_small = sum(not frame.faces and bool(frame.too_small) for frame in frames)
        message = None if suspect else NO_FACE_IN_VIDEO_MESSAGE if not too_small else TOO_SMALL_IN_VIDEO_MESSAGE.format(
            min_width=config.min_judged_face)
        return cls(
            label=suspect.label if suspect else None,
            fake_probability=suspect.probabilities["fake"] if suspect else None,
            num_tracks=len(tracks), tracks=tracks, frames=frames, frames_sampled=len(frames),
            frames_without_faces=sum(not frame.faces for frame in frames), aggregation=aggregation,
            frames_too_small=too_small, top_k=top_k if aggregation == "topk" else None, message=message, **info,
        )

    def relabel(self, config, threshold: float) -> VideoResult:
        """The same result with every verdict taken at another threshold, without running the model again."""
        if self.error is not None:
            return self
        frames = [replace(frame, faces=[face.relabel(config, threshold) for face in frame.faces])
                  for frame in self.frames]
        return VideoResult.from_frames(frames, config, self.aggregation, self.top_k or DEFAULT_TOP_K, threshold,
                                       fps=self.fps, duration_s=self.duration_s, notice=self.notice)

    @property
    def all_too_small(self) -> bool:
        """Whether no sampled frame had a judged face but some had faces too small to judge (no verdict, not "no
        face")."""
        return not self.tracks and self.frames_too_small > 0

    @classmethod
    def unreadable(cls, reason: str, aggregation: str = "mean") -> VideoResult:
        """The result for a video that could not be read: no verdict, no frames, and the reason."""
        return cls(label=None, fake_probability=None, num_tracks=0, tracks=[], frames=[], frames_sampled=0,
                   frames_without_faces=0, aggregation=aggregation, error=reason)

    @property
    def suspect(self) -> TrackResult | None:
        """The track whose verdict is the video's."""
        return most_suspicious(self.tracks)

    def suspicious_frames(self, count: int) -> list[FrameResult]:
        """The `count` frames whose most suspicious face is the most likely fake, most suspicious first."""
        with_faces = [frame for frame in self.frames if frame.faces]
        return sorted(with_faces, key=lambda frame: -frame.fake_probability)[:count]

    def table(self) -> list[dict[str, Any]]:
        """One row per face per sampled frame: frame, time, track, box, scores and label (for CSV and JSON)."""
        return [
            {"frame": frame.index, "time_s": round(frame.time_s, 3), "track": track_id,
             "box": [round(v, 1) for v in face.box], "score": face.score,
             "fake_probability": face.probabilities["fake"], "label": face.label}
            for frame in self.frames
            for face, track_id in zip(frame.faces, frame.track_ids)
        ]
