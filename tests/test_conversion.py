"""Converting the original checkpoint: parity proven, tampered files refused, nothing written on failure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from facenet_pytorch import InceptionResnetV1
from huggingface_hub import HfApi, ModelCard
from model_factory import astronaut
from seed_reference import SeedApp

from deepfake_detection import DeepfakeDetectorConfig, DeepfakeDetectorForImageClassification, load_pipeline
from deepfake_detection.conversion import ConversionError, convert_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "model_card.md"


@pytest.fixture(scope="module")
def original_weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(5)
    return InceptionResnetV1(classify=True, num_classes=1).eval().state_dict()


def save_seed_checkpoint(path: Path, state_dict: dict) -> Path:
    """Save a checkpoint the way the original training code did."""
    torch.save({"epoch": 32, "model_state_dict": state_dict, "optimizer_state_dict": {}, "loss": 0.1}, path)
    return path


def test_seed_checkpoint_converts_with_parity(original_weights, tmp_path):
    checkpoint = save_seed_checkpoint(tmp_path / "resnetinceptionv1_epoch_32.pth", original_weights)
    output = convert_checkpoint(checkpoint, tmp_path / "converted", card_template=TEMPLATE)
    files = {path.name for path in output.iterdir()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "README.md"} <= files
    assert {"configuration_deepfake_detector.py", "modeling_deepfake_detector.py"} <= files
    model = DeepfakeDetectorForImageClassification.from_pretrained(output).eval()
    for key, value in original_weights.items():
        assert torch.equal(model.inception.state_dict()[key], value), key
    image = astronaut()
    seed = SeedApp(original_weights)
    expected = seed.score(seed.face(image)[0])
    assert load_pipeline(output)(image)["faces"][0]["score"] == pytest.approx(expected, abs=1e-5)
    card = ModelCard.load(output / "README.md")
    assert card.data.pipeline_tag == "image-classification" and "strictly above **0.7**" in card.text
    assert "None" not in card.text and 'model="org/name"' in card.text


def test_a_bare_state_dict_converts_and_the_score_label_is_recorded(original_weights, tmp_path):
    torch.save(original_weights, tmp_path / "bare.pth")
    output = convert_checkpoint(tmp_path / "bare.pth", tmp_path / "out", score_label="fake")
    config = DeepfakeDetectorConfig.from_pretrained(output)
    assert config.score_label == "fake" and config.label_for(0.9) == "fake"


def tampered(state_dict: dict, kind: str) -> dict:
    state_dict = dict(state_dict)
    if kind == "missing key":
        del state_dict["block8.conv2d.weight"]
    elif kind == "wrong shape":
        state_dict["logits.weight"] = torch.zeros(2, 512)
    elif kind == "unexpected key":
        state_dict["extra.weight"] = torch.zeros(1)
    return state_dict


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing key", "missing key block8.conv2d.weight"),
        ("wrong shape", r"logits.weight: shape \(2, 512\), expected \(1, 512\)"),
        ("unexpected key", "unexpected key extra.weight"),
    ],
)
def test_a_tampered_checkpoint_is_refused_and_nothing_is_written(original_weights, tmp_path, kind, message):
    checkpoint = save_seed_checkpoint(tmp_path / "tampered.pth", tampered(original_weights, kind))
    with pytest.raises(ConversionError, match=message):
        convert_checkpoint(checkpoint, tmp_path / "out", card_template=TEMPLATE)
    assert not (tmp_path / "out").exists()


class Payload:
    """Any pickled object: loading it with weights_only=False would run code."""


def test_a_checkpoint_with_pickled_objects_is_refused(original_weights, tmp_path):
    checkpoint = tmp_path / "pickled.pth"
    torch.save({"model_state_dict": original_weights, "payload": Payload()}, checkpoint)
    with pytest.raises(ConversionError, match="refused to load"):
        convert_checkpoint(checkpoint, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_script_converts_a_hub_file_and_pushes_the_result(original_weights, tmp_path, local_hub):
    api = HfApi()
    api.create_repo("org/original-checkpoint", exist_ok=True)
    checkpoint = save_seed_checkpoint(tmp_path / "resnetinceptionv1_epoch_32.pth", original_weights)
    api.upload_file(path_or_fileobj=checkpoint, path_in_repo=checkpoint.name, repo_id="org/original-checkpoint")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convert_checkpoint.py"),
         f"org/original-checkpoint:{checkpoint.name}", "--output", str(tmp_path / "converted"),
         "--push-to-hub", "org/converted-detector"],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    files = set(api.list_repo_files("org/converted-detector"))
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "README.md"} <= files
    card = ModelCard.load("org/converted-detector")
    assert "org/converted-detector" in card.text and checkpoint.name in card.text


def test_the_script_reports_a_bad_checkpoint_without_a_traceback(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"junk")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convert_checkpoint.py"), str(tmp_path / "junk.pth"),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("error:") and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()
