"""The trained model that ships in the package: the offline default, the same on the Hub, and as good as its card says."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import SHARED_DATA, requires_shared_data
from huggingface_hub import ModelCard
from model_factory import astronaut, calibration_batch
from safetensors import safe_open
from safetensors.torch import load_file
from test_hub import REMOTE_CODE_SCRIPT
from transformers import AutoModelForImageClassification

from deepfake_detection import DeepfakeDetectorForImageClassification, DeepfakeDetectorImageProcessor
from deepfake_detection.export import export_model, publish_model
from deepfake_detection.hub import BUNDLED_MODEL_DIR, MODEL_ENV, default_model_id

AUC_TOLERANCE = 0.02


def weight_dtypes(folder) -> dict[str, set[str]]:
    """The dtypes of the floating-point tensors, apart for batch-norm running statistics and the rest (batch-norm
    counters are integers and stay so)."""
    dtypes = {"statistics": set(), "weights": set()}
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        for name in weights.keys():
            kind = "statistics" if name.endswith(("running_mean", "running_var")) else "weights"
            dtypes[kind].add(str(weights.get_slice(name).get_dtype()))
    return {kind: found - {"I64"} for kind, found in dtypes.items()}


def with_fp16_rounded_parameters(model: torch.nn.Module) -> torch.nn.Module:
    """What an export should load back as: every parameter rounded to fp16, the running statistics untouched."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    return model.eval()


def card_metric(dataset_name: str, split: str, metric: str) -> float:
    """A metric from the bundled model card's model-index."""
    card = ModelCard.load(BUNDLED_MODEL_DIR / "README.md")
    for result in card.data.eval_results:
        if (result.dataset_name, result.dataset_split, result.metric_type) == (dataset_name, split, metric):
            return result.metric_value
    raise AssertionError(f"the card has no {metric} for {dataset_name} {split}")


def test_the_bundled_configs_name_their_remote_code_classes():
    """Without `auto_map`, the published copy would not load with `trust_remote_code=True`."""
    config = json.loads((BUNDLED_MODEL_DIR / "config.json").read_text())
    processor = json.loads((BUNDLED_MODEL_DIR / "preprocessor_config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_deepfake_detector.DeepfakeDetectorConfig",
        "AutoModelForImageClassification": "modeling_deepfake_detector.DeepfakeDetectorForImageClassification",
    }
    assert processor["auto_map"] == {
        "AutoImageProcessor": "image_processing_deepfake_detector.DeepfakeDetectorImageProcessor"
    }


def test_export_stores_fp16_weights_that_load_as_float32(model_dir, tmp_path):
    exported = export_model(model_dir, tmp_path / "release")
    assert weight_dtypes(exported) == {"weights": {"F16"}, "statistics": {"F32"}}
    assert json.loads((exported / "config.json").read_text())["dtype"] == "float32"
    assert not list(exported.glob("*.py")), "code belongs to the package, not to the bundled folder"
    loaded = DeepfakeDetectorForImageClassification.from_pretrained(exported).eval()
    assert next(loaded.parameters()).dtype == torch.float32
    rounded = with_fp16_rounded_parameters(DeepfakeDetectorForImageClassification.from_pretrained(model_dir))
    pixel_values = calibration_batch(2, seed=4)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(pixel_values).logits, rounded(pixel_values).logits, atol=1e-6, rtol=0)


def test_export_keeps_variances_past_fp16s_range_and_refuses_weights_that_overflow(model_dir, tmp_path):
    """A trained model's last batch norm saw variances over 65,504: in fp16 they became inf and zeroed 157 features
    of the model bundled before this test existed, and made a warm start's weight EMA NaN."""
    model = DeepfakeDetectorForImageClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.inception.last_bn.running_var.mul_(1e6)  # now ~1e5-1e7, as in a trained model
        model.inception.last_bn.running_mean.mul_(1e3)
    model.save_pretrained(tmp_path / "wide")
    loaded = DeepfakeDetectorForImageClassification.from_pretrained(export_model(tmp_path / "wide", tmp_path / "out"))
    torch.testing.assert_close(loaded.inception.last_bn.running_var, model.inception.last_bn.running_var)
    pixel_values = calibration_batch(2, seed=4)
    with torch.inference_mode():
        expected = with_fp16_rounded_parameters(model)(pixel_values).logits
        torch.testing.assert_close(loaded.eval()(pixel_values).logits, expected, atol=1e-5, rtol=0)
    with torch.no_grad():
        model.inception.last_linear.weight[0, 0] = 1e5  # past fp16's range: no silent inf in a release
    model.save_pretrained(tmp_path / "overflowing")
    with pytest.raises(ValueError, match="Not finite in fp16.*last_linear.weight"):
        export_model(tmp_path / "overflowing", tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_the_bundled_model_is_the_default_and_a_complete_release(monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert default_model_id() == str(BUNDLED_MODEL_DIR)
    names = {path.name for path in BUNDLED_MODEL_DIR.iterdir()}
    assert names == {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"}
    assert weight_dtypes(BUNDLED_MODEL_DIR) == {"weights": {"F16"}, "statistics": {"F32"}}
    tensors = load_file(BUNDLED_MODEL_DIR / "model.safetensors")
    assert not [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    config = json.loads((BUNDLED_MODEL_DIR / "config.json").read_text())
    assert config["threshold"] == 0.7 and config["score_label"] in ("real", "fake")
    card = (BUNDLED_MODEL_DIR / "README.md").read_text()
    assert "not evidence for forensic or legal decisions" in card
    assert ("Warm-started from" in card) == ("--init-model" in card) != ("Trained **from scratch**" in card)


def test_the_card_says_whether_training_started_from_scratch_or_from_another_model():
    from dataclasses import asdict
    from pathlib import Path

    from deepfake_detection import DeepfakeDetectorConfig
    from deepfake_detection.export import render_card
    from deepfake_detection.training.recipe import TrainingRecipe, train_command

    recipe = TrainingRecipe()
    template = Path(__file__).parents[1] / "model_card.md"
    for init_model in (None, "runs/earlier/best-model"):
        training = {"recipe": asdict(recipe), "augmentation": "flip", "step": 10, "images_seen": 320, "hardware": "cpu",
                    "wall_time": "0 h 01 min", "train_faces": 100, "paired_fakes": 50, "eval_faces": 20,
                    "command": train_command(recipe, "data", "runs/x", init_model), "init_model": init_model}
        text = render_card(template, DeepfakeDetectorConfig(), {"training": training}).content
        if init_model:
            assert "Warm-started from `runs/earlier/best-model`" in text and "--init-model runs/earlier/best-model" in text
            assert "from scratch" not in text
        else:
            assert "Trained **from scratch** (no VGGFace2 or other pretrained weights)" in text
            assert "--init-model" not in text and "Warm-started" not in text


def test_the_bundled_model_gives_the_same_logits_from_its_folder_the_hub_and_remote_code(local_hub, tmp_path):
    repo_id = "org/bundled-detector"
    publish_model(BUNDLED_MODEL_DIR, repo_id)
    size = json.loads((BUNDLED_MODEL_DIR / "config.json").read_text())["image_size"]
    generator = torch.Generator().manual_seed(8)
    crops = list((torch.rand(2, 3, 160, 160, generator=generator) * 255).round())
    pixel_values = DeepfakeDetectorImageProcessor(size=size)(crops)["pixel_values"]
    folder = DeepfakeDetectorForImageClassification.from_pretrained(BUNDLED_MODEL_DIR).eval()
    hub = AutoModelForImageClassification.from_pretrained(repo_id).eval()
    with torch.inference_mode():
        torch.testing.assert_close(hub(pixel_values).logits, folder(pixel_values).logits, atol=0, rtol=0)
    completed = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_SCRIPT, repo_id],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    remote_logits = torch.tensor(json.loads(completed.stdout.strip().splitlines()[-1])["logits"])
    with torch.inference_mode():
        torch.testing.assert_close(remote_logits, folder(pixel_values).logits, atol=1e-5, rtol=0)


def offline_environment() -> dict[str, str]:
    """No model id, and a Hub endpoint where nothing listens: any Hub call would fail."""
    env = {key: value for key, value in os.environ.items() if key != MODEL_ENV}
    return {**env, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}


def test_predict_without_a_model_uses_the_bundled_one_offline(tmp_path):
    astronaut().resize((1024, 1024)).save(tmp_path / "astronaut.png")  # its face 174 px wide: judged (87 px is not)
    completed = subprocess.run(
        [sys.executable, "-m", "deepfake_detection.cli", "predict", str(tmp_path / "astronaut.png")],
        capture_output=True, text=True, timeout=300, env=offline_environment(),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "astronaut.png: REAL" in completed.stdout or "astronaut.png: FAKE" in completed.stdout


@requires_shared_data
def test_the_bundled_model_is_as_good_on_dfdc_validation_as_its_card_says(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "deepfake_detection.cli", "evaluate", "--dataset", str(SHARED_DATA / "dfdc-faces"),
         "--split", "validation", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, env=offline_environment(),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"]["id"] == str(BUNDLED_MODEL_DIR)
    assert metrics["roc_auc"] == pytest.approx(card_metric("DFDC face crops", "validation", "roc_auc"), abs=AUC_TOLERANCE)
