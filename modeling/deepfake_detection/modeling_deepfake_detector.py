"""The deepfake classifier: facenet-pytorch's InceptionResnetV1 with one logit, as a transformers model.

The InceptionResnetV1 is kept unchanged under `self.inception`, so an original facenet-pytorch state dict loads into it
key for key. This file is pushed to the Hub as remote code: it imports only its configuration and third-party packages.
"""

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace

import numpy as np
import torch
from facenet_pytorch import InceptionResnetV1
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from .configuration_deepfake_detector import DeepfakeDetectorConfig


class DetectorOutput(Mapping):
    """Base of the detector's result dataclasses: fields read as attributes or, as in transformers' `ModelOutput`, as
    keys. Optional fields left at `None` are not keys; `to_dict()` gives JSON-ready values (no arrays or images)."""

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def _keys(self) -> list[str]:
        return [
            item.name for item in fields(self)
            if getattr(self, item.name) is not None or (item.default is MISSING and item.default_factory is MISSING)
        ]

    def to_dict(self) -> dict:
        """The result as plain values for `json.dumps`: nested results too; arrays and images are left out."""
        return {name: _plain(self[name]) for name in self if _is_plain(self[name])}


def _is_plain(value) -> bool:
    """Whether a value belongs in JSON: not an array, a tensor or an image (numpy scalars do, as Python numbers)."""
    return isinstance(value, np.generic) or (not hasattr(value, "__array__") and not hasattr(value, "save"))


def _plain(value):
    if isinstance(value, DetectorOutput):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value if _is_plain(item)]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if _is_plain(item)}
    return value.item() if isinstance(value, np.generic) else value


@dataclass(eq=True)
class FaceVerdict(DetectorOutput):
    """One face's score read against the threshold: the score (P(`score_label`)), both probabilities, the label."""

    score: float
    probabilities: dict[str, float]
    label: str

    @classmethod
    def from_score(cls, score: float, config: DeepfakeDetectorConfig, threshold: float | None = None) -> "FaceVerdict":
        """The verdict for a sigmoid score at the config's threshold (or the one given): the one verdict rule."""
        score = float(score)
        return cls(score=score, probabilities=config.probabilities(score), label=config.label_for(score, threshold))

    def relabel(self, config: DeepfakeDetectorConfig, threshold: float) -> "FaceVerdict":
        """The same verdict taken at another threshold (a copy; the score is unchanged)."""
        return replace(self, label=config.label_for(self.score, threshold))

    @classmethod
    def from_fake_probability(cls, fake_probability: float, config: DeepfakeDetectorConfig,
                              threshold: float | None = None, **extra) -> "FaceVerdict":
        """The verdict for a probability of `fake` (e.g. averaged over time), read on the config's score scale."""
        verdict = FaceVerdict.from_score(config.score_for_fake_probability(fake_probability), config, threshold)
        return cls(score=verdict.score, probabilities=verdict.probabilities, label=verdict.label, **extra)


class DeepfakeDetectorForImageClassification(PreTrainedModel):
    """Scores a batch of face crops: one logit whose sigmoid is the probability of `config.score_label`.

    `forward` returns two-class logits in `config.id2label` order, `[0, z]` placed so that their softmax equals the
    single logit's sigmoid. The model therefore also works as a plain two-class image classifier.
    """

    config_class = DeepfakeDetectorConfig
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def __init__(self, config: DeepfakeDetectorConfig):
        super().__init__(config)
        self.inception = InceptionResnetV1(classify=True, num_classes=1, dropout_prob=config.dropout_prob)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's own default initialisation, as facenet-pytorch gets when built without pretrained weights."""
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    def score_logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The calibrated single logit per face, shape `(batch,)`; its sigmoid is the probability of `score_label`."""
        return self.calibrated(self.inception(pixel_values)[:, 0])

    def calibrated(self, network_logits: torch.Tensor) -> torch.Tensor:
        """The network's logit under the config's Platt scaling (`score_scale * z + score_shift`, fitted after
        training so that the sigmoid means what it says; identity by default)."""
        if self.config.score_scale == 1.0 and self.config.score_shift == 0.0:
            return network_logits
        return network_logits * self.config.score_scale + self.config.score_shift

    def two_class_logits(self, score_logits: torch.Tensor) -> torch.Tensor:
        """Place the single logit into `(batch, 2)` logits in `id2label` order, the other class's logit fixed at 0."""
        logits = score_logits.new_zeros(score_logits.shape[0], 2)
        logits[:, self.config.label2id[self.config.score_label]] = score_logits
        return logits

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs
    ) -> ImageClassifierOutput:
        """Classify face crops; with `labels` (class indices in `id2label` order) also return the BCE loss."""
        score_logits = self.score_logits(pixel_values)
        loss = None
        if labels is not None:
            targets = (labels == self.config.label2id[self.config.score_label]).to(score_logits.dtype)
            loss = nn.functional.binary_cross_entropy_with_logits(score_logits, targets)
        return ImageClassifierOutput(loss=loss, logits=self.two_class_logits(score_logits))

    @torch.inference_mode()
    def scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The sigmoid score (probability of `config.score_label`) per face, shape `(batch,)`."""
        return torch.sigmoid(self.score_logits(pixel_values))

    def predict(self, pixel_values: torch.Tensor, threshold: float | None = None) -> list[FaceVerdict]:
        """Per face: its `FaceVerdict` (score, `{"real", "fake"}` probabilities, label) at the config's or the given
        threshold."""
        return [FaceVerdict.from_score(score, self.config, threshold) for score in self.scores(pixel_values).tolist()]


__all__ = ["DeepfakeDetectorForImageClassification", "DetectorOutput", "FaceVerdict"]
