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
    """One image: the verdict (`label`) and `fake_probability` of its most suspicious face, and every face.

    Without a face, `label` is `None` and `message` says so; an input that could not be read or analysed has an
    `error` instead. With `explain=True`, `overlay` shows every face's heatmap on the image.
    """

    label: str | None
    fake_probability: float | None
    num_faces: int
    faces: list[FaceResult]
    message: str | None = None
    error: str | None = None
    overlay: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_faces(cls, faces: list[FaceResult], overlay: Any = None) -> ImageResult:
        """The image's result from its faces: the most suspicious one decides."""
        suspect = most_suspicious(faces)
        if suspect is None:
            return cls(label=None, fake_probability=None, num_faces=0, faces=[], message=NO_FACE_MESSAGE, overlay=overlay)
        return cls(label=suspect.label, fake_probability=suspect.probabilities["fake"], num_faces=len(faces),
                   faces=faces, overlay=overlay)

    @classmethod
    def unreadable(cls, reason: str) -> ImageResult:
        """The result for an input that could not be read or analysed: no verdict, no faces, and the reason."""
        return cls(label=None, fake_probability=None, num_faces=0, faces=[], error=reason)

    @property
    def suspect(self) -> FaceResult | None:
        """The face whose verdict is the image's."""
        return most_suspicious(self.faces)

    def relabel(self, config, threshold: float) -> ImageResult:
        """The same result with every verdict taken at another threshold, without running the model again."""
        if self.error is not None:
            return self
        faces = [face.relabel(config, threshold) for face in self.faces]
        return ImageResult.from_faces(faces, overlay=self.overlay)


@dataclass(eq=True)
class FrameResult(DetectorOutput):
    """One sampled video frame: where it is (`index`, `time_s`), its faces, and the track (person) of each face."""

    index: int
    time_s: float
    faces: list[FaceResult]
    track_ids: list[int]
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
    every sampled frame, and how many sampled frames had no face. `aggregation` says how scores over time were
    combined. Without a face in any frame, `label` is `None` and `message` says so; an unreadable video has `error`.
    `notice` says what the file did not deliver (a header that promised more frames than decode, frames left out)."""

    label: str | None
    fake_probability: float | None
    num_tracks: int
    tracks: list[TrackResult]
    frames: list[FrameResult]
    frames_sampled: int
    frames_without_faces: int
    aggregation: str
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
        return cls(
            label=suspect.label if suspect else None,
            fake_probability=suspect.probabilities["fake"] if suspect else None,
            num_tracks=len(tracks), tracks=tracks, frames=frames, frames_sampled=len(frames),
            frames_without_faces=sum(not frame.faces for frame in frames), aggregation=aggregation,
            top_k=top_k if aggregation == "topk" else None, message=None if suspect else NO_FACE_IN_VIDEO_MESSAGE, **info,
        )

    def relabel(self, config, threshold: float) -> VideoResult:
        """The same result with every verdict taken at another threshold, without running the model again."""
        if self.error is not None:
            return self
        frames = [replace(frame, faces=[face.relabel(config, threshold) for face in frame.faces])
                  for frame in self.frames]
        return VideoResult.from_frames(frames, config, self.aggregation, self.top_k or DEFAULT_TOP_K, threshold,
                                       fps=self.fps, duration_s=self.duration_s, notice=self.notice)

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
