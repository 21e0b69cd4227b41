"""Reading videos: `num_frames` evenly spaced frames (or `fps` frames a second), decoded with OpenCV's FFmpeg backend.

Frames are reached by seeking, not by decoding the whole clip, phone rotation metadata is applied, and the number of
frames sampled is bounded (`MAX_FRAMES`) however long the video. Every failure becomes a `VideoLoadError` that says
why in one line, so a batch can report it and go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .errors import VideoLoadError
from .images import is_url

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm", ".mkv")
DEFAULT_NUM_FRAMES = 32
"""Frames sampled per video by default (as DFDC's winning solution and DeepfakeBench do)."""
MAX_FRAMES = 256
"""Most frames sampled from one video, whatever `num_frames` or `fps` ask for: the work per video stays bounded."""
MAX_VIDEO_BYTES = 2_000_000_000
"""Largest video file analysed (2 GB): larger files are refused before they are opened."""
MAX_COUNTED_FRAMES = 256_000
"""Most frames decoded to count them, for containers that do not store the count (about 2.5 h at 30 fps)."""
SEEK_GAP = 12
"""Frames to the next sample beyond which seeking is cheaper than decoding forward."""


@dataclass
class VideoInfo:
    """What the container says about the video stream: frame count, frames per second and display size."""

    frame_count: int
    fps: float
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


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
                  fps: float | None = None) -> list[int]:
    """Which frames to sample: `num_frames` evenly spaced over the clip, or one every `1/fps` s; never over
    `MAX_FRAMES` (then evenly spaced over the clip)."""
    if frame_count <= 0:
        return []
    if fps is not None:
        if fps <= 0:
            raise ValueError(f"fps must be above 0, got {fps}.")
        step = max(video_fps / fps, 1.0) if video_fps > 0 else 1.0
        wanted = int(np.floor((frame_count - 1) / step)) + 1
    else:
        num_frames = DEFAULT_NUM_FRAMES if num_frames is None else num_frames
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}.")
        wanted = num_frames
    count = min(wanted, frame_count, MAX_FRAMES)
    if fps is not None and count == wanted:
        return [int(round(i * step)) for i in range(count)]
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, count)})


def open_video(path: str | os.PathLike):
    """An opened `cv2.VideoCapture` with rotation metadata applied, and its `VideoInfo`; `VideoLoadError` if not."""
    import cv2

    if is_url(path):
        raise VideoLoadError(f"{path}: videos are read from files, not URLs; download it and pass the file.")
    path = Path(path)
    if not path.is_file():
        raise VideoLoadError(f"{path}: no such file.")
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
        frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    return capture, info


@dataclass
class FrameStream:
    """A video's info, the indices of the frames to sample, and those frames decoded one at a time as `frames` is
    iterated, so that only the frames in use are held in memory (the file is closed when the iteration ends)."""

    info: VideoInfo
    indices: list[int]
    frames: Iterator[SampledFrame]


def stream_frames(path: str | os.PathLike, num_frames: int | None = None, fps: float | None = None) -> FrameStream:
    """The sampled frames of a video, decoded lazily; frames that cannot be decoded (a truncated file) are left out.

    Raises `VideoLoadError` when the file cannot be opened or has no frames; iterating raises it when no sampled frame
    decodes.
    """
    capture, info = open_video(path)
    try:
        if info.frame_count <= 0:
            info.frame_count = _count_frames(capture)
        if info.frame_count <= 0:
            raise VideoLoadError(f"{path}: the video has no frames.")
        indices = frame_indices(info.frame_count, info.fps, num_frames, fps)
    except BaseException:
        capture.release()
        raise
    return FrameStream(info, indices, _decode(capture, path, info, indices))


def sample_frames(path: str | os.PathLike, num_frames: int | None = None,
                  fps: float | None = None) -> tuple[list[SampledFrame], VideoInfo]:
    """All the sampled frames of a video, in memory, and its info (see `stream_frames`)."""
    stream = stream_frames(path, num_frames=num_frames, fps=fps)
    return list(stream.frames), stream.info


def _decode(capture, path: str | os.PathLike, info: VideoInfo, indices: list[int]) -> Iterator[SampledFrame]:
    """Frames at `indices` (ascending), seeking across long gaps and decoding forward across short ones."""
    import cv2

    decoded, position = 0, 0
    try:
        for index in indices:
            if index < position or index - position > SEEK_GAP:
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            while position < index and capture.grab():
                position += 1
            ok, bgr = capture.read()
            position += 1
            if ok and bgr is not None and position - 1 == index:
                decoded += 1
                time_s = index / info.fps if info.fps > 0 else 0.0
                yield SampledFrame(index=index, time_s=time_s, image=Image.fromarray(bgr[:, :, ::-1].copy()))
    finally:
        capture.release()
    if not decoded:
        raise VideoLoadError(f"{path}: no frame could be decoded (the file is truncated or its codec is unsupported).")


def _count_frames(capture) -> int:
    """Frames counted by decoding, for containers that do not store the count (then rewound)."""
    import cv2

    count = 0
    while count < MAX_COUNTED_FRAMES and capture.grab():
        count += 1
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return count
