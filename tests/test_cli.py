"""The deepfake-detection command: readable verdicts, JSON, bad files skipped and reported, model errors explained."""

import json
import os
import subprocess
import sys

from model_factory import astronaut
from PIL import Image

from deepfake_detection.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepfake_detection.cli", *args],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )


def test_predict_continues_past_bad_files_and_reports_them(model_dir, tmp_path, capsys):
    astronaut().save(tmp_path / "astronaut.png")
    Image.new("RGB", (200, 160), (30, 30, 30)).save(tmp_path / "empty.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    exit_code = main(["predict", str(tmp_path), str(tmp_path / "missing.png"), "--model", str(model_dir)])
    output = capsys.readouterr()
    assert exit_code == 1
    assert "astronaut.png: " in output.out and "face 1 [" in output.out
    assert "empty.png: no face detected" in output.out
    assert "broken.jpg: not a readable image" in output.err and "missing.png: no such file" in output.err
    assert "2 input(s) could not be analysed; 2 of 4 input(s) were." in output.err


def test_loading_a_local_model_prints_no_progress_bar_and_leaves_bars_on(model_dir, tmp_path):
    from transformers.utils import logging as transformers_logging

    from deepfake_detection import load_pipeline

    astronaut().save(tmp_path / "astronaut.png")
    env = {key: value for key, value in os.environ.items() if "PROGRESS_BARS" not in key}  # bars on, as for users
    result = subprocess.run(
        [sys.executable, "-m", "deepfake_detection.cli", "predict", str(tmp_path / "astronaut.png"), "--model",
         str(model_dir)], capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0 and "astronaut.png: " in result.stdout
    assert "Loading weights" not in result.stderr, result.stderr
    transformers_logging.enable_progress_bar()
    try:
        load_pipeline(model_dir)
        assert transformers_logging.is_progress_bar_enabled()  # Hub downloads afterwards still show their progress
    finally:
        transformers_logging.disable_progress_bar()


def test_predict_json_lists_every_face_and_every_error(model_dir, tmp_path, capsys):
    astronaut().save(tmp_path / "astronaut.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    exit_code = main(["predict", str(tmp_path), "--model", str(model_dir), "--json"])
    rows = {os.path.basename(row["path"]): row for row in json.loads(capsys.readouterr().out)}
    assert exit_code == 1
    face = rows["astronaut.png"]["faces"][0]
    assert face["label"] in {"real", "fake"} and set(face["probabilities"]) == {"real", "fake"}
    assert len(face["box"]) == 4 and rows["astronaut.png"]["label"] == face["label"]
    assert "not a readable image" in rows["broken.png"]["error"]


def test_an_unreachable_model_is_explained_without_a_traceback(tmp_path):
    astronaut().save(tmp_path / "astronaut.png")
    completed = run_cli("predict", str(tmp_path / "astronaut.png"), "--model", "org/missing-model")
    assert completed.returncode == 2
    assert "Could not load the model 'org/missing-model'" in completed.stderr
    assert "Traceback" not in completed.stderr and "--model PATH" in completed.stderr


def test_detection_max_side_is_passed_to_the_face_detector(model_dir, tmp_path, capsys, monkeypatch):
    from deepfake_detection import pipeline

    seen = {}
    real_load_pipeline = pipeline.load_pipeline

    def recording_load_pipeline(*args, **kwargs):
        detector = real_load_pipeline(*args, **kwargs)
        seen["max_side"] = detector.face_detector.max_side
        return detector

    monkeypatch.setattr("deepfake_detection.pipeline.load_pipeline", recording_load_pipeline)
    astronaut().save(tmp_path / "astronaut.png")
    exit_code = main(["predict", str(tmp_path), "--model", str(model_dir), "--json", "--detection-max-side", "256"])
    rows = json.loads(capsys.readouterr().out)
    assert exit_code == 0 and seen["max_side"] == 256
    assert rows[0]["num_faces"] == 1


def test_predict_batch_size_sets_how_many_images_are_detected_together(model_dir, tmp_path, capsys, monkeypatch):
    from deepfake_detection import pipeline

    batches = []
    real_load_pipeline = pipeline.load_pipeline

    def recording_load_pipeline(*args, **kwargs):
        detector = real_load_pipeline(*args, **kwargs)
        detect_batch = detector.face_detector.detect_batch
        detector.face_detector.detect_batch = lambda images: batches.append(len(images)) or detect_batch(images)
        return detector

    monkeypatch.setattr("deepfake_detection.pipeline.load_pipeline", recording_load_pipeline)
    for index in range(10):
        astronaut().resize((128, 128)).save(tmp_path / f"face{index}.png")
    assert main(["predict", str(tmp_path), "--model", str(model_dir), "--json", "--batch-size", "10"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 10
    assert batches == [10]  # the pipeline's own default (8) would have made it [8, 2]


def test_num_frames_and_fps_exclude_each_other(capsys):
    import pytest

    from deepfake_detection.arguments import video_settings
    from deepfake_detection.cli import build_parser
    from deepfake_detection.video import DEFAULT_NUM_FRAMES

    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["predict", "clip.mp4", "--num-frames", "8", "--fps", "2"])
    assert stopped.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the default's own value too
        build_parser().parse_args(["predict", "clip.mp4", "--num-frames", "32", "--fps", "2"])
    assert video_settings(build_parser().parse_args(["predict", "clip.mp4", "--fps", "2"]))["fps"] == 2.0
    assert video_settings(build_parser().parse_args(["predict", "clip.mp4"]))["num_frames"] == DEFAULT_NUM_FRAMES


def test_predict_names_faces_too_small_to_judge_in_text_and_json(tmp_path, capsys):
    from model_factory import faces_image, make_model, save_model

    model_dir = save_model(make_model(min_judged_face=48, min_face_size=20), tmp_path / "model")
    faces_image([180, 60]).save(tmp_path / "mixed.png")
    faces_image([60, 60]).save(tmp_path / "tiny.png")
    assert main(["predict", str(tmp_path / "mixed.png"), str(tmp_path / "tiny.png"), "--model", str(model_dir)]) == 0
    mixed, tiny = capsys.readouterr().out.split(str(tmp_path / "tiny.png"))
    assert "face 1 [" in mixed and "  1 face(s) too small to judge: [" in mixed and "px wide" in mixed
    assert "face 2" not in mixed
    assert tiny.startswith(": no verdict: 2 faces were found, but all are too small to judge (under 48 px wide)")
    assert "2 face(s) too small to judge" in tiny and "no face detected" not in tiny
    assert main(["predict", str(tmp_path / "tiny.png"), "--model", str(model_dir), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["label"] is None and row["faces"] == [] and len(row["too_small"]) == 2
    assert set(row["too_small"][0]) == {"box", "width", "detection_confidence"} and row["too_small"][0]["width"] < 48
