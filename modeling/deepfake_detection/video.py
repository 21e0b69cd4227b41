"""Reading videos: `num_frames` evenly spaced frames (or `fps` frames a second), decoded with OpenCV's FFmpeg backend.

Frames are reached by seeking, not by decoding the whole clip, phone rotation metadata is applied, and the number of
frames sampled is bounded (`MAX_FRAMES`) however long the video. Before any frame is decoded, the header's frame size
is held to the pixel limit and its frame count and rate to the stream (`video_probe`); each frame's time is its own
timestamp, and frames are handed out in batches bounded in bytes (`MAX_BATCH_BYTES`) as well as in count. Every
failure becomes a `VideoLoadError` that says why in one line, so a batch can report it and go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from .errors import VideoLoadError, check_count, check_positive_number
from .images import check_file, is_url
from .tracking import DEFAULT_TOP_K, check_aggregation
from .video_probe import check_frame_size, frame_time, grab_decodable, probe_timeline

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm", ".mkv")
DEFAULT_NUM_FRAMES = 32
"""Frames sampled per video by default (as DFDC's winning solution and DeepfakeBench do)."""
MAX_FRAMES = 256
"""Most frames sampled from one video, whatever `num_frames` or `fps` ask for: the work per video stays bounded."""
MAX_VIDEO_BYTES = 2_000_000_000
"""Largest video file analysed (2 GB): larger files are refused before they are opened."""
MAX_BATCH_BYTES = 200_000_000
"""Most bytes of decoded RGB frames handed out at once (`FrameStream.batches`): 8 frames of 4K, 1 of 40 megapixels."""
SEEK_GAP = 12
"""Frames to the next sample beyond which seeking is cheaper than decoding forward."""


@dataclass
class VideoInfo:
    """The video stream: frame count and duration (checked against the stream, see `video_probe`), the header's
    frames per second, and the display size."""

    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float = 0.0

    @property
    def average_fps(self) -> float:
        """Frames per second over the whole clip, from its timestamps (the header's rate when they are missing)."""
        return self.frame_count / self.duration_s if self.duration_s > 0 else self.fps


@dataclass
class SampledFrame:
    """One sampled frame: its index in the video, its time in seconds and the RGB image (rotation applied)."""

    index: int
    time_s: float
    image: Image.Image


def is_video(path: str | os.PathLike) -> bool:
    """Whether `path` names a video file by its suffix."""
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in VIDEO_SUFFIXES


def frame_indices(frame_count: int, video_fps: float, num_frames: int | None = None,
                  fps: float | None = None, times_s: Sequence[float] | None = None) -> list[int]:
    """Which frames to sample: `num_frames` evenly spaced over the clip, or one every `1/fps` s (by the frames' own
    `times_s` when given: a variable frame rate); never over `MAX_FRAMES` (then evenly spaced over the clip)."""
    check_sampling(num_frames, fps)
    if frame_count <= 0:
        return []
    if fps is not None and times_s is not None:
        return _indices_at_times(times_s, fps)
    if fps is not None:
        step = max(video_fps / fps, 1.0) if video_fps > 0 else 1.0
        wanted = int(np.floor((frame_count - 1) / step)) + 1
    else:
        wanted = DEFAULT_NUM_FRAMES if num_frames is None else num_frames
    count = min(wanted, frame_count, MAX_FRAMES)
    if fps is not None and count == wanted:
        return [int(round(i * step)) for i in range(count)]
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, count)})


def _indices_at_times(times_s: Sequence[float], fps: float) -> list[int]:
    """The frame on screen every `1/fps` s from the start (the last one shown at or before each moment), by the
    frames' own times; at most `MAX_FRAMES` moments (then spread evenly over the clip)."""
    times = np.asarray(times_s, dtype=np.float64)
    end = float(times[-1])
    wanted = int(np.floor(end * fps + 1e-9)) + 1
    moments = np.linspace(0.0, end, MAX_FRAMES) if wanted > MAX_FRAMES else np.arange(wanted) / fps
    shown = np.searchsorted(times, moments + 1e-6, side="right") - 1
    return sorted({int(index) for index in shown.clip(0, len(times) - 1)})


def check_sampling(num_frames: int | None = None, fps: float | None = None) -> None:
    """Refuse a `num_frames` (a whole number of at least 1) or `fps` (a finite number above 0) that cannot sample a
    video, with one message naming the argument, before any file is opened."""
    check_count("num_frames", num_frames, optional=True)
    check_positive_number("fps", fps, optional=True)


def check_video_options(num_frames: int | None = None, fps: float | None = None, aggregation: str = "mean",
                        top_k: int = DEFAULT_TOP_K, explain_frames: int = 0, batch_size: int | None = None,
                        **checked_elsewhere) -> None:
    """Refuse `analyse_video` options that cannot work (sampling, aggregation, counts), each with one message that
    names it and its range, before any frame is read; `checked_elsewhere` (threshold, progress) pass through."""
    check_sampling(num_frames, fps)
    check_aggregation(aggregation, top_k)
    check_count("explain_frames", explain_frames, minimum=0)
    check_count("batch_size", batch_size, optional=True)


def open_video(path: str | os.PathLike):
    """An opened `cv2.VideoCapture` with rotation metadata applied, and its `VideoInfo`; `VideoLoadError` if not."""
    import cv2

    if is_url(path):
        raise VideoLoadError(f"{path}: videos are read from files, not URLs; download it and pass the file.")
    check_file(str(path), VideoLoadError, "video")
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise VideoLoadError(f"{path}: the file is empty.")
    if size > MAX_VIDEO_BYTES:
        raise VideoLoadError(
            f"{path}: {size / 1e6:,.0f} MB is over the {MAX_VIDEO_BYTES / 1e6:,.0f} MB limit for videos "
            "(video.MAX_VIDEO_BYTES); cut or re-encode it smaller."
        )
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise VideoLoadError(
            f"{path}: not a readable video (a corrupt file, an audio-only file, or a codec FFmpeg cannot decode); "
            f"use {', '.join(VIDEO_SUFFIXES)} with H.264, VP9 or MJPEG video."
        )
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    info = VideoInfo(
        frame_count=_header_number(capture, cv2.CAP_PROP_FRAME_COUNT),
        fps=max(float(np.nan_to_num(capture.get(cv2.CAP_PROP_FPS))), 0.0),
        width=_header_number(capture, cv2.CAP_PROP_FRAME_WIDTH),
        height=_header_number(capture, cv2.CAP_PROP_FRAME_HEIGHT),
    )
    try:
        check_frame_size(path, info.width, info.height)  # from the header: no frame has been decoded for it
    except VideoLoadError:
        capture.release()
        raise
    return capture, info


def _header_number(capture, prop: int) -> int:
    """A count or size from the container (0 when it says nothing usable: missing, negative or not a number)."""
    value = capture.get(prop)
    return int(value) if np.isfinite(value) and value > 0 else 0


@dataclass
class FrameStream:
    """A video's info, the indices of the frames to sample, and those frames decoded one at a time as `frames` is
    iterated, so that only the frames in use are held in memory (the file is closed when the iteration ends).
    `missing` fills with the sampled indices that did not decode; `header_notice` says what the header got wrong."""

    info: VideoInfo
    indices: list[int]
    frames: Iterator[SampledFrame]
    header_notice: str | None = None
    missing: list[int] = field(default_factory=list)

    def batches(self, count: int) -> Iterator[list[SampledFrame]]:
        """The frames in lists of at most `count` frames and `MAX_BATCH_BYTES` of pixels (one frame at least): the
        next frame is decoded only once the batch it would overflow has been handed out."""
        batch: list[SampledFrame] = []
        size = 0
        for frame in self.frames:
            frame_bytes = frame.image.width * frame.image.height * 3
            batch.append(frame)
            size += frame_bytes
            if len(batch) >= count or size + frame_bytes > MAX_BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    @property
    def notice(self) -> str | None:
        """What the video did not deliver as its header said, in words, once `frames` has been iterated."""
        parts = [self.header_notice] if self.header_notice else []
        if self.missing:
            parts.append(f"{len(self.missing)} of the {len(self.indices)} sampled frames could not be decoded and "
                         "were left out (a damaged file).")
        return " ".join(parts) or None


def stream_frames(path: str | os.PathLike, num_frames: int | None = None, fps: float | None = None) -> FrameStream:
    """The sampled frames of a video, decoded lazily; frames that cannot be decoded (a truncated file) are left out.

    Raises `VideoLoadError` when the file cannot be opened or has no frames; iterating raises it when no sampled frame
    decodes.
    """
    capture, info = open_video(path)
    try:
        timeline = probe_timeline(capture, info.frame_count, info.fps)
        if timeline.frame_count <= 0:
            raise VideoLoadError(f"{path}: the video has no frames.")
        info.frame_count, info.duration_s = timeline.frame_count, timeline.duration_s
        indices = frame_indices(info.frame_count, info.average_fps, num_frames, fps, timeline.times_s)
    except BaseException:
        capture.release()
        raise
    stream = FrameStream(info, indices, iter(()), header_notice=timeline.notice)
    stream.frames = _decode(capture, path, info, indices, seek=timeline.times_s is None, missing=stream.missing)
    return stream


def sample_frames(path: str | os.PathLike, num_frames: int | None = None,
                  fps: float | None = None) -> tuple[list[SampledFrame], VideoInfo]:
    """All the sampled frames of a video, in memory, and its info (see `stream_frames`)."""
    stream = stream_frames(path, num_frames=num_frames, fps=fps)
    return list(stream.frames), stream.info


def _decode(capture, path: str | os.PathLike, info: VideoInfo, indices: list[int], seek: bool,
            missing: list[int]) -> Iterator[SampledFrame]:
    """Frames at `indices` (ascending): with `seek`, seeking across long gaps and decoding forward across short ones,
    else decoding forward only, over damaged frames as they were counted (`video_probe.grab_decodable`); each with
    its own timestamp. Indices that do not decode go to `missing`."""
    import cv2

    decoded, position = 0, 0
    grab = capture.grab if seek else (lambda: grab_decodable(capture) is not None)
    try:
        for index in indices:
            if seek and (index < position or index - position > SEEK_GAP):
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            while position < index and grab():
                position += 1
            ok = position == index and grab()
            position += 1
            retrieved, bgr = capture.retrieve() if ok else (False, None)
            if not retrieved or bgr is None:
                missing.append(index)
                continue
            check_frame_size(path, bgr.shape[1], bgr.shape[0], decoded=True)  # frames that grew past the header
            decoded += 1
            image = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            del bgr
            yield SampledFrame(index=index, time_s=frame_time(capture, index, info.fps), image=image)
    finally:
        capture.release()
    if not decoded:
        raise VideoLoadError(f"{path}: no frame could be decoded (the file is truncated or its codec is unsupported).")
