"""Smoke test of scripts/benchmark.py on a few tiny inputs: every figure lands in the JSON, and the seed path's
re-creation gives the package's parity-mode scores on the same face. The figures derived from timings are checked on
known timings (a fake clock), never on the run's own."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
from pathlib import Path

import benchmark_measure as measure
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN
from model_factory import astronaut
from PIL import Image, ImageOps
from seed_reference import SeedApp
from torch.utils.flop_counter import FlopCounterMode

from deepfake_detection import DeepfakeDetectorForImageClassification, load_pipeline

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("evaluation", "explain", "crops")


@pytest.fixture(scope="module")
def bench():
    """scripts/benchmark.py imported as a module."""
    spec = importlib.util.spec_from_file_location("benchmark_script", ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[list[Path], list[Path]]:
    """Three small frames (the astronaut, its mirror image, a blank image without a face) and three 224 face crops."""
    folder = tmp_path_factory.mktemp("benchmark_inputs")
    image = astronaut()
    frames = [folder / "astronaut.png", folder / "mirrored.png", folder / "blank.png"]
    image.resize((288, 288), Image.BILINEAR).save(frames[0])
    ImageOps.mirror(image).resize((288, 288), Image.BILINEAR).save(frames[1])
    Image.new("RGB", (320, 240), (128, 128, 128)).save(frames[2])
    crops = []
    for index, (x, y) in enumerate([(110, 10), (120, 20), (100, 0)]):
        crops.append(folder / f"crop_{index}.jpg")
        image.crop((x, y, x + 224, y + 224)).save(crops[-1])
    return frames, crops


@pytest.fixture(scope="module")
def benchmark_run(bench, inputs, model_dir) -> tuple[dict, list[str]]:
    """The benchmark run on the tiny inputs without the Space: its figures, and the command of every process started
    meanwhile (each `subprocess.Popen` is recorded, then run as usual)."""
    frames, crops = inputs
    commands = []

    class RecordingPopen(subprocess.Popen):
        def __init__(self, args, *rest, **options):
            commands.append(" ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args))
            super().__init__(args, *rest, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", RecordingPopen)
        result = bench.run_benchmark(
            frames, crops, model_dir, repeat=1, batch_size=2, crop_batch_size=2, explain_images=2, matmul_size=256,
            space=False, cold_start=False, log=lambda message: None,
        )
    return result, commands


@pytest.fixture(scope="module")
def figures(benchmark_run) -> dict:
    """The benchmark's figures on the tiny inputs, through a JSON round trip (so they must be JSON-able)."""
    return json.loads(json.dumps(benchmark_run[0]))


def test_seed_path_is_the_seed_computation(model_dir):
    """The benchmark's seed path gives exactly what mtcnn(image) -> 256 -> /255 -> model gives, written out here."""
    model = DeepfakeDetectorForImageClassification.from_pretrained(model_dir).eval()
    seed = SeedApp(model.inception.state_dict())
    image = astronaut()
    face = MTCNN(select_largest=False, post_process=False).eval()(image)
    pixel_values = F.interpolate(face.unsqueeze(0), size=(256, 256), mode="bilinear", align_corners=False) / 255.0
    with torch.no_grad():
        expected = torch.sigmoid(model.inception(pixel_values)[0, 0]).item()
    model_input, box = seed.face(image)
    assert seed.score(model_input) == pytest.approx(expected, abs=1e-7)
    assert box is not None and len(box) == 4
    heatmap = seed.explain(model_input)
    assert heatmap.shape == (256, 256) and 0.0 <= heatmap.min() and heatmap.max() <= 1.0 + 1e-6


def test_seed_path_equals_package_parity_mode(bench, inputs, model_dir):
    """On the same (most confident) face, the seed path's score equals the package's parity-mode score within 1e-5."""
    frames, _ = inputs
    model = DeepfakeDetectorForImageClassification.from_pretrained(model_dir)
    seed = SeedApp(model.inception.state_dict())
    parity = load_pipeline(model_dir, parity=True, model_kwargs=bench.PARITY_SETTINGS)
    scores = []
    for frame, explain in [(frames[0], False), (frames[1], False), (frames[0], True)]:
        expected = seed.analyse(frame, explain=explain)
        result = parity(str(frame), explain=explain)
        face = max(result["faces"], key=lambda face: face["detection_confidence"])
        np.testing.assert_allclose(face["box"], expected["box"], atol=0.01)
        assert abs(face["score"] - expected["score"]) <= 1e-5
        scores.append(face["score"])
    assert abs(scores[0] - scores[1]) > 1e-3  # the mirrored face scores differently: the comparison is not vacuous
    assert seed.analyse(frames[2], explain=False) == {"score": None, "box": None}


def test_json_holds_every_figure(figures):
    for job in JOBS:
        for path in ("seed", "package"):
            timing = figures["jobs"][job][path]
            for value in (timing["images_per_s"], timing["latency_ms"]["median"], timing["latency_ms"]["p90"],
                          timing["peak_rss_mib"], timing["total_s"]):
                assert math.isfinite(value) and value > 0, (job, path, timing)
            assert timing["latency_ms"]["p90"] >= timing["latency_ms"]["median"]
        assert figures["jobs"][job]["speedup"] > 0
        assert figures["jobs"][job]["scores"]["run"]["max_abs_score_diff"] is not None
    for path in ("seed", "package"):
        assert figures["jobs"]["crops"][path]["classifier_gflops_per_s"] > 0
    for value in figures["jobs"]["crops"]["flop_bound"].values():
        assert math.isfinite(value) and value > 0
    assert figures["compute"]["matmul_gflops_per_s"] == max(run["gflops_per_s"] for run in figures["compute"]["matmul"])
    assert figures["machine"]["threads"]["torch_intra_op"] == torch.get_num_threads()
    assert figures["memory_method"]
    not_measured = {"cold_start_s"}  # the fixture skips the cold start; test_cold_start_checks covers it
    assert set(figures["checks"]) == {*figures["targets"], "score_diff_run", "score_diff_parity"} - not_measured
    assert figures["cold_start"] == {"skipped": "not requested"} and figures["accuracy"] == {"skipped": "not requested"}
    assert all(isinstance(ok, bool) for ok in figures["checks"].values())


def test_the_video_job_samples_32_frames_of_a_clip_made_of_the_frames(bench, figures, inputs):
    """The clip repeats the frames (astronaut, mirrored, blank): one face in every sampled frame but the blank ones."""
    from deepfake_detection.video import frame_indices

    video, frames = figures["video"], inputs[0]
    assert video["frames_sampled"] == 32 and video["seconds"] > 0
    assert video["clip"].startswith("x".join(map(str, Image.open(frames[0]).size)))
    sampled = frame_indices(bench.VIDEO_FPS * bench.VIDEO_SECONDS, bench.VIDEO_FPS, num_frames=32)
    assert video["faces"] == sum(index % len(frames) != 2 for index in sampled)


def test_the_space_is_not_started_unless_requested(benchmark_run, figures):
    """`space=False` launches no Space: no started process runs space/app.py, and no start-up time is reported."""
    if not measure.SPACE_APP.is_file():
        pytest.skip("space/app.py is not in this checkout, so nothing could start it")
    _, commands = benchmark_run
    assert not [command for command in commands if str(measure.SPACE_APP) in command], commands
    assert "time_to_ready_s" not in figures["space"] and "command" not in figures["space"]


def test_the_space_job_times_the_space_only_when_requested(bench, model_dir, monkeypatch):
    """The Space job hands the model folder and dataset to the start-up timer when requested, and never otherwise."""
    calls = []

    def fake_time_to_ready(model_folder, dataset=None, image=None):
        calls.append((model_folder, dataset, image))
        return {"time_to_ready_s": 1.5}

    monkeypatch.setattr(bench, "space_time_to_ready", fake_time_to_ready)
    skipped = bench.space_job(False, model_dir, None, log=lambda message: None)
    assert calls == [] and "time_to_ready_s" not in skipped
    timed = bench.space_job(True, model_dir, Path("frames"), log=lambda message: None, image="frame.png")
    assert calls == [(model_dir, Path("frames"), "frame.png")] and timed == {"time_to_ready_s": 1.5}


def test_cold_start_checks_take_the_slower_of_predict_and_the_space(bench, figures):
    """The cold-start target holds only when both the fresh `predict` and the fresh Space's first answer meet it."""
    target = bench.TARGETS["cold_start_s"]
    jobs, video = figures["jobs"], figures["video"]
    fast = {"cli": {"seconds": target - 1}, "space": {"time_to_first_answer_s": target - 0.5}}
    slow_space = {"cli": {"seconds": target - 1}, "space": {"time_to_first_answer_s": target + 0.5}}
    only_cli = {"cli": {"seconds": target + 1}, "space": {"skipped": "not requested"}}
    assert bench.checks(jobs, video, fast)["cold_start_s"] is True
    assert bench.checks(jobs, video, slow_space)["cold_start_s"] is False
    assert bench.checks(jobs, video, only_cli)["cold_start_s"] is False
    assert "cold_start_s" not in bench.checks(jobs, video, {"cli": {"skipped": "x"}, "space": {"skipped": "x"}})


def test_a_cold_predict_is_timed_to_its_answer_and_a_failure_is_reported(model_dir, inputs):
    frames, _ = inputs
    timed = measure.cold_predict_seconds(model_dir, str(frames[0]))
    assert timed["seconds"] > 0 and "predict" in timed["command"], timed
    failed = measure.cold_predict_seconds(model_dir, str(frames[0].parent / "missing.png"))
    assert "seconds" not in failed and "exit code" in failed["error"], failed


def test_the_accuracy_job_compares_detection_sizes_with_full_resolution(tmp_path, model_dir):
    """Against the original arithmetic: the channels-last default finds the same faces; a size at or above every image
    changes nothing more (AUC equal to the default's by construction); a size too small to see the faces misses them
    and is not kept."""
    import benchmark_accuracy

    folder = tmp_path / "labelled"
    folder.mkdir()
    image = astronaut().resize((400, 400), Image.BILINEAR)
    for index, variant in enumerate([image, ImageOps.mirror(image), image.rotate(5), image.rotate(-5)]):
        variant.save(folder / f"{'real' if index % 2 else 'fake'}_{index}.png")
    frames = [str(path) for path in sorted(folder.glob("*.png"))]
    figures = benchmark_accuracy.accuracy_job(str(model_dir), frames, {"labelled": (str(folder), None)},
                                              max_sides=[400, 40], log=lambda message: None)
    default, unchanged, tiny = figures["candidates"]
    assert default["detection_max_side"] is None and default["unchanged_by_construction"] == []
    assert default["face_recall"]["found"] == default["face_recall"]["reference_faces"] >= 4
    assert default["face_recall"]["min_matched_iou"] == pytest.approx(1.0, abs=1e-4)  # channels-last: same faces
    assert default["roc_auc_change"]["labelled"] == pytest.approx(0.0, abs=0.005) and default["keeps_accuracy"]
    assert unchanged["face_recall"]["found"] == unchanged["face_recall"]["reference_faces"]
    assert unchanged["unchanged_by_construction"] == ["labelled"] and unchanged["roc_auc"] == default["roc_auc"]
    assert unchanged["keeps_accuracy"] is True
    assert tiny["face_recall"]["found"] == 0 and len(tiny["face_recall"]["missed"]) >= 4
    assert tiny["roc_auc"] == {"labelled": None}  # evaluated at that size: no face found, so no AUC
    assert tiny["unchanged_by_construction"] == [] and tiny["keeps_accuracy"] is False
    rows = benchmark_accuracy.accuracy_rows(figures)
    assert [row[0] for row in rows] == ["full (default, channels-last)", "400", "40"]
    assert [row[-1] for row in rows] == ["yes", "yes", "no"]


def test_flop_bound_from_known_figures(bench):
    """8 GFLOP per image at 200 GFLOP/s is 40 ms; 20 crops/s is 50 ms each (1.25x the bound); a 44 ms classifier
    pass is 1.1x the bound and runs 8 GFLOP / 0.044 s = 181.8 GFLOP/s."""
    bound = bench.flop_bound(gflop=8.0, matmul_rate=200.0, package_images_per_s=20.0, classify_ms=44.0)
    assert bound["bound_ms_per_image"] == pytest.approx(40.0)
    assert bound["package_ms_per_image"] == pytest.approx(50.0)
    assert bound["ratio"] == pytest.approx(1.25)
    assert bound["classification_only_ms_per_image"] == pytest.approx(44.0)
    assert bound["classification_only_ratio"] == pytest.approx(1.1)
    assert bound["classification_only_gflops_per_s"] == pytest.approx(181.818, abs=1e-3)


def test_timed_paths_from_a_known_clock(monkeypatch):
    """With a fake clock, seed calls of 0.5 s per image and package calls of 0.2 s per pair of images give 2 and 10
    images/s, 500 and 100 ms per image; outputs come from the first pass only, in input order."""
    clock = [0.0]
    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock[0])

    def seed_step(part):
        clock[0] += 0.5 * len(part)
        return [f"seed {item}" for item in part]

    def package_step(part):
        clock[0] += 0.2
        return [f"package {item}" for item in part]

    steps = {"seed": (seed_step, 1), "package": (package_step, 2)}
    timings = measure.time_paths([0, 1, 2, 3], steps, repeat=2)
    seed, seed_outputs = timings["seed"]
    package, package_outputs = timings["package"]
    assert seed_outputs == ["seed 0", "seed 1", "seed 2", "seed 3"]
    assert package_outputs == ["package 0", "package 1", "package 2", "package 3"]
    assert seed["items"] == package["items"] == 8
    assert seed["total_s"] == pytest.approx(4.0) and package["total_s"] == pytest.approx(0.8)
    assert seed["images_per_s"] == pytest.approx(2.0) and package["images_per_s"] == pytest.approx(10.0)
    assert seed["latency_ms"]["median"] == pytest.approx(500.0)
    assert package["latency_ms"]["median"] == pytest.approx(100.0)
    assert package["latency_ms"]["p90"] == pytest.approx(100.0)


def test_speedups_from_known_timings(bench):
    """By throughput 6 / 2 images/s is 3x; by median latency 400 / 250 ms is 1.6x."""
    timings = {
        "seed": ({"images_per_s": 2.0, "latency_ms": {"median": 400.0}}, []),
        "package": ({"images_per_s": 6.0, "latency_ms": {"median": 250.0}}, []),
    }
    assert bench.job_figures(timings, "throughput")["speedup"] == pytest.approx(3.0)
    assert bench.job_figures(timings, "median latency")["speedup"] == pytest.approx(1.6)


def test_inputs_are_counted(figures):
    assert figures["inputs"]["frames"] == 3 and figures["inputs"]["crops"] == 3
    assert figures["jobs"]["evaluation"]["seed"]["items"] == 3
    assert figures["jobs"]["evaluation"]["faces_classified"]["seed"] == 2  # the blank image has no face
    assert figures["jobs"]["evaluation"]["faces_classified"]["package"] >= 2
    assert figures["inputs"]["frame_sizes"] == ["288x288", "320x240"]


def test_scores_match_between_paths(figures):
    evaluation = figures["jobs"]["evaluation"]["scores"]
    assert evaluation["parity"]["matched_faces"] == 2
    assert evaluation["parity"]["max_abs_score_diff"] <= 1e-5
    assert figures["jobs"]["explain"]["scores"]["parity"]["max_abs_score_diff"] <= 1e-5
    assert figures["jobs"]["crops"]["scores"]["run"]["max_abs_score_diff"] <= 1e-5


def test_classifier_flops_are_counted(figures, model_dir):
    """The GFLOP figure equals a count made here on the package's model (not the seed's copy the benchmark uses)."""
    model = DeepfakeDetectorForImageClassification.from_pretrained(model_dir).eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.rand(1, 3, 256, 256))
    assert figures["compute"]["classifier_gflop_per_image"] == pytest.approx(counter.get_total_flops() / 1e9)


def test_profile_attributes_the_package_stages(figures):
    """Every stage the package runs shows up in the profile (a renamed function would leave its stage at zero)."""
    evaluation, explain = figures["profile"]["evaluation"]["stages_s"], figures["profile"]["explain"]["stages_s"]
    for stage in ("image loading", "face detection (MTCNN)", "preprocessing (crop -> 256)", "classification"):
        assert evaluation[stage] > 0, stage
    for stage in ("face detection (MTCNN)", "Grad-CAM (score + heatmap)", "overlays"):
        assert explain[stage] > 0, stage


def test_report_shows_every_job(bench, figures):
    text = bench.report(figures)
    for title in bench.JOB_TITLES.values():
        assert title in text
    assert f"{figures['jobs']['evaluation']['speedup']:.1f}x" in text


def test_space_time_to_ready_and_a_failed_first_answer_is_reported(model_dir, tmp_path):
    if not measure.SPACE_APP.is_file():
        pytest.skip("space/app.py is not in this checkout")
    result = measure.space_time_to_ready(model_dir, image=str(tmp_path / "missing.png"), timeout=240)
    assert result.get("time_to_ready_s", 0) > 0, result
    assert str(measure.SPACE_APP) in result["command"]
    assert "time_to_first_answer_s" not in result and "first /analyze request failed" in result["error"]


def test_missing_folder_is_a_clear_error(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--images", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out.json")])
    assert "is not a folder" in capsys.readouterr().err


def test_settings_parse_as_json_values(bench):
    assert bench.parse_setting("detection_max_side=640") == ("detection_max_side", 640)
    assert bench.parse_setting("detection_max_side=null") == ("detection_max_side", None)
    assert bench.parse_setting("face_selection=largest") == ("face_selection", "largest")
    with pytest.raises(Exception, match="KEY=VALUE"):
        bench.parse_setting("detection_max_side")
