"""Convert the original app's checkpoint (`resnetinceptionv1_epoch_32.pth`) into this package's Hub format.

Nothing is written unless every key and shape matches facenet-pytorch's InceptionResnetV1 and the converted model's
logits equal those of a plain facenet-pytorch model holding the same weights.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
from facenet_pytorch import InceptionResnetV1

from .configuration_deepfake_detector import DeepfakeDetectorConfig
from .export import render_card
from .errors import ConversionError, first_line
from .image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
from .modeling_deepfake_detector import DeepfakeDetectorForImageClassification

PARITY_TOLERANCE = 1e-5


def resolve_checkpoint(checkpoint: str, repo_type: str = "model", revision: str | None = None) -> Path:
    """A local path as is, or `repo_id:filename` downloaded from the Hub."""
    if Path(checkpoint).is_file():
        return Path(checkpoint)
    if ":" in checkpoint:
        from huggingface_hub import hf_hub_download

        repo_id, filename = checkpoint.split(":", 1)
        return Path(hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision))
    raise ConversionError(f"{checkpoint}: no such file. Give a local path or a Hub file as repo_id:filename.")


def load_original_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The facenet-pytorch state dict inside a bare state dict or the original `{"model_state_dict": ...}` file.

    Loads with `weights_only=True`, so a checkpoint that pickles code is refused instead of executed.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails on corrupt or unsafe files with many exception types
        raise ConversionError(
            f"{path}: refused to load: it is not a plain weights file ({first_line(error)}). "
            "Only tensors and plain containers are accepted; re-save the state dict with torch.save(model.state_dict())."
        ) from error
    if isinstance(checkpoint, dict) and "model_state_dict" in checkpoint:
        checkpoint = checkpoint["model_state_dict"]
    if not isinstance(checkpoint, dict) or not all(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        raise ConversionError(f"{path}: expected a state dict of tensors or a dict with 'model_state_dict'.")
    return checkpoint


def check_state_dict(state_dict: dict[str, torch.Tensor], reference: torch.nn.Module) -> None:
    """Raise `ConversionError` listing every missing, unexpected or wrongly shaped key."""
    expected = reference.state_dict()
    problems = [f"missing key {key}" for key in expected if key not in state_dict]
    problems += [f"unexpected key {key}" for key in state_dict if key not in expected]
    problems += [
        f"{key}: shape {tuple(state_dict[key].shape)}, expected {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ConversionError(
            f"The checkpoint does not match InceptionResnetV1(classify=True, num_classes=1): {shown}."
        )


def max_logit_difference(state_dict: dict[str, torch.Tensor], model: DeepfakeDetectorForImageClassification) -> float:
    """Largest |logit difference| between `model` and facenet-pytorch's own model with the same weights."""
    reference = InceptionResnetV1(classify=True, num_classes=1).eval()
    reference.load_state_dict(state_dict, strict=True)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(4, 3, model.config.image_size, model.config.image_size, generator=generator)
    with torch.inference_mode():
        expected = reference(inputs)[:, 0]
        actual = model.score_logits(inputs)
    return float((expected - actual).abs().max())


def convert_checkpoint(
    checkpoint: str | Path,
    output_dir: str | Path,
    score_label: str = "real",
    threshold: float = 0.7,
    card_template: str | Path | None = None,
    card_values: dict | None = None,
) -> Path:
    """Convert, verify and save model, config, processor config and model card to `output_dir`; return it."""
    from . import register

    register()  # the saved configs then name the remote-code classes (auto_map)
    state_dict = load_original_state_dict(checkpoint)
    # the original app judged every face it found, from MTCNN's 20 px: a converted checkpoint keeps that behaviour
    config = DeepfakeDetectorConfig(score_label=score_label, threshold=threshold, min_judged_face=None)
    model = DeepfakeDetectorForImageClassification(config).eval()
    check_state_dict(state_dict, model.inception)
    model.inception.load_state_dict(state_dict, strict=True)
    difference = max_logit_difference(state_dict, model)
    if not difference <= PARITY_TOLERANCE:
        raise ConversionError(f"Converted logits differ by {difference:.2e} (> {PARITY_TOLERANCE:.0e}); not written.")
    output_dir = Path(output_dir)
    with tempfile.TemporaryDirectory(dir=output_dir.parent if output_dir.parent.exists() else None) as staging:
        model.save_pretrained(staging)
        DeepfakeDetectorImageProcessor(face_crop_size=config.face_crop_size, size=config.image_size).save_pretrained(
            staging
        )
        if card_template is not None:
            values = {"parity_max_abs_diff": f"{difference:.1e}", **(card_values or {})}
            render_card(card_template, config, values).save(Path(staging) / "README.md")
        output_dir.mkdir(parents=True, exist_ok=True)
        for item in Path(staging).iterdir():
            shutil.move(str(item), output_dir / item.name)
    return output_dir
