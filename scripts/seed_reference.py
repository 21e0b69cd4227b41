"""The references the package is measured against: the original ("seed") app's computation, and stand-in models.

`SeedApp` re-creates the seed app's per-image computation with facenet-pytorch and pytorch-grad-cam directly, never
with this package, so that tests and `benchmark.py` compare the package against an independent reference.

`random_model` and `save_model` build stand-in models with seeded random weights that give spread, reproducible
scores. No pretrained weights are needed: batch-norm statistics are set from a calibration batch (as training would)
and the final layer is standardised on it, so scores spread over (0, 1) without amplifying rounding noise. Such a
model detects nothing; it only makes parity, speed and plumbing measurable.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN, InceptionResnetV1
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from deepfake_detection import (
    DeepfakeDetectorConfig,
    DeepfakeDetectorForImageClassification,
    DeepfakeDetectorImageProcessor,
)

# -- The original app -------------------------------------------------------------------------------------------


def model_input(face: torch.Tensor) -> torch.Tensor:
    """A 160 face crop (0-255) as the seed's classifier input: upsampled to 256 bilinearly and divided by 255."""
    face = F.interpolate(face.unsqueeze(0), size=(256, 256), mode="bilinear", align_corners=False)
    return face.to(torch.float32) / 255.0


class SeedApp:
    """The original app's per-image computation, re-created with facenet-pytorch and pytorch-grad-cam directly.

    Deliberately written the seed's way (one image at a time, full-resolution MTCNN, 160 -> 256 upsampling, Grad-CAM
    then a second forward pass for the score), never with this package, so it is an independent reference.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        self.mtcnn = MTCNN(select_largest=False, post_process=False).eval()
        self.model = InceptionResnetV1(classify=True, num_classes=1)
        self.model.load_state_dict(state_dict)
        self.model.eval()

    def face(self, image: Image.Image) -> tuple[torch.Tensor | None, np.ndarray | None]:
        """`mtcnn(image)` (detect, keep the most confident face, cut its 160 crop) as classifier input, and its box.

        Both are None when the image has no face. The steps of `MTCNN.forward` are written out to keep the box.
        """
        boxes, probs, points = self.mtcnn.detect(image, landmarks=True)
        boxes, probs, points = self.mtcnn.select_boxes(
            boxes, probs, points, image, method=self.mtcnn.selection_method
        )
        face = self.mtcnn.extract(image, boxes, None)
        if face is None:
            return None, None
        return model_input(face), np.asarray(boxes[0], dtype=np.float64)

    def score(self, face: torch.Tensor) -> float:
        """The sigmoid score of one classifier input, from a forward pass under `no_grad`."""
        with torch.no_grad():
            return torch.sigmoid(self.model(face).squeeze(0)).item()

    def explain(self, face: torch.Tensor) -> np.ndarray:
        """The seed's Grad-CAM heatmap of one classifier input on `block8.branch1[-1]`, drawn on the face as the seed
        does (the overlay is dropped: it only costs time)."""
        with GradCAM(model=self.model, target_layers=[self.model.block8.branch1[-1]]) as cam:
            heatmap = cam(input_tensor=face, targets=[ClassifierOutputTarget(0)], eigen_smooth=True)[0, :]
        previous_face = (face * 255.0).squeeze(0).permute(1, 2, 0).detach().int().numpy().astype("uint8")
        face_to_plot = face.squeeze(0).permute(1, 2, 0).detach().int().numpy()
        visualization = show_cam_on_image(face_to_plot, heatmap, use_rgb=True)
        cv2.addWeighted(previous_face, 1, visualization, 0.5, 0)
        return heatmap

    def analyse(self, path: str | os.PathLike, explain: bool) -> dict:
        """One image from disk, as the app handles an upload: `{"score", "box"}` of its most confident face."""
        face, box = self.face(Image.open(path).convert("RGB"))
        if face is None:
            return {"score": None, "box": None}
        if explain:
            self.explain(face)
        return {"score": self.score(face), "box": box}

    def classify_crop(self, path: str | os.PathLike) -> float:
        """A ready face crop from disk, brought to the 160 crop as MTCNN cuts it (PIL bilinear), then scored."""
        crop = Image.open(path).convert("RGB").resize((160, 160), Image.BILINEAR)
        face = torch.from_numpy(np.asarray(crop, dtype=np.float32)).permute(2, 0, 1)
        return self.score(model_input(face))


# -- Stand-in models --------------------------------------------------------------------------------------------


def random_model(calibrate_on: torch.Tensor, seed: int = 0, **config_kwargs) -> DeepfakeDetectorForImageClassification:
    """A model with seeded random weights, calibrated on the `(batch, 3, size, size)` pixel values `calibrate_on`."""
    torch.manual_seed(seed)
    model = DeepfakeDetectorForImageClassification(DeepfakeDetectorConfig(**config_kwargs))
    norms = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: the statistics of exactly this batch
    with torch.inference_mode():
        model.train()(calibrate_on)
        model.eval()
        for norm in norms:
            norm.momentum = 0.1
        logits = model.score_logits(calibrate_on)
        mean, std = logits.mean(), logits.std()
        model.inception.logits.weight.div_(std)
        model.inception.logits.bias.sub_(mean).div_(std)
    return model


def save_model(model: DeepfakeDetectorForImageClassification, folder: str | Path) -> Path:
    """Save model, config and processor config (with their code) as a loadable model folder."""
    folder = Path(folder)
    model.save_pretrained(folder)
    config = model.config
    DeepfakeDetectorImageProcessor(face_crop_size=config.face_crop_size, size=config.image_size).save_pretrained(folder)
    return folder
