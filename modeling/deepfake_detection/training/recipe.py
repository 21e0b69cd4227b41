"""A training run's recipe (everything that decides what the model learns) and the files a run writes.

Kept apart from the trainer so the command line can show the defaults without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass

BEST_MODEL_DIR = "best-model"
BEST_METRICS_FILE = "best.json"
LOG_FILE = "metrics.jsonl"
RECIPE_FILE = "recipe.json"
AUGMENT_CHOICES = ("full", "light", "robust", "none")
"""Augmentation levels (`augmentation.AUGMENTATION_LEVELS`), named here so the command line needs no OpenCV."""
BEST_METRIC = "selection_score"
"""The validation metric that keeps the best model (`trainer.score_metrics`: ROC-AUC for one dataset)."""
MIN_IMAGE_SIZE = 75
"""The smallest classifier input InceptionResnetV1 runs on: below 75 px its last 3x3 convolution gets a 2x2 map."""
RAW_WEIGHTS, EMA_WEIGHTS = "raw", "ema"
"""Which weights a best model holds (`best.json` `weights`): the optimiser's own, or their moving average."""


@dataclass
class TrainingRecipe:
    """Everything that decides what the model learns; saved next to the results so a run can be reproduced.

    `face_crop_size` (None: the initial model's, 160 for a new one) becomes the trained model's: its faces are cut at
    that size at inference too, so training and inference see the same crops.
    """

    image_size: int = 128
    face_crop_size: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    max_steps: int = 3200
    warmup: float = 0.03
    eval_every: int = 200
    paired: bool = True
    self_blend_fraction: float = 0.25
    augment: str = "full"
    ema_decay: float = 0.0
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self):
        if self.image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} px, got {self.image_size}: the network "
                             f"cannot classify smaller inputs. Pass --image-size {MIN_IMAGE_SIZE} or more.")
        if self.paired and self.batch_size % 2:
            raise ValueError(f"Paired batches need an even batch size, got {self.batch_size}.")
        if not self.paired and self.self_blend_fraction:
            raise ValueError("Self-blended fakes come with paired batches: with --no-pairs, pass --self-blend 0.")
        if isinstance(self.augment, bool):  # recipes saved before the levels existed stored on/off
            self.augment = "full" if self.augment else "none"
        if self.augment not in AUGMENT_CHOICES:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT_CHOICES)}, got {self.augment!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be 0 (off) or between 0 and 1 (e.g. 0.999), got {self.ema_decay}.")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}.")

    @property
    def validated_weights(self) -> str:
        """What a plain validation (`eval_*`) scores: the EMA's average when the recipe keeps one, else the raw
        weights; also what `best.json` files written before they recorded `weights` hold."""
        return EMA_WEIGHTS if self.ema_decay else RAW_WEIGHTS


def apply_recipe_sizes(recipe: TrainingRecipe, config) -> None:
    """Give a model config the sizes the recipe decides: its input size, and its face crop size when the recipe sets
    one (the other face settings stay the model's)."""
    config.image_size = recipe.image_size
    config.face_crop_size = recipe.face_crop_size or config.face_crop_size


def train_command(recipe: TrainingRecipe, dataset: str, output_dir: str = "runs/detector",
                  init_model: str | None = None, mixture: bool = False) -> str:
    """The `deepfake-detection train` command line that runs this recipe (warm-started from `init_model`) on a
    dataset, or (`mixture`) on the mixture file `dataset`."""
    flags = [
        f"--{'mixture' if mixture else 'dataset'} {dataset} --output-dir {output_dir}"
        + (f" --init-model {init_model}" if init_model else ""),
        f"--image-size {recipe.image_size} --batch-size {recipe.batch_size}"
        + (f" --face-crop-size {recipe.face_crop_size}" if recipe.face_crop_size else ""),
        f"--learning-rate {recipe.learning_rate} --weight-decay {recipe.weight_decay}",
        f"--max-steps {recipe.max_steps} --eval-every {recipe.eval_every} --self-blend {recipe.self_blend_fraction}",
        f"--seed {recipe.seed}",
    ]
    flags[-1] += f" --augment {recipe.augment}" + (f" --ema-decay {recipe.ema_decay}" if recipe.ema_decay else "")
    flags += ["--no-pairs"] * (not recipe.paired)
    return "deepfake-detection train " + " \\\n    ".join(flags)
