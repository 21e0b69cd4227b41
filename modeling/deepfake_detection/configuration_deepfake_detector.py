"""Configuration of the deepfake detector: the classifier's shape, the decision threshold and the face settings.

This file is pushed to the Hub as remote code, so it imports only third-party packages.
"""

import math
from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

LABELS = ("fake", "real")
FACE_SELECTIONS = ("all", "largest", "most_confident")
MIN_JUDGED_FACE = 96
"""Default `min_judged_face`: the smallest face width (px) from which the bundled model's ROC-AUC on the DFDC validation
crops stays within 0.02 of full size (scripts/face_size_study.py --limit 200: full size 0.887, 128 px 0.903, 96 px
0.902, 64 px 0.754). Re-measure it for another model: it is a property of the model, not of faces in general (the
mixture-trained model of issue 19, not shipped yet, holds down to 48 px)."""
DETECTION_REACH = 0.8
"""MTCNN looks for faces down to this share of `min_judged_face`. On the ffpp frames, with the judged size at 32, 48 or
96 px, shares of 1.0, 0.8 and 0.7 all still found every judged face that full-resolution `min_face_size=20` detection
finds (IoU >= 0.5); 0.8 keeps a margin for boxes that jitter around the rule and reports more faces just under it as too
small instead of not at all, at no measured cost at 96 px (3.5 s against 10.5 s at 20 px for the 31 frames)."""
DEFAULT_MIN_FACE_SIZE = 20
"""MTCNN's smallest face when every face is judged (`min_judged_face=None`): facenet-pytorch's and the original app's."""


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
        min_face_size (`int`, *optional*):
            Smallest face, in pixels, that MTCNN looks for. `None` (the default) follows `min_judged_face`:
            `DETECTION_REACH` of it (20 when every face is judged), so the image pyramid starts at the scale the rule
            needs instead of spending most of a frame's time finding faces that are not judged.
        min_judged_face (`int`, *optional*, defaults to `MIN_JUDGED_FACE`):
            Smallest face box width, in image pixels, that is scored. Smaller faces carry too little evidence: they are
            reported as too small to judge (with their box) and take no part in any verdict. `None` judges every face.
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
    min_face_size: int | None = None
    min_judged_face: int | None = MIN_JUDGED_FACE
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
        for name in ("min_face_size", "min_judged_face"):
            self.check_face_width(name, getattr(self, name))
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

    @staticmethod
    def check_face_width(name: str, value) -> None:
        """Raise `ValueError` unless a face width setting is a whole number of pixels of at least 1, or None."""
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            meaning = {"min_judged_face": "judge every face"}.get(name, "follow min_judged_face")
            raise ValueError(f"{name} must be a whole number of pixels of at least 1, or None to {meaning}, got "
                             f"{value!r}.")

    @staticmethod
    def is_judged(face_width: float, min_judged_face: int | None) -> bool:
        """The judged-size rule: whether a face box this wide (px) is scored; `None` judges every face."""
        return min_judged_face is None or face_width >= min_judged_face

    @staticmethod
    def detection_size(min_face_size: int | None, min_judged_face: int | None) -> int:
        """MTCNN's smallest face: `min_face_size` when set, else `DETECTION_REACH` of the judged size (so the pyramid
        starts where the rule needs it), else the original 20."""
        if min_face_size is not None:
            return min_face_size
        if min_judged_face is None:
            return DEFAULT_MIN_FACE_SIZE
        return max(1, math.floor(min_judged_face * DETECTION_REACH))

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
