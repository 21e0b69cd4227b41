"""The deepfake classifier: facenet-pytorch's InceptionResnetV1 with one logit, as a transformers model.

The InceptionResnetV1 is kept unchanged under `self.inception`, so an original facenet-pytorch state dict loads into it
key for key. This file is pushed to the Hub as remote code: it imports only its configuration and third-party packages.
"""

import math

import torch
from facenet_pytorch import InceptionResnetV1
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from .configuration_deepfake_detector import DeepfakeDetectorConfig


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
        """The raw single logit per face, shape `(batch,)`; its sigmoid is the probability of `score_label`."""
        return self.inception(pixel_values)[:, 0]

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

    def predict(self, pixel_values: torch.Tensor, threshold: float | None = None) -> list[dict]:
        """Per face: `{"label", "score", "probabilities": {"real", "fake"}}` at the config's (or the given) threshold."""
        return [
            {
                "label": self.config.label_for(score, threshold),
                "score": score,
                "probabilities": self.config.probabilities(score),
            }
            for score in self.scores(pixel_values).tolist()
        ]


__all__ = ["DeepfakeDetectorForImageClassification"]
