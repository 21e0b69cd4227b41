"""Export a trained model as a release folder: fp16 weights, config, processor config and its model card.

This is how the bundled model (`hub.BUNDLED_MODEL_DIR`) is made, and the same folder is what gets pushed to the
Hub. The weights are stored in fp16 (half the size) while `config.dtype` stays float32, so `from_pretrained` loads
them back as float32 by default: CPU inference in fp16 would be slow and less exact. Batch-norm running statistics
stay in fp32 (a few kB): a trained model's activation variances can pass fp16's largest value, 65,504, and an inf
variance silently zeroes that feature.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, ModelCardData

from .image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
from .modeling_deepfake_detector import DeepfakeDetectorForImageClassification

CARD_TAGS = ["deepfake-detection", "facenet-pytorch", "grad-cam", "image-classification"]
REMOTE_CODE_FILES = (
    "configuration_deepfake_detector.py",
    "modeling_deepfake_detector.py",
    "image_processing_deepfake_detector.py",
)
"""The package's flat, self-contained files that a Hub repo carries so `trust_remote_code=True` works without it."""


def render_card(template: str | os.PathLike, config, values: dict[str, Any], evaluations: list[dict] = ()) -> ModelCard:
    """The model card rendered from the `model_card.md` jinja2 template, with evaluations in its model-index.

    `evaluations` are `metrics.json` contents written by `evaluation.evaluate`.
    """
    from .report import eval_results

    values = {key: value for key, value in values.items() if value is not None}
    results = [result for metrics in evaluations for result in eval_results(metrics)]
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        license=values.get("license", "mit"),
        tags=CARD_TAGS,
        datasets=values.get("datasets"),
        model_name=values.get("model_name") if results else None,
        eval_results=results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template),
        threshold=config.threshold,
        score_label=config.score_label,
        other_label=config.other_label,
        image_size=config.image_size,
        face_crop_size=config.face_crop_size,
        evaluations=list(evaluations),
        **values,
    )


def export_model(
    source: str | os.PathLike,
    target: str | os.PathLike,
    template: str | os.PathLike | None = None,
    card_values: dict[str, Any] | None = None,
    evaluations: list[dict] = (),
) -> Path:
    """Write `source` (any model folder) to `target` with fp16 weights, replacing what was there; return `target`.

    The configs name the remote-code classes (`auto_map`), so the Hub copy loads with `trust_remote_code=True`.
    """
    from . import register

    register()  # sets the classes' auto-class names, which save_pretrained writes as auto_map
    model = DeepfakeDetectorForImageClassification.from_pretrained(source, dtype=torch.float32)
    processor = DeepfakeDetectorImageProcessor(face_crop_size=model.config.face_crop_size, size=model.config.image_size)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        to_fp16_weights(model).save_pretrained(staging)
        model.config.dtype = torch.float32
        model.config.save_pretrained(staging)
        processor.save_pretrained(staging)
        for code in Path(staging).glob("*.py"):
            code.unlink()  # the package is the code; the Hub copy gets it from `publish_model`
        if template is not None:
            render_card(template, model.config, card_values or {}, evaluations).save(Path(staging) / "README.md")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staging, target)
    return target


def to_fp16_weights(model: torch.nn.Module) -> torch.nn.Module:
    """`model` in fp16 except its batch-norm running statistics, which stay fp32; a clear error instead of a release
    whose fp16 weights overflowed to inf."""
    statistics = [
        (module, buffer, getattr(module, buffer).float().clone())
        for module in model.modules()
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.track_running_stats
        for buffer in ("running_mean", "running_var")
    ]
    model.to(torch.float16)
    for module, buffer, tensor in statistics:
        setattr(module, buffer, tensor)
    overflowed = [name for name, tensor in model.state_dict().items() if tensor.is_floating_point()
                  and not tensor.isfinite().all()]
    if overflowed:
        raise ValueError(f"Not finite in fp16 (or already in the source model): {', '.join(overflowed[:5])}. "
                         "Retrain or fix those tensors before exporting; the release would silently misbehave.")
    return model


def publish_model(folder: str | os.PathLike, repo_id: str, message: str | None = None) -> str:
    """Push a model folder to the Hub with the remote-code files beside it; return the commit URL."""
    from .hub import push_folder

    with tempfile.TemporaryDirectory() as staging:
        shutil.copytree(folder, staging, dirs_exist_ok=True)
        for name in REMOTE_CODE_FILES:
            shutil.copy2(Path(__file__).parent / name, Path(staging) / name)
        return push_folder(staging, repo_id, message=message or "Upload the deepfake detector")


def training_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """What a training run's `best.json` says of its best model: step, images seen, wall time, metrics, recipe."""
    from .training.recipe import BEST_METRICS_FILE

    return json.loads((Path(run_dir) / BEST_METRICS_FILE).read_text())


def hardware_description() -> str:
    """The accelerator, or the CPU and its core count, that this process runs on."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    model_names = [line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")]
    return f"{os.cpu_count()} CPU cores ({model_names[0] if model_names else 'unknown CPU'}), no GPU"


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.is_file() else []


def wall_time(seconds: float) -> str:
    """`3 h 05 min` for a duration in seconds."""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def release_model(
    run_dir: str | os.PathLike,
    target: str | os.PathLike,
    template: str | os.PathLike,
    evaluation_specs: list[dict[str, Any]],
    output_dir: str | os.PathLike,
    card_values: dict[str, Any] | None = None,
) -> Path:
    """Export a run's best model to `target`, evaluate that folder as shipped, and write its card with the results.

    Each evaluation spec holds `evaluation.evaluate` arguments (`dataset`, `split`, ...) and a display `name`; its
    results go to `output_dir/<name>-<split>/`.
    """
    from .evaluation import evaluate
    from .training.augmentation import AUGMENTATION_LEVELS
    from .training.recipe import TrainingRecipe

    summary = training_summary(run_dir)
    recipe = TrainingRecipe(**summary["recipe"])  # normalised: recipes saved by earlier versions read the same
    target = export_model(Path(run_dir) / "best-model", target)
    evaluations = []
    for spec in evaluation_specs:
        spec = dict(spec)
        name = spec.pop("name")
        folder = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{name}-{spec.get('split') or 'test'}").strip("-")
        result = evaluate(str(target), output_dir=Path(output_dir) / folder, **spec)
        evaluations.append({**result.metrics, "dataset": {**result.metrics["dataset"], "id": name}})
    card_values = dict(card_values or {})
    training = {
        **summary.get("data", {}),
        "recipe": asdict(recipe),
        "augmentation": AUGMENTATION_LEVELS[recipe.augment].describe(),
        "step": summary["step"],
        "weights": summary.get("weights") or recipe.validated_weights,
        "images_seen": summary["images_seen"],
        "hardware": summary.get("hardware") or hardware_description(),
        "wall_time": wall_time(summary["wall_seconds_total"]),
        **card_values.pop("training", {}),
    }
    model = DeepfakeDetectorForImageClassification.from_pretrained(target)
    render_card(template, model.config, {"training": training, **card_values}, evaluations).save(target / "README.md")
    return target
