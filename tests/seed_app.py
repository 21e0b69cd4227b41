"""The original app's computation, re-created step by step with facenet-pytorch and pytorch-grad-cam directly.

Tests compare the package against this; it is deliberately written the seed's way, not with the package.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN, InceptionResnetV1
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget


def seed_model(state_dict: dict[str, torch.Tensor]) -> InceptionResnetV1:
    model = InceptionResnetV1(classify=True, num_classes=1)
    model.load_state_dict(state_dict)
    return model.eval()


def seed_face(image: Image.Image, mtcnn: MTCNN | None = None) -> torch.Tensor | None:
    """MTCNN(select_largest=False, post_process=False) crop, resized to 256 and scaled to [0, 1], as the seed does."""
    mtcnn = mtcnn or MTCNN(select_largest=False, post_process=False)
    face = mtcnn(image)
    if face is None:
        return None
    face = F.interpolate(face.unsqueeze(0), size=(256, 256), mode="bilinear", align_corners=False)
    return face.to(torch.float32) / 255.0


def seed_real_score(model: InceptionResnetV1, face: torch.Tensor) -> float:
    with torch.no_grad():
        return torch.sigmoid(model(face).squeeze(0)).item()


def seed_heatmap(model: InceptionResnetV1, face: torch.Tensor) -> np.ndarray:
    with GradCAM(model=model, target_layers=[model.block8.branch1[-1]]) as cam:
        return cam(input_tensor=face, targets=[ClassifierOutputTarget(0)], eigen_smooth=True)[0]
