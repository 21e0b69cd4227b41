"""Weight EMA: an exponential moving average of the weights, validated beside the raw weights (the better is kept).

The average moves more slowly than the weights, so it sits nearer the middle of the region the optimiser wanders
in, which often validates better than the last step's weights (Polyak averaging; timm's `ModelEmaV3`). It costs one
copy of the weights and one fused update per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

EMA_FILE = "ema.safetensors"
"""The average's file inside each `checkpoint-*` folder, so a resumed run continues the same average."""


class WeightEMA(TrainerCallback):
    """Keeps `average = decay * average + (1 - decay) * weights` after every step, for every floating-point weight
    and buffer (batch-norm statistics included).

    The model holds the average only inside `averaged`: the trainer validates the raw weights, then the average, and
    keeps the better. Checkpoints keep the raw weights (the optimiser's state belongs to them) and the average beside
    them.
    """

    def __init__(self, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"The EMA decay must be between 0 and 1 (e.g. 0.999), got {decay}.")
        self.decay = decay
        self.average: dict[str, torch.Tensor] = {}

    @staticmethod
    def _floats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {name: tensor for name, tensor in model.state_dict().items() if tensor.is_floating_point()}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        saved = Path(args.output_dir) / f"checkpoint-{state.global_step}" / EMA_FILE
        current = self._floats(model)
        if state.global_step > 0 and saved.is_file():
            loaded = load_file(saved)
            self.average = {name: tensor.copy_(loaded[name]) for name, tensor in self._copy(current).items()}
        else:
            self.average = self._copy(current)

    @staticmethod
    def _copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: tensor.detach().clone() for name, tensor in tensors.items()}

    @torch.no_grad()
    def on_step_end(self, args, state, control, model=None, **kwargs):
        current = self._floats(model)
        names = list(self.average)
        torch._foreach_lerp_([self.average[name] for name in names], [current[name] for name in names],
                             1.0 - self.decay)

    @contextmanager
    def averaged(self, model: torch.nn.Module) -> Iterator[None]:
        """The average in place of `model`'s weights inside the block, the raw weights back after it."""
        raw = self._copy(self._floats(model))
        model.load_state_dict(self.average, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(raw, strict=False)

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if args.should_save and folder.is_dir():  # one process writes, as the Trainer does
            save_file({name: tensor.contiguous() for name, tensor in self.average.items()}, folder / EMA_FILE)
