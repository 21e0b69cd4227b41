"""Videos: frames sampled by seeking, faces followed through time, one verdict per person and per video, bad files
named. Clips are generated here with OpenCV (and, for rotation metadata, audio-only and unsupported codecs, the ffmpeg
binary that imageio-ffmpeg ships); nothing is committed."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from deepfake_detection import VideoLoadError, load_pipeline
from deepfake_detection.cli import main
from deepfake_detection.tracking import aggregate, box_iou, link_tracks
from deepfake_detection.video import MAX_FRAMES, frame_indices, sample_frames, stream_frames
from model_factory import astronaut

FPS = 10
SIZE = (640, 360)


def face_patch(side: int = 160, mirrored: bool = False) -> np.ndarray:
    """The astronaut's face, as a square RGB patch."""
    face = astronaut().crop((140, 20, 340, 220)).resize((side, side))
    return np.asarray(face.transpose(Image.FLIP_LEFT_RIGHT) if mirrored else face)


def canvas() -> np.ndarray:
    return np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)


def write_clip(path: Path, frames: list[np.ndarray], fourcc: str = "MJPG") -> Path:
    """RGB frames written as a video (MJPG in .avi by default: every frame a key frame, little loss)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path.suffix}"
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return path


def moving_face_frames(count: int = 12) -> list[np.ndarray]:
    """One face sliding from left to right across the frame."""
    patch, frames = face_patch(), []
    for step in range(count):
        frame = canvas()
        x = 20 + step * (SIZE[0] - 200) // (count - 1)
        frame[100:260, x : x + 160] = patch
        frames.append(frame)
    return frames


def two_face_frames(count: int = 8) -> list[np.ndarray]:
    """Two faces standing still side by side (the right one mirrored)."""
    frame = canvas()
    frame[100:260, 40:200] = face_patch()
    frame[100:260, 420:580] = face_patch(mirrored=True)
    return [frame.copy() for _ in range(count)]


def ffmpeg(*args: str) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (dev extra) makes the odd clips")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def detector(model_dir):
    return load_pipeline(model_dir)


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("video") / "moving.avi", moving_face_frames())


def test_frame_indices_are_even_bounded_and_follow_fps():
    assert frame_indices(100, 25.0, num_frames=5) == [0, 25, 50, 74, 99]
    assert frame_indices(3, 25.0, num_frames=32) == [0, 1, 2]
    assert frame_indices(50, 25.0, fps=5) == list(range(0, 50, 5))
    long_video = frame_indices(10_000_000, 30.0, fps=30)
    assert len(long_video) == MAX_FRAMES and long_video[0] == 0 and long_video[-1] == 9_999_999
    with pytest.raises(ValueError, match="num_frames must be a whole number of at least 1"):
        frame_indices(10, 25.0, num_frames=0)


def test_sampling_seeks_to_the_frames_it_names(tmp_path):
    frames = [np.full((64, 64, 3), 10 * value, np.uint8) for value in range(20)]  # frame k is grey 10k
    clip = write_clip(tmp_path / "grey.avi", frames)
    sampled, info = sample_frames(clip, num_frames=4)
    assert info.frame_count == 20 and info.fps == pytest.approx(FPS)
    assert [frame.index for frame in sampled] == [0, 6, 13, 19]
    assert [round(float(np.asarray(frame.image).mean()) / 10) for frame in sampled] == [0, 6, 13, 19]
    assert [frame.time_s for frame in sampled] == pytest.approx([0, 0.6, 1.3, 1.9])


def test_far_apart_samples_are_reached_by_seeking_to_the_right_frame(tmp_path):
    frames = [np.full((64, 64, 3), 2 * value, np.uint8) for value in range(100)]  # frame k is grey 2k
    clip = write_clip(tmp_path / "long.mp4", frames, fourcc="mp4v")  # inter-coded: seeking lands on key frames
    sampled, _ = sample_frames(clip, num_frames=4)
    assert [frame.index for frame in sampled] == [0, 33, 66, 99]
    every, _ = sample_frames(clip, num_frames=100)  # every frame, decoded in order without seeking
    for frame in sampled:
        np.testing.assert_array_equal(np.asarray(frame.image), np.asarray(every[frame.index].image))
    assert len({float(np.asarray(frame.image).mean()) for frame in sampled}) == 4  # distinct frames, not repeats


def test_a_video_whose_every_frame_fails_is_unreadable_not_faceless(detector, moving_clip, monkeypatch):
    def broken(images):
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(detector.face_detector, "detect_batch", broken)
    with pytest.raises(VideoLoadError, match="no sampled frame could be analysed"):
        detector.analyse_video(moving_clip, num_frames=3)
    (result,) = detector([str(moving_clip)], video_options={"num_frames": 3})
    assert result.label is None and "detector crashed" in result.error and result.message is None


def test_a_video_and_the_same_frames_as_images_give_the_same_scores(detector, moving_clip):
    result = detector(str(moving_clip), video_options={"num_frames": 6})
    images = [frame.image for frame in sample_frames(moving_clip, num_frames=6)[0]]
    as_images = detector(images)
    assert [frame.index for frame in result.frames] == [0, 2, 4, 7, 9, 11]
    for frame, image_result in zip(result.frames, as_images):
        assert [face.score for face in frame.faces] == pytest.approx([face.score for face in image_result.faces])
        assert len(frame.faces) == 1


def test_a_moving_face_is_one_track_and_two_faces_are_two(detector, moving_clip, tmp_path):
    moving = detector.analyse_video(moving_clip, num_frames=12)
    assert moving.num_tracks == 1 and moving.frames_without_faces == 0
    assert moving.tracks[0].frame_indices == list(range(12))
    two = detector.analyse_video(write_clip(tmp_path / "two.avi", two_face_frames()), num_frames=8)
    assert two.num_tracks == 2
    places = set()
    for track in two.tracks:
        lefts = [face.box[0] for frame in two.frames for face, tid in zip(frame.faces, frame.track_ids)
                 if tid == track.track_id]
        assert len(lefts) == 8 and max(lefts) - min(lefts) < 20  # one place all along, never swapped
        places.add("left" if np.mean(lefts) < SIZE[0] / 2 else "right")
    assert places == {"left", "right"}
    assert two.suspect.probabilities["fake"] == max(track.probabilities["fake"] for track in two.tracks)
    assert two.label == two.suspect.label


def test_linking_keeps_close_faces_apart_and_bridges_a_missed_frame():
    a, b = [0, 0, 100, 100], [300, 0, 400, 100]
    ids = link_tracks([[a, b], [b, a], [], [[5, 0, 105, 100]], [[310, 0, 410, 100]]])
    assert ids == [[1, 2], [2, 1], [], [1], [2]]
    assert link_tracks([[a], [], [], [a]]) == [[1], [], [], [1]]  # a gap of max_gap (2) frames: the same track
    assert link_tracks([[a], [], [], [], [a]]) == [[1], [], [], [], [2]]  # one frame more: a new track
    assert box_iou(a, [50, 0, 150, 100]) == pytest.approx(50 / 150)


@pytest.mark.parametrize(
    "rule, expected", [("mean", 0.44), ("median", 0.3), ("max", 0.9), ("topk", (0.9 + 0.8) / 2)]
)
def test_each_aggregation_computes_what_it_says(rule, expected):
    assert aggregate([0.1, 0.9, 0.3, 0.8, 0.1], rule, top_k=2) == pytest.approx(expected)


def test_video_verdict_uses_the_aggregate_and_relabels_without_the_model(detector, moving_clip):
    result = detector.analyse_video(moving_clip, num_frames=6, aggregation="max")
    track = result.tracks[0]
    assert track.probabilities["fake"] == pytest.approx(max(track.fake_probabilities))
    assert result.fake_probability == track.probabilities["fake"]
    config = detector.model.config
    score = track.score
    stricter = result.relabel(config, threshold=min(score + 1e-3, 0.999))
    assert stricter.tracks[0].label == config.other_label
    assert stricter.tracks[0].fake_probabilities == track.fake_probabilities


def test_the_most_suspicious_frames_get_gradcam_and_only_those(detector, moving_clip):
    result = detector.analyse_video(moving_clip, num_frames=6, explain_frames=2)
    explained = [frame for frame in result.frames if frame.overlay is not None]
    assert [frame.index for frame in explained] == [frame.index for frame in result.suspicious_frames(2)]
    assert all(face.heatmap is not None for frame in explained for face in frame.faces)
    json.dumps(result.to_dict())


def test_rotation_metadata_is_applied(detector, tmp_path):
    plain = write_clip(tmp_path / "plain.mp4", two_face_frames(4), fourcc="mp4v")
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated))
    frames, _ = sample_frames(rotated, num_frames=2)
    assert frames[0].image.size == (SIZE[1], SIZE[0])  # portrait, as a phone shows it
    assert sample_frames(plain, num_frames=2)[0][0].image.size == SIZE  # and the unrotated clip stays landscape


@pytest.mark.parametrize(
    "make, message",
    [
        ("corrupt", "not a readable video"),
        ("empty", "the file is empty"),
        ("truncated", "no frame could be decoded|not a readable video"),
        ("audio_only", "not a readable video"),
        ("missing", "no such file"),
        ("url", "^https://example.invalid/clip.mp4: videos are read from files, not URLs; download it"),
    ],
)
def test_bad_videos_get_a_one_line_reason_and_a_batch_goes_on(detector, moving_clip, tmp_path, make, message):
    bad = tmp_path / f"{make}.mp4"
    if make == "url":
        bad = "https://example.invalid/clip.mp4"
    elif make == "corrupt":
        bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    elif make == "empty":
        bad.write_bytes(b"")
    elif make == "truncated":
        bad.write_bytes(write_clip(tmp_path / "full.mp4", moving_face_frames(), fourcc="mp4v").read_bytes()[:2000])
    elif make == "audio_only":
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(bad))
    with pytest.raises(VideoLoadError, match=message):
        detector(str(bad))
    bad_result, good = detector([str(bad), str(moving_clip)], video_options={"num_frames": 4})
    assert bad_result.label is None and len(bad_result.error.splitlines()) == 1
    assert good.error is None and good.num_tracks == 1


def test_zero_frames_unknown_codecs_and_oversized_files_are_named(detector, moving_clip, tmp_path, monkeypatch):
    from deepfake_detection import video

    empty_stream = tmp_path / "zero.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10", "-frames:v", "0", "-c:v", "mpeg4", str(empty_stream))
    with pytest.raises(VideoLoadError, match="has no frames|not a readable video"):
        sample_frames(empty_stream)
    unknown = tmp_path / "unknown.avi"
    unknown.write_bytes(moving_clip.read_bytes().replace(b"MJPG", b"QQQQ"))  # a codec no decoder knows
    with pytest.raises(VideoLoadError, match="codec"):
        sample_frames(unknown)
    monkeypatch.setattr(video, "MAX_VIDEO_BYTES", 10_000)
    with pytest.raises(VideoLoadError, match=r"MB is over the 0 MB limit for videos \(video.MAX_VIDEO_BYTES\)"):
        sample_frames(moving_clip)


def test_a_video_without_faces_says_so(detector, tmp_path):
    result = detector.analyse_video(write_clip(tmp_path / "empty.avi", [canvas()] * 5), num_frames=5)
    assert result.label is None and result.frames_without_faces == 5 and "No face" in result.message


def test_cli_predicts_videos_next_to_images_and_writes_the_frame_table(model_dir, moving_clip, tmp_path, capsys):
    astronaut().save(tmp_path / "astronaut.png")
    out = tmp_path / "out"
    code = main(["predict", str(tmp_path / "astronaut.png"), str(moving_clip), "--model", str(model_dir),
                 "--num-frames", "4", "--json", "--save-dir", str(out)])
    rows = {Path(row["path"]).name: row for row in json.loads(capsys.readouterr().out)}
    assert code == 0 and rows["astronaut.png"]["num_faces"] == 1
    video = rows["moving.avi"]
    assert video["num_tracks"] == 1 and video["frames_sampled"] == 4 and video["aggregation"] == "mean"
    table = (out / "moving.frames.csv").read_text().splitlines()
    assert table[0].startswith("frame,time_s,track") and len(table) == 5
    assert (out / "moving.timeline.png").is_file()
    assert len(list(out.glob("moving.frame*.png"))) >= 1


def test_videos_that_share_a_file_name_write_their_outputs_under_distinct_names():
    from deepfake_detection.report import video_output_names

    names = video_output_names(["data/real/000.mp4", "data/fake/000.mp4", "data/real/clip.mp4", "data/real/clip.mov",
                                "data/real/other.mp4", "data/real/other.mp4"])
    assert names == {"data/real/000.mp4": "real__000.mp4", "data/fake/000.mp4": "fake__000.mp4",
                     "data/real/clip.mp4": "real__clip.mp4", "data/real/clip.mov": "real__clip.mov",
                     "data/real/other.mp4": "other"}


def test_cli_keeps_both_outputs_of_same_named_videos_and_goes_on_when_they_cannot_be_written(
        model_dir, moving_clip, tmp_path, capsys):
    for folder in ("real", "fake"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "000.avi").write_bytes(moving_clip.read_bytes())
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "real"), str(tmp_path / "fake"), "--model", str(model_dir),
                 "--num-frames", "2", "--explain-frames", "1", "--save-dir", str(out)]) == 0
    assert sorted(path.name for path in out.glob("*.frames.csv")) == ["fake__000.avi.frames.csv",
                                                                       "real__000.avi.frames.csv"]
    capsys.readouterr()
    not_a_folder = tmp_path / "taken"
    not_a_folder.write_text("a file where the outputs should go")
    code = main(["predict", str(tmp_path / "real" / "000.avi"), "--model", str(model_dir), "--num-frames", "2",
                 "--save-dir", str(not_a_folder)])
    captured = capsys.readouterr()
    assert code == 1 and re.search(r"000\.avi: (REAL|FAKE) \(fake probability", captured.out), captured.out
    assert "000.avi: could not write its outputs under --save-dir" in captured.err
    assert "choose a writable folder" in captured.err and "could not be analysed" not in captured.err


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_evaluate_scores_a_folder_of_videos_per_video(detector, model_dir, tmp_path, capsys):
    from deepfake_detection.evaluation import evaluate

    folder = tmp_path / "videos"
    (folder / "real").mkdir(parents=True)
    (folder / "fake").mkdir()
    write_clip(folder / "real" / "moving.avi", moving_face_frames())
    write_clip(folder / "fake" / "two.avi", two_face_frames())
    write_clip(folder / "fake" / "mirrored.avi", [frame[:, ::-1].copy() for frame in moving_face_frames()])
    (folder / "real" / "broken.mp4").write_bytes(b"not a video at all")
    result = evaluate(detector, folder, video_options={"num_frames": 4}, output_dir=tmp_path / "out", progress=False)
    rows = {Path(row.path).name: row for row in result.rows}
    assert rows["broken.mp4"].status == "unreadable" and "not a readable video" in rows["broken.mp4"].error
    two = detector.analyse_video(folder / "fake" / "two.avi", num_frames=4)
    assert rows["two.avi"].num_faces == 2 and rows["two.avi"].fake_score == pytest.approx(two.fake_probability)
    assert rows["two.avi"].predicted_label == two.label and rows["moving.avi"].label == "real"
    metrics = result.metrics
    assert (metrics["n"], metrics["n_scored"], metrics["n_unreadable"]) == (4, 3, 1)
    assert metrics["videos"] == {"aggregation": "mean", "num_frames": 4} and metrics["dataset"]["image_column"] == "video"
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(folder), "--num-frames", "4",
                 "--aggregation", "max", "--output-dir", str(tmp_path / "cli")])
    assert code == 0 and "4 (3 scored" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli" / "metrics.json").read_text())["videos"]["aggregation"] == "max"


def test_progress_is_reported_for_each_batch_and_each_explained_frame(detector, moving_clip):
    calls = []
    detector.analyse_video(moving_clip, num_frames=6, batch_size=4, explain_frames=2,
                           progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert calls == [(4, 6, "analysed"), (6, 6, "analysed"), (1, 2, "explained"), (2, 2, "explained")]


def test_frames_are_decoded_as_they_are_used(moving_clip):
    stream = stream_frames(moving_clip, num_frames=6)
    assert inspect.isgenerator(stream.frames)  # nothing is decoded until the frames are asked for
    assert stream.indices == [0, 2, 4, 7, 9, 11] and stream.info.frame_count == 12
    first = next(stream.frames)  # decoding starts here, one frame at a time
    assert first.index == 0 and first.image.size == SIZE
    assert [frame.index for frame in stream.frames] == [2, 4, 7, 9, 11]


def test_explained_frames_kept_across_batches_are_the_right_images(detector, moving_clip):
    result = detector.analyse_video(moving_clip, num_frames=6, batch_size=2, explain_frames=3)
    images = {frame.index: frame.image for frame in sample_frames(moving_clip, num_frames=6)[0]}
    explained = result.suspicious_frames(3)
    assert len(explained) == 3 and all(frame.overlay is not None for frame in explained)
    for frame in explained:
        expected = detector(images[frame.index], explain=True).overlay
        np.testing.assert_array_equal(np.asarray(frame.overlay), np.asarray(expected))


def test_progress_ends_full_when_some_frames_do_not_decode(detector, moving_clip, monkeypatch):
    import itertools

    from deepfake_detection import pipeline as pipeline_module

    def losing_the_last_frame(*args, **kwargs):
        stream = stream_frames(*args, **kwargs)
        stream.frames = itertools.islice(stream.frames, len(stream.indices) - 1)  # as a truncated file does
        return stream

    monkeypatch.setattr(pipeline_module, "stream_frames", losing_the_last_frame)
    calls = []
    detector.analyse_video(moving_clip, num_frames=6, batch_size=4,
                           progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert calls == [(4, 6, "analysed"), (5, 6, "analysed"), (5, 5, "analysed")]


# Hostile videos, second round: the header is checked before decoding, and frame times are the frames' own -----------

@pytest.fixture(scope="module")
def huge_clip(tmp_path_factory) -> Path:
    """Two 9000x9000 frames (81 megapixels, over `images.MAX_PIXELS`) in a 2 MB file."""
    return write_clip(tmp_path_factory.mktemp("huge") / "huge.avi", [np.full((9000, 9000, 3), 90, np.uint8)] * 2)


def test_huge_frames_are_refused_from_the_header_before_any_frame_is_decoded(huge_clip, monkeypatch):
    decoded, opened = [], cv2.VideoCapture

    class SpyCapture:  # a wrapper, not a subclass: subclasses of cv2.VideoCapture crash the garbage collector
        def __init__(self, *args):
            self.capture = opened(*args)

        def __getattr__(self, name):
            if name in ("grab", "read", "retrieve"):
                decoded.append(name)
            return getattr(self.capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", SpyCapture)
    message = (r"huge.avi: its frames are 9000x9000 pixels \(81 megapixels\); video frames up to 40 megapixels are "
               r"analysed; it was refused before decoding. Re-encode it at a lower resolution")
    with pytest.raises(VideoLoadError, match=message):
        sample_frames(huge_clip)
    assert decoded == []


def test_a_frame_larger_than_its_header_says_is_refused_as_soon_as_it_is_decoded(huge_clip, monkeypatch):
    opened = cv2.VideoCapture

    class SmallHeader:  # a container that claims 64x64 frames and holds 9000x9000 ones
        def __init__(self, *args):
            self.capture = opened(*args)

        def get(self, prop):
            return 64.0 if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT) else self.capture.get(prop)

        def __getattr__(self, name):
            return getattr(self.capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", SmallHeader)
    stream = stream_frames(huge_clip)
    assert stream.info.width == 64
    with pytest.raises(VideoLoadError, match="its frames are 9000x9000 pixels .* a frame larger than its header said"):
        next(stream.frames)


def test_a_video_of_huge_frames_is_refused_with_little_memory(huge_clip):
    script = f"""
import resource
from deepfake_detection.errors import VideoLoadError
from deepfake_detection.video import sample_frames
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    sample_frames({str(huge_clip)!r})
except VideoLoadError:
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) < 100  # MB of peak memory; one decoded frame alone would take 243 MB


def test_frames_are_handed_out_in_batches_bounded_in_bytes(detector, moving_clip, monkeypatch):
    from deepfake_detection import video

    frame_bytes = SIZE[0] * SIZE[1] * 3
    monkeypatch.setattr(video, "MAX_BATCH_BYTES", 2 * frame_bytes)
    assert [len(batch) for batch in stream_frames(moving_clip, num_frames=6).batches(8)] == [2, 2, 2]
    calls = []
    detector.analyse_video(moving_clip, num_frames=6, batch_size=8,
                           progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert calls == [(2, 6, "analysed"), (4, 6, "analysed"), (6, 6, "analysed")]


def variable_rate_clip(path: Path) -> Path:
    """30 frames: ten 0.1 s apart, then twenty 0.5 s apart (frame k is shown from `VFR_TIMES[k]`), 11 s in all."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x64:r=10:d=3", "-vf", "setpts='if(lt(N,10),N*0.1,1+(N-10)*0.5)/TB'",
           "-fps_mode", "vfr", "-c:v", "mpeg4", "-q:v", "2", str(path))
    return path


VFR_TIMES = [k * 0.1 for k in range(10)] + [1 + k * 0.5 for k in range(20)]


def test_frame_times_and_duration_come_from_the_frames_timestamps(detector, tmp_path):
    clip = variable_rate_clip(tmp_path / "vfr.mp4")
    every, info = sample_frames(clip, num_frames=30)
    assert [frame.index for frame in every] == list(range(30))
    assert [frame.time_s for frame in every] == pytest.approx(VFR_TIMES)
    assert info.frame_count == 30 and info.duration_s == pytest.approx(11.0)  # not 30 / the average rate
    by_time, _ = sample_frames(clip, fps=2)  # one frame every 0.5 s of the clip, not every n-th frame
    assert [frame.time_s for frame in by_time] == pytest.approx([k * 0.5 for k in range(22)])
    result = detector.analyse_video(clip, num_frames=4)
    assert result.duration_s == pytest.approx(11.0) and result.notice is None
    assert [frame.time_s for frame in result.frames] == pytest.approx([VFR_TIMES[k] for k in (0, 10, 19, 29)])


def lying_header_clip(path: Path, frames: int = 20, claimed: int = 200) -> Path:
    """An MJPG clip of `frames` grey frames (frame k is grey 10k) whose AVI header claims `claimed` frames."""
    write_clip(path, [np.full((64, 64, 3), 10 * value, np.uint8) for value in range(frames)])
    data = bytearray(path.read_bytes())
    data[data.find(b"avih") + 24 : data.find(b"avih") + 28] = claimed.to_bytes(4, "little")  # dwTotalFrames
    data[data.find(b"strh") + 40 : data.find(b"strh") + 44] = claimed.to_bytes(4, "little")  # dwLength
    path.write_bytes(bytes(data))
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) == claimed
    return path


@pytest.mark.parametrize("claimed", [200, 10])  # over- and under-counted: sampled over the 20 frames either way
def test_a_header_that_lies_about_the_frame_count_samples_the_frames_that_decode_and_says_so(
    detector, model_dir, tmp_path, capsys, claimed
):
    clip = lying_header_clip(tmp_path / "lying.avi", claimed=claimed)
    stream = stream_frames(clip, num_frames=8)
    frames = list(stream.frames)
    assert [frame.index for frame in frames] == [0, 3, 5, 8, 11, 14, 16, 19] and stream.info.frame_count == 20
    assert [round(float(np.asarray(frame.image).mean()) / 10) for frame in frames] == [0, 3, 5, 8, 11, 14, 16, 19]
    assert stream.notice == (f"The file's header says {claimed} frames, but 20 could be decoded (a damaged or edited "
                             "file): frames were sampled from those 20.")
    result = detector.analyse_video(clip, num_frames=8)
    assert result.frames_sampled == 8 and result.notice == stream.notice and result.duration_s == pytest.approx(2.0)
    assert result.relabel(detector.model.config, 0.3).notice == stream.notice
    assert main(["predict", str(clip), "--model", str(model_dir), "--num-frames", "8"]) == 0
    assert f"  note: The file's header says {claimed} frames, but 20 could be decoded" in capsys.readouterr().out


def test_a_damaged_frame_is_skipped_and_named_and_the_frames_after_it_are_still_sampled(tmp_path):
    clip = write_clip(tmp_path / "damaged.avi", [np.full((64, 64, 3), 10 * value, np.uint8) for value in range(20)])
    data = bytearray(clip.read_bytes())
    chunks = [at for at in range(len(data)) if data[at : at + 4] == b"00dc" and data[at + 8 : at + 10] == b"\xff\xd8"]
    size = int.from_bytes(data[chunks[10] + 4 : chunks[10] + 8], "little")
    data[chunks[10] + 8 : chunks[10] + 8 + size] = bytes(size)  # frame 10's JPEG, wiped
    clip.write_bytes(bytes(data))
    stream = stream_frames(clip, num_frames=20)
    greys = [round(float(np.asarray(frame.image).mean()) / 10) for frame in stream.frames]
    assert greys == [*range(10), *range(11, 20)]
    assert stream.info.frame_count == 19 and stream.notice == (
        "1 damaged frame(s) could not be decoded and were skipped: frames were sampled from the other 19.")


def test_faces_too_small_to_judge_take_no_part_in_a_videos_tracks_or_verdict(tmp_path):
    from model_factory import make_model, save_model

    from deepfake_detection.cli import format_video
    from deepfake_detection.outputs import TOO_SMALL_IN_VIDEO_MESSAGE

    judged = load_pipeline(save_model(make_model(min_judged_face=48, min_face_size=20), tmp_path / "model"))
    tiny = canvas()
    tiny[40:100, 560:620] = face_patch(60)  # a face box of ~29 px: under the 48 px rule
    frames = [frame.copy() for frame in moving_face_frames(6)]
    for frame in frames:
        frame[40:100, 560:620] = face_patch(60)
    mixed = judged.analyse_video(write_clip(tmp_path / "mixed.avi", frames), num_frames=6)
    assert mixed.num_tracks == 1 and mixed.label is not None and mixed.frames_too_small == 0
    assert all(len(frame.faces) == 1 and len(frame.too_small) == 1 for frame in mixed.frames)
    assert all(frame.faces[0].box[0] < 500 < frame.too_small[0].box[0] for frame in mixed.frames)
    only_tiny = judged.analyse_video(write_clip(tmp_path / "tiny.avi", [tiny] * 4), num_frames=4)
    assert only_tiny.label is None and only_tiny.tracks == [] and only_tiny.frames_without_faces == 4
    assert only_tiny.frames_too_small == 4 and only_tiny.all_too_small
    assert only_tiny.message == TOO_SMALL_IN_VIDEO_MESSAGE.format(min_width=48)
    text = format_video({"path": "tiny.avi", **only_tiny.to_dict()})
    assert text.startswith("tiny.avi: no verdict: No sampled frame has a face large enough to judge")
    assert "4 with faces too small to judge" in text
    empty = judged.analyse_video(write_clip(tmp_path / "empty.avi", [canvas()] * 3), num_frames=3)
    assert empty.frames_too_small == 0 and "No face" in empty.message and not empty.all_too_small
