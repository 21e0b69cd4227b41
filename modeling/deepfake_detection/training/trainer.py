"""Training with transformers' `Trainer`: paired batches, validation ROC-AUC, the best model kept, resumable.

The same call trains on a GPU when there is one and on the CPU otherwise, in bf16 autocast where the hardware runs
it natively (emulated bf16 is ~10x slower than fp32 on CPUs without AVX512-BF16/AMX), channels-last throughout.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from transformers import EvalPrediction, Trainer, TrainerCallback, TrainingArguments

from ..configuration_deepfake_detector import LABELS, DeepfakeDetectorConfig
from ..export import hardware_description
from ..metrics import expected_calibration_error, ranking_metrics
from ..image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
from ..modeling_deepfake_detector import DeepfakeDetectorForImageClassification
from .augmentation import AUGMENTATION_LEVELS
from .checkpoints import (check_resumed_recipe, resume_checkpoint,  # noqa: F401 (resume_checkpoint: run.py)
                          trim_log, warn_missing_optimizer_state)
from .crops import FAKE, REAL, FaceCrops
from .data import CropCollator, FaceCropDataset
from .ema import WeightEMA
from .mixture import SourcedCrops
from .pairs import PairedSampler
from .source_metrics import source_metrics
from .recipe import (
    BEST_METRIC,
    BEST_METRICS_FILE,
    BEST_MODEL_DIR,
    LOG_FILE,
    RAW_WEIGHTS,
    RECIPE_FILE,
    TrainingRecipe,
    apply_recipe_sizes,
)


def bf16_is_native() -> bool:
    """Whether bf16 runs natively here: a CUDA GPU that supports it, or a CPU with AVX512-BF16 or AMX."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def score_metrics(eval_prediction: EvalPrediction, config: DeepfakeDetectorConfig,
                  sources: SourcedCrops | None = None) -> dict[str, float]:
    """ROC-AUC and average precision (fake = positive, from scores), accuracy at the config's threshold, the ECE of
    P(real), and `selection_score`, which keeps the best model: the ROC-AUC itself for one dataset, and for a mixture
    the rule of `source_metrics.SELECTION_RULE` (with every source's and family's metrics beside it)."""
    logits = torch.as_tensor(np.asarray(eval_prediction.predictions, dtype=np.float32))
    probabilities = logits.softmax(dim=-1).numpy()
    is_fake = np.asarray(eval_prediction.label_ids) == FAKE
    scores = probabilities[:, config.label2id[config.score_label]]
    predicted = np.array([config.label_for(score) == "fake" for score in scores])
    metrics = {
        **ranking_metrics(is_fake, probabilities[:, FAKE]),
        "accuracy": float((predicted == is_fake).mean()),
        "ece": expected_calibration_error(~is_fake, probabilities[:, REAL]),
    }
    if sources is None:
        return {**metrics, "selection_score": metrics["roc_auc"]}
    return {**metrics, **source_metrics(sources, probabilities[:, FAKE], predicted)}


class PairedTrainer(Trainer):
    """`Trainer` whose training batches come from a `PairedSampler` (when one is given), and which validates a weight
    EMA's average beside the raw weights (when one is given): metrics `eval_raw_*` for the raw ones, `eval_*` for
    the average."""

    def __init__(self, *args, train_sampler: PairedSampler | None = None, weight_ema: WeightEMA | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.train_sampler, self.weight_ema = train_sampler, weight_ema
        if weight_ema is not None:
            self.add_callback(weight_ema)

    def _get_train_sampler(self, train_dataset=None):
        return self.train_sampler or super()._get_train_sampler(train_dataset)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        if self.weight_ema is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        raw = super().evaluate(eval_dataset, ignore_keys, f"{metric_key_prefix}_{RAW_WEIGHTS}")
        with self.weight_ema.averaged(self.model):
            return {**raw, **super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)}


class ProgressCallback(TrainerCallback):
    """Appends every log and evaluation to `metrics.jsonl`, and saves the best model so far as a loadable folder.

    The best model is written the moment it is found (not at the end), so a run stopped at any time has it; its
    metrics, step, images seen, cumulative wall time, which weights it holds (`weights`: raw or the EMA's average) and
    the model it was warm-started from (`init_model`, `None` from scratch) go to `best.json`.
    """

    def __init__(
        self, output_dir: Path, processor: DeepfakeDetectorImageProcessor, recipe: TrainingRecipe, data: dict,
        init_model: str | None = None,
    ):
        self.output_dir, self.processor, self.recipe, self.data = output_dir, processor, recipe, data
        self.started, self.earlier_seconds = time.monotonic(), 0.0
        earlier = self._read(BEST_METRICS_FILE)
        self.best = earlier.get("metrics", {}).get(f"eval_{BEST_METRIC}", -1.0)
        self.init_model = init_model or earlier.get("init_model")  # a resumed run keeps the model it started from

    def _read(self, name: str) -> dict:
        path = self.output_dir / name
        return json.loads(path.read_text()) if path.is_file() else {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        if state.global_step > 0:  # resumed: rows logged after the checkpoint are logged again, so they go
            kept = trim_log(self.output_dir / LOG_FILE, state.global_step)
            earlier = kept[-1] if kept else self._read("progress.json")
            self.earlier_seconds = earlier.get("wall_seconds_total", 0.0)
        else:
            self.earlier_seconds = 0.0

    def wall_seconds(self) -> float:
        return self.earlier_seconds + time.monotonic() - self.started

    def on_log(self, args, state, control, logs=None, **kwargs):
        entry = {"step": state.global_step, "images_seen": state.global_step * self.recipe.batch_size,
                 "wall_seconds_total": round(self.wall_seconds(), 1), **(logs or {})}
        with open(self.output_dir / LOG_FILE, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
        (self.output_dir / "progress.json").write_text(json.dumps(entry))

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        raw_prefix = f"eval_{RAW_WEIGHTS}_"
        weights = RAW_WEIGHTS if f"{raw_prefix}{BEST_METRIC}" in (metrics or {}) else self.recipe.validated_weights
        metrics = {name.replace(raw_prefix, "eval_", 1): value for name, value in (metrics or {}).items()}
        value = metrics.get(f"eval_{BEST_METRIC}")
        if value is None or not value > self.best:
            return
        self.best = value
        folder = self.output_dir / BEST_MODEL_DIR
        model.save_pretrained(folder)
        self.processor.save_pretrained(folder)
        summary = {
            "step": state.global_step,
            "images_seen": state.global_step * self.recipe.batch_size,
            "wall_seconds_total": round(self.wall_seconds(), 1),
            "metrics": metrics,
            "weights": weights,
            "recipe": asdict(self.recipe),
            "init_model": self.init_model,
            "data": self.data,
            "hardware": hardware_description(),
        }
        (self.output_dir / BEST_METRICS_FILE).write_text(json.dumps(summary, indent=2))


def data_summary(train_crops: FaceCrops, eval_crops: FaceCrops, dataset_name: str | None = None) -> dict:
    """How many faces the run trained and validated on, and how many fakes had their real original to pair with."""
    paired = (train_crops.labels == FAKE) & (train_crops.groups >= 0)
    return {"dataset": dataset_name, "train_faces": len(train_crops), "paired_fakes": int(paired.sum()),
            "eval_faces": len(eval_crops), "left_out": len(train_crops.skipped) + len(eval_crops.skipped)}


def build_model(recipe: TrainingRecipe, init_model: str | Path | None = None) -> DeepfakeDetectorForImageClassification:
    """A fresh model at the recipe's input size, or a warm start from any model folder (its weights, the recipe's
    sizes); a recipe's `face_crop_size` replaces the model's."""
    if init_model is None:
        torch.manual_seed(recipe.seed)
        config = DeepfakeDetectorConfig()
        apply_recipe_sizes(recipe, config)
        return DeepfakeDetectorForImageClassification(config)
    model = DeepfakeDetectorForImageClassification.from_pretrained(init_model, dtype=torch.float32)
    if model.config.id2label != dict(enumerate(LABELS)):
        raise ValueError(f"{init_model}: training expects id2label {dict(enumerate(LABELS))}, "
                         f"got {model.config.id2label}.")
    apply_recipe_sizes(recipe, model.config)
    reset_non_finite_statistics(model, str(init_model))
    return model


def reset_non_finite_statistics(model: torch.nn.Module, source: str) -> None:
    """Reset batch-norm running statistics that are not finite (a variance past fp16's 65,504 became inf in models
    exported before the statistics were kept in fp32) to their initial 0 and 1: training re-estimates them within its
    first hundred steps, while an inf would make the weight EMA's average NaN."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
            broken = ~(module.running_var.isfinite() & module.running_mean.isfinite())
            if broken.any():
                print(f"{source}: {int(broken.sum())} running statistic(s) of {name} are not finite; reset to 0 and 1 "
                      "(training re-estimates them).")
                module.running_mean[broken], module.running_var[broken] = 0.0, 1.0


def training_arguments(output_dir: Path, recipe: TrainingRecipe, eval_batch_size: int) -> TrainingArguments:
    """The `Trainer` settings a recipe implies: schedule, precision for this hardware, and validation and a checkpoint
    every `eval_every` steps."""
    on_gpu = torch.cuda.is_available()
    bf16 = recipe.precision == "bf16" or (recipe.precision == "auto" and bf16_is_native())
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=eval_batch_size,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        max_steps=recipe.max_steps,
        lr_scheduler_type="cosine",
        warmup_steps=recipe.warmup,
        eval_strategy="steps",
        eval_steps=recipe.eval_every,
        save_strategy="steps",
        save_steps=recipe.eval_every,
        save_total_limit=2,
        metric_for_best_model=BEST_METRIC,
        greater_is_better=True,
        logging_steps=max(1, min(50, recipe.eval_every // 4)),
        bf16=bf16,
        use_cpu=not on_gpu,
        dataloader_num_workers=4 if on_gpu else 0,
        remove_unused_columns=False,
        report_to="none",
        seed=recipe.seed,
        disable_tqdm=False,
    )


def train(
    train_crops: FaceCrops,
    eval_crops: FaceCrops,
    output_dir: str | Path,
    recipe: TrainingRecipe = TrainingRecipe(),
    init_model: str | Path | None = None,
    resume: bool | str = False,
    dataset_name: str | None = None,
    sampler: torch.utils.data.Sampler | None = None,
    eval_sources: SourcedCrops | None = None,
) -> dict:
    """Train on `train_crops`, validate on `eval_crops` every `eval_every` steps, keep the best model by ROC-AUC.

    `resume=True` continues from the newest checkpoint in `output_dir` (a path: from that checkpoint); `init_model`
    warm-starts a new schedule from a model folder. `sampler` replaces the recipe's `PairedSampler` (a mixture's
    `MixtureSampler`); `eval_sources` names each validation crop's source, for per-source metrics. Returns
    `best.json`'s content.
    """
    output_dir = Path(output_dir)
    checkpoint = resume_checkpoint(output_dir, resume)
    earlier_results = any((output_dir / name).exists() for name in (BEST_METRICS_FILE, LOG_FILE, BEST_MODEL_DIR))
    if checkpoint is None and earlier_results:
        raise ValueError(f"{output_dir} holds an earlier run's results: pass --resume to continue it (it needs its "
                         "checkpoint-* folders), or choose a new --output-dir.")
    if checkpoint is not None:
        check_resumed_recipe(output_dir / RECIPE_FILE, recipe)
        warn_missing_optimizer_state(checkpoint)
    model = build_model(recipe, init_model if checkpoint is None else checkpoint).to(memory_format=torch.channels_last)
    if checkpoint is None:  # a new schedule trains the network's own logit; `calibrate_run` fits the scaling after
        model.config.score_scale, model.config.score_shift = 1.0, 0.0
    for name, crops in (("training", train_crops), ("validation", eval_crops)):
        if crops.pixels.shape[1] != model.config.face_crop_size:
            raise ValueError(
                f"The {name} crops are {crops.pixels.shape[1]} px but the model cuts {model.config.face_crop_size}-px "
                f"faces at inference: cut the crops with the model's config (`load_crops(..., config)`), or set "
                f"TrainingRecipe(face_crop_size={crops.pixels.shape[1]}) (`--face-crop-size`) to train at their size."
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RECIPE_FILE).write_text(json.dumps(asdict(recipe), indent=2))
    processor = DeepfakeDetectorImageProcessor(face_crop_size=model.config.face_crop_size, size=recipe.image_size)
    if sampler is None and recipe.paired:
        sampler = PairedSampler(train_crops.labels, train_crops.groups, recipe.self_blend_fraction, recipe.seed)
    trainer = PairedTrainer(
        model=model,
        args=training_arguments(output_dir, recipe, eval_batch_size=2 * recipe.batch_size),
        train_dataset=FaceCropDataset(train_crops, AUGMENTATION_LEVELS[recipe.augment], recipe.seed),
        eval_dataset=FaceCropDataset(eval_crops),
        data_collator=CropCollator(processor),
        compute_metrics=lambda prediction: score_metrics(prediction, model.config, eval_sources),
        callbacks=[
            ProgressCallback(output_dir, processor, recipe, data_summary(train_crops, eval_crops, dataset_name),
                             init_model=None if checkpoint or init_model is None else str(init_model)),
        ],
        train_sampler=sampler,
        weight_ema=WeightEMA(recipe.ema_decay) if recipe.ema_decay else None,
    )
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.evaluate()
    best = output_dir / BEST_METRICS_FILE
    return json.loads(best.read_text()) if best.is_file() else {}


def clean_checkpoints(output_dir: str | Path) -> None:
    """Remove the resumable checkpoints of a finished run (the best model and the logs stay)."""
    for checkpoint in Path(output_dir).glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
