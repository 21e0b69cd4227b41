"""Models on the (local) Hub: push, load by id, remote code in a fresh process, pinned revisions, helpful errors."""

import json
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub import HfApi
from model_factory import astronaut, calibration_batch, make_model, save_model
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

from deepfake_detection import DeepfakeDetectorForImageClassification, ModelNotAvailableError, load_pipeline
from deepfake_detection.hub import push_folder


def test_from_pretrained_by_id_gives_identical_logits(hub_model_id, model_dir):
    local = DeepfakeDetectorForImageClassification.from_pretrained(model_dir).eval()
    remote = AutoModelForImageClassification.from_pretrained(hub_model_id).eval()
    assert isinstance(remote, DeepfakeDetectorForImageClassification)
    pixel_values = calibration_batch(2, seed=8)
    with torch.inference_mode():
        torch.testing.assert_close(remote(pixel_values).logits, local(pixel_values).logits, atol=1e-6, rtol=0)
    processor = AutoImageProcessor.from_pretrained(hub_model_id)
    assert (processor.size, processor.face_crop_size) == (256, 160)


def test_pipeline_task_loads_by_hub_id(hub_model_id):
    detector = pipeline("deepfake-detection", model=hub_model_id)
    result = detector(astronaut())
    assert result["num_faces"] == 1 and result["faces"][0]["label"] in {"real", "fake"}


REMOTE_CODE_SCRIPT = """
import json, sys, torch
from transformers import AutoImageProcessor, AutoModelForImageClassification
model = AutoModelForImageClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
generator = torch.Generator().manual_seed(8)
pixel_values = processor(list((torch.rand(2, 3, 160, 160, generator=generator) * 255).round()))["pixel_values"]
with torch.inference_mode():
    logits = model(pixel_values).logits
assert "deepfake_detection" not in sys.modules, "the package must not be imported"
print(json.dumps({"class": type(model).__module__, "logits": logits.tolist()}))
"""


def test_trust_remote_code_works_in_a_process_that_never_imports_the_package(hub_model_id, model_dir, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_SCRIPT, hub_model_id],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = json.loads(completed.stdout.strip().splitlines()[-1])
    assert output["class"].startswith("transformers_modules"), output["class"]
    local = DeepfakeDetectorForImageClassification.from_pretrained(model_dir).eval()
    generator = torch.Generator().manual_seed(8)
    from deepfake_detection import DeepfakeDetectorImageProcessor

    crops = list((torch.rand(2, 3, 160, 160, generator=generator) * 255).round())
    with torch.inference_mode():
        expected = local(DeepfakeDetectorImageProcessor()(crops)["pixel_values"]).logits
    torch.testing.assert_close(torch.tensor(output["logits"]), expected, atol=1e-5, rtol=0)


def test_a_pinned_revision_keeps_the_old_weights(tmp_path):
    repo_id = "org/pinned-detector"
    first, second = make_model(seed=3), make_model(seed=4)
    save_model(first, tmp_path / "first")
    save_model(second, tmp_path / "second")
    push_folder(tmp_path / "first", repo_id)
    first_commit = HfApi().model_info(repo_id).sha
    push_folder(tmp_path / "second", repo_id)
    pixel_values = calibration_batch(1, seed=9)
    pinned = AutoModelForImageClassification.from_pretrained(repo_id, revision=first_commit).eval()
    latest = AutoModelForImageClassification.from_pretrained(repo_id).eval()
    with torch.inference_mode():
        torch.testing.assert_close(pinned(pixel_values).logits, first(pixel_values).logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(latest(pixel_values).logits, second(pixel_values).logits, atol=1e-5, rtol=0)
    assert load_pipeline(repo_id, revision=first_commit).model.config.name_or_path == repo_id


@pytest.mark.parametrize(
    "model, revision",
    [("org/no-such-model", None), ("org/deepfake-detector", "no-such-branch")],
)
def test_an_unreachable_model_says_what_to_do(hub_model_id, model, revision):
    with pytest.raises(ModelNotAvailableError) as error:
        load_pipeline(model, revision=revision)
    message = str(error.value)
    assert model in message and "--model PATH" in message and "DEEPFAKE_DETECTION_MODEL" in message
    assert "convert_checkpoint.py" in message
