"""What a video's container claims, checked before any frame is sampled.

The frame size is read from the header and held to the images' pixel limit (`images.MAX_PIXELS`) before any frame is
decoded: opening a file lets FFmpeg probe it, which may decode its first frame (about 2.3 bytes a pixel for H.264),
and nothing more is decoded for a video that is refused.

The frame count and frame rate are held against the stream (`probe_timeline`): the last frame the header names must
decode, no frame may follow it, and the frames' own timestamps must grow evenly with their index. A header that fails
(it lies about the count, or the frame rate varies) is replaced by the frames that decode, counted one by one with
their timestamps, and sampling then decodes forward instead of seeking (FFmpeg's seeks by frame number assume an even
rate). Frame times always come from the frames' own timestamps (`frame_time`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .errors import VideoLoadError
from .images import size_problem

MAX_COUNTED_FRAMES = 256_000
"""Most frames decoded to count them, when the header's count is missing or wrong (about 2.5 h at 30 fps)."""
EVEN_TOLERANCE = 1.5
"""How far, in frame intervals, a frame's timestamp may be from an even rate's before the rate counts as variable."""
MAX_BAD_RUN = 8
"""Frames in a row that fail to decode after which the stream counts as ended (fewer are skipped as damaged)."""


@dataclass
class Timeline:
    """The frames a video really has: how many, how long it lasts, and every frame's time in seconds when the header
    could not be trusted (`None` when it holds, and seeking by frame number lands where it should); `notice` says
    what the header got wrong, in words, for the result."""

    frame_count: int
    duration_s: float
    times_s: list[float] | None = None
    notice: str | None = None


def check_frame_size(path: str | os.PathLike, width: int, height: int, decoded: bool = False) -> None:
    """Refuse a video whose frames are over `images.MAX_PIXELS`: from its header, or from a `decoded` frame that is
    larger than the header said."""
    problem = size_problem(width, height, what="video frames")
    if problem:
        when = "a frame larger than its header said was refused" if decoded else "it was refused before decoding"
        raise VideoLoadError(
            f"{path}: its frames are {problem}; {when}. Re-encode it at a lower resolution "
            "(e.g. ffmpeg -i IN -vf scale=-2:1080 OUT) and try again."
        )


def frame_time(capture, index: int, fps: float) -> float:
    """The time in seconds of the frame just grabbed, from its own timestamp (`index / fps` when it has none)."""
    import cv2

    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(msec) and (msec > 0 or index == 0):
        return max(msec, 0.0) / 1000.0
    return index / fps if fps > 0 else 0.0


def grab_decodable(capture) -> int | None:
    """Grab the next frame that decodes, skipping damaged ones: how many were skipped, or `None` at the end."""
    for skipped in range(MAX_BAD_RUN):
        if capture.grab():
            return skipped
    return None


def probe_timeline(capture, frame_count: int, fps: float) -> Timeline:
    """The video's timeline: the header's when it holds against the stream (see the module docstring), else the
    frames that decode, counted; the capture is left at the first frame."""
    timeline = _header_timeline(capture, frame_count, fps) if frame_count > 0 else None
    if timeline is None:
        timeline = _counted_timeline(capture, frame_count, fps)
    _rewind(capture)
    return timeline


def _header_timeline(capture, count: int, fps: float) -> Timeline | None:
    """The header's count with the duration from the last frames' timestamps, or `None` when the last frame does
    not decode, a frame follows it, or the middle frame's time is not where an even rate puts it."""
    import cv2

    times = {}
    seeks = [count // 2] if count // 2 < count - 2 else []  # the middle frame, then the last two
    for index in [*seeks, max(count - 2, 0)]:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        if not capture.grab():
            return None
        times[index] = frame_time(capture, index, fps)
    if count >= 2:
        if not capture.grab():
            return None
        times[count - 1] = frame_time(capture, count - 1, fps)
    if capture.grab():  # the header undercounts: frames it does not name would never be sampled
        return None
    last = times[count - 1]
    if count < 2 or last <= 0:  # one frame, or no timestamps: nothing to check the rate against
        return Timeline(count, count / fps if fps > 0 else 0.0)
    interval = last / (count - 1)
    if any(abs(time - index * interval) > EVEN_TOLERANCE * interval for index, time in times.items()):
        return None
    return Timeline(count, last + (last - times[count - 2]))


def _counted_timeline(capture, header_count: int, fps: float) -> Timeline:
    """Every frame that decodes (up to `MAX_COUNTED_FRAMES`) with its time, and a notice when the header's count is
    off by more than the one frame a count derived from the duration can miss, or the count stopped at the limit."""
    _rewind(capture)
    times: list[float] = []
    damaged = 0
    while len(times) < MAX_COUNTED_FRAMES and (skipped := grab_decodable(capture)) is not None:
        damaged += skipped
        times.append(max(frame_time(capture, len(times), fps), times[-1] if times else 0.0))
    count, notice = len(times), None
    if count == MAX_COUNTED_FRAMES and grab_decodable(capture) is not None:
        notice = (f"Only the first {MAX_COUNTED_FRAMES} frames were counted (video_probe.MAX_COUNTED_FRAMES): frames "
                  "were sampled from those; cut the video to analyse the rest.")
    elif count and header_count and abs(count - header_count) > 1:  # a count from the duration can miss one
        notice = (f"The file's header says {header_count} frames, but {count} could be decoded (a damaged or edited "
                  f"file): frames were sampled from those {count}.")
    elif count and damaged:
        notice = (f"{damaged} damaged frame(s) could not be decoded and were skipped: frames were sampled from the "
                  f"other {count}.")
    if count >= 2:
        duration = times[-1] + (times[-1] - times[-2])
    else:
        duration = count / fps if fps > 0 else 0.0
    return Timeline(count, duration, times, notice)


def _rewind(capture) -> None:
    """Back to the first frame."""
    import cv2

    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
