"""Smoke test of scripts/benchmark.py on a few tiny inputs: every figure lands in the JSON, and the seed path's
re-creation gives the package's parity-mode scores on the same face. Correctness only: no timing assertions."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN
from model_factory import astronaut
from PIL import Image, ImageOps
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
def figures(bench, inputs, model_dir) -> dict:
    """The benchmark's figures on the tiny inputs, through a JSON round trip (so they must be JSON-able)."""
    frames, crops = inputs
    result = bench.run_benchmark(
        frames, crops, model_dir, repeat=1, batch_size=2, crop_batch_size=2, explain_images=2, matmul_size=256,
        space=False, log=lambda message: None,
    )
    return json.loads(json.dumps(result))


def test_seed_path_is_the_seed_computation(bench, model_dir):
    """The benchmark's seed path gives exactly what mtcnn(image) -> 256 -> /255 -> model gives, written out here."""
    model = DeepfakeDetectorForImageClassification.from_pretrained(model_dir).eval()
    seed = bench.SeedApp(model.inception.state_dict())
    image = astronaut()
    face = MTCNN(select_largest=False, post_process=False).eval()(image)
    pixel_values = F.interpolate(face.unsqueeze(0), size=(256, 256), mode="bilinear", align_corners=False) / 255.0
    with torch.no_grad():
        expected = torch.sigmoid(model.inception(pixel_values)[0, 0]).item()
    crop, box = seed.face(image)
    assert seed.score(seed.model_input(crop)) == pytest.approx(expected, abs=1e-7)
    assert box is not None and len(box) == 4
    heatmap = seed.explain(seed.model_input(crop))
    assert heatmap.shape == (256, 256) and 0.0 <= heatmap.min() and heatmap.max() <= 1.0 + 1e-6


def test_seed_path_equals_package_parity_mode(bench, inputs, model_dir):
    """On the same (most confident) face, the seed path's score equals the package's parity-mode score within 1e-5."""
    frames, _ = inputs
    model = DeepfakeDetectorForImageClassification.from_pretrained(model_dir)
    seed = bench.SeedApp(model.inception.state_dict())
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
    bound = figures["jobs"]["crops"]["flop_bound"]
    assert bound["ratio"] == pytest.approx(bound["package_ms_per_image"] / bound["bound_ms_per_image"])
    assert bound["classification_only_gflops_per_s"] > 0
    assert figures["compute"]["matmul_gflops_per_s"] == max(run["gflops_per_s"] for run in figures["compute"]["matmul"])
    assert figures["machine"]["threads"]["torch_intra_op"] == torch.get_num_threads()
    assert figures["memory_method"]
    assert "skipped" in figures["space"]
    assert set(figures["checks"]) == {*figures["targets"], "score_diff_run", "score_diff_parity"}
    assert all(isinstance(ok, bool) for ok in figures["checks"].values())


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


def test_space_time_to_ready(bench, model_dir):
    if not bench.SPACE_APP.is_file():
        pytest.skip("space/app.py is not in this checkout")
    result = bench.space_time_to_ready(model_dir, timeout=240)
    assert result.get("time_to_ready_s", 0) > 0, result


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
