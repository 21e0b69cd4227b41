"""Configuration of the deepfake detector: the classifier's shape, the decision threshold and the face settings.

This file is pushed to the Hub as remote code, so it imports only third-party packages.
"""

import math
from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

LABELS = ("fake", "real")
FACE_SELECTIONS = ("all", "largest", "most_confident")


@strict(accept_kwargs=True)
class DeepfakeDetectorConfig(PreTrainedConfig):
    r"""
    Settings of [`DeepfakeDetectorForImageClassification`] and of the face pipeline around it.

    The classifier is facenet-pytorch's InceptionResnetV1 with a single logit. Its sigmoid is the probability of
    `score_label`; a face gets `score_label` when that probability is strictly above `threshold`, else the other label.

    Args:
        threshold (`float`, defaults to 0.7):
            Decision threshold on the sigmoid score, strictly between 0 and 1.
        score_label (`str`, defaults to `"real"`):
            The class the sigmoid score stands for: `"real"` (how the original app reads it) or `"fake"`.
        score_scale (`float`, defaults to 1.0):
            Platt scaling of the logit, fitted on validation data after training (`training.calibration`): the score is
            `sigmoid(score_scale * z + score_shift)` for the network's logit `z`. Must be positive; 1 and 0 leave the
            logit as the network gives it (what training optimises).
        score_shift (`float`, defaults to 0.0):
            The shift of that Platt scaling.
        image_size (`int`, defaults to 256):
            Side of the square classifier input; face crops are resized to it bilinearly.
        face_crop_size (`int`, defaults to 160):
            Side of the square face crop cut from the image before it is resized to `image_size`.
        face_margin (`int`, defaults to 0):
            Margin around the detected box, in pixels of the `face_crop_size` crop (facenet-pytorch's convention).
        face_selection (`str`, defaults to `"all"`):
            Which detected faces are classified: `"all"`, `"largest"`, or `"most_confident"` (the original app).
        min_face_size (`int`, defaults to 20):
            Smallest face, in pixels, that MTCNN looks for.
        detection_thresholds (`list[float]`, defaults to `[0.6, 0.7, 0.7]`):
            MTCNN's P-Net, R-Net and O-Net acceptance thresholds.
        detection_max_side (`int`, *optional*):
            Faster detection: when set, MTCNN runs on a copy whose longer side is at most this many pixels and the
            crops are still cut from the full-resolution image. Boxes (and so scores) can move slightly; `None` keeps
            the original app's full-resolution detection.
        gradcam_target_layer (`str`, defaults to `"block8.branch1.-1"`):
            Dotted path, inside the InceptionResnetV1, of the layer Grad-CAM explains (negative numbers index from the
            end). The default is the original app's `block8.branch1[-1]`.
        gradcam_eigen_smooth (`bool`, defaults to `True`):
            Whether Grad-CAM keeps only the first principal component of the weighted activations.
        dropout_prob (`float`, defaults to 0.6):
            Dropout before the embedding layer (used in training only).
    """

    model_type = "deepfake_detector"

    threshold: float = 0.7
    score_label: str = "real"
    score_scale: float = 1.0
    score_shift: float = 0.0
    image_size: int = 256
    face_crop_size: int = 160
    face_margin: int = 0
    face_selection: str = "all"
    min_face_size: int = 20
    detection_thresholds: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.7])
    detection_max_side: int | None = None
    gradcam_target_layer: str = "block8.branch1.-1"
    gradcam_eigen_smooth: bool = True
    dropout_prob: float = 0.6

    def __post_init__(self, **kwargs):
        if self.id2label is None:
            self.id2label = dict(enumerate(LABELS))
        super().__post_init__(**kwargs)
        self.label2id = {label: index for index, label in self.id2label.items()}
        self.check_settings()

    def check_settings(self):
        """Raise `ValueError` for settings the detector cannot honour, saying which value to change."""
        self.check_threshold(self.threshold)
        if sorted(self.id2label.values()) != sorted(LABELS):
            raise ValueError(f"id2label must name exactly the labels {LABELS}, got {self.id2label}.")
        if self.score_label not in LABELS:
            raise ValueError(f"score_label must be one of {LABELS}, got {self.score_label!r}.")
        self.check_face_selection(self.face_selection)
        if not (isinstance(self.score_scale, (int, float)) and self.score_scale > 0 and math.isfinite(self.score_scale)):
            raise ValueError(f"score_scale must be a positive finite number (1 leaves the logit as is), got "
                             f"{self.score_scale!r}.")
        if not (isinstance(self.score_shift, (int, float)) and math.isfinite(self.score_shift)):
            raise ValueError(f"score_shift must be a finite number (0 leaves the logit as is), got {self.score_shift!r}.")
        if len(self.detection_thresholds) != 3:
            raise ValueError(f"detection_thresholds needs 3 values (P-, R-, O-Net), got {self.detection_thresholds}.")
        if self.detection_max_side is not None and self.detection_max_side < 64:
            raise ValueError(f"detection_max_side must be at least 64 pixels or None, got {self.detection_max_side}.")

    @staticmethod
    def check_threshold(threshold: float) -> None:
        """Raise `ValueError` unless the threshold is a number strictly between 0 and 1."""
        is_number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
        if not is_number or not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a number strictly between 0 and 1, got {threshold!r}.")

    @staticmethod
    def check_face_selection(selection: str) -> None:
        """Raise `ValueError` unless `selection` is one of `FACE_SELECTIONS`."""
        if selection not in FACE_SELECTIONS:
            raise ValueError(f"face_selection must be one of {FACE_SELECTIONS}, got {selection!r}.")

    @property
    def other_label(self) -> str:
        """The label a face gets when its score is not above the threshold."""
        return LABELS[1 - LABELS.index(self.score_label)]

    def score_for_fake_probability(self, fake_probability: float) -> float:
        """The sigmoid score (P(`score_label`)) that a probability of `fake` corresponds to."""
        return fake_probability if self.score_label == "fake" else 1.0 - fake_probability

    def probabilities(self, score: float) -> dict[str, float]:
        """Turn the sigmoid score into `{"real": p, "fake": 1 - p}` (both labels, whatever `score_label` is)."""
        return {self.score_label: float(score), self.other_label: 1.0 - float(score)}

    def label_for(self, score: float, threshold: float | None = None) -> str:
        """The verdict for a sigmoid score: `score_label` when strictly above the threshold, else the other label."""
        if threshold is None:
            threshold = self.threshold
        else:
            self.check_threshold(threshold)
        return self.score_label if score > threshold else self.other_label


__all__ = ["DeepfakeDetectorConfig"]
