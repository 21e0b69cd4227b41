"""Grad-CAM explanations with pytorch-grad-cam: which parts of a face drove its score.

The classifier is split at the top-level block that holds the Grad-CAM target layer: the trunk before it runs once
without gradients, and a private copy of the small head after it runs with gradients under pytorch-grad-cam. One
forward pass thus gives both the score and the heatmap, the backward pass stops at the target layer, and no hook is
ever attached to the shared model, so concurrent requests (explained or not) cannot see each other's activations.

pytorch-grad-cam is imported on the first explanation, not with this module: it pulls in scikit-learn and matplotlib
(about 2 s), which predictions without heatmaps never need.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from PIL import Image
from torch import nn

from .faces import Face


def resolve_layer(root: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted path such as `"block8.branch1.-1"` (numbers index sequences, negatives from the end)."""
    module = root
    for part in path.split("."):
        try:
            module = module[int(part)] if part.lstrip("-").isdigit() else getattr(module, part)
        except (AttributeError, IndexError, TypeError) as error:
            raise ValueError(f"Grad-CAM target layer {path!r} does not exist in {type(root).__name__}.") from error
    return module


class _Blocks(nn.Module):
    """A run of InceptionResnetV1's top-level blocks, in the order its `forward` applies them."""

    def __init__(self, blocks: list[tuple[str, nn.Module]]):
        super().__init__()
        self.blocks = nn.ModuleDict(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, block in self.blocks.items():
            if name == "last_linear":
                x = x.flatten(1)
            x = block(x)
        return x


@functools.cache
def _grad_cam_at_size() -> type:
    """A GradCAM whose heatmaps are scaled to the classifier's input size rather than to the head's input."""
    from pytorch_grad_cam import GradCAM

    class GradCAMAtSize(GradCAM):
        def __init__(self, output_size: int, **kwargs):
            super().__init__(**kwargs)
            self.output_size = output_size

        def get_target_width_height(self, input_tensor: torch.Tensor) -> tuple[int, int]:
            return self.output_size, self.output_size

    return GradCAMAtSize


def _show_cam_on_image(image: np.ndarray, mask: np.ndarray, **options) -> np.ndarray:
    """pytorch-grad-cam's heatmap blending (imported on first use, see the module docstring)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(image, mask, **options)


class GradCamExplainer:
    """Scores face crops and explains each score with Grad-CAM on `config.gradcam_target_layer`.

    The heatmap shows where the face pushes the single logit up, i.e. towards `config.score_label` (as the original
    app drew it). Safe to call from several threads on one model.
    """

    def __init__(self, model, target_layer: str | None = None, eigen_smooth: bool | None = None):
        self.model = model
        config = model.config
        self.target_layer = target_layer or config.gradcam_target_layer
        self.eigen_smooth = config.gradcam_eigen_smooth if eigen_smooth is None else eigen_smooth
        self.image_size = config.image_size
        inception = model.inception
        resolve_layer(inception, self.target_layer)
        blocks = list(inception.named_children())
        split = [name for name, _ in blocks].index(self.target_layer.split(".")[0])
        self.trunk = _Blocks(blocks[:split])
        self.head_blocks = blocks[split:]

    def explain(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Sigmoid scores `(batch,)` and heatmaps `(batch, size, size)` in [0, 1] from a single forward pass."""
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with torch.inference_mode(False):
            with torch.no_grad():
                features = self.trunk(pixel_values.clone())
            head = _Blocks(copy.deepcopy(self.head_blocks)).eval()
            target = resolve_layer(head.blocks, self.target_layer)
            with torch.enable_grad(), _grad_cam_at_size()(self.image_size, model=head, target_layers=[target]) as cam:
                heatmaps = cam(
                    input_tensor=features,
                    targets=[ClassifierOutputTarget(0)] * len(features),
                    eigen_smooth=self.eigen_smooth,
                )
                scores = torch.sigmoid(self.model.calibrated(cam.outputs[:, 0].detach()))
        return scores, heatmaps


def face_overlay(face: Face, heatmap: np.ndarray, image_size: int) -> Image.Image:
    """The face crop (resized to the classifier's input) with its heatmap blended on top."""
    crop = face.crop_image().resize((image_size, image_size), Image.BILINEAR)
    return Image.fromarray(_show_cam_on_image(np.asarray(crop, dtype=np.float32) / 255.0, heatmap, use_rgb=True))


def image_overlay(image: Image.Image, faces: list[Face], heatmaps: list[np.ndarray], alpha: float = 0.5) -> Image.Image:
    """The full image with each face's heatmap blended into its box."""
    canvas = image.convert("RGB").copy()
    for face, heatmap in zip(faces, heatmaps):
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        x1, y1 = max(x1, 0), max(y1, 0)
        x2, y2 = min(x2, canvas.width), min(y2, canvas.height)
        if x2 <= x1 or y2 <= y1:
            continue
        region = canvas.crop((x1, y1, x2, y2))
        mask = np.asarray(Image.fromarray(np.uint8(heatmap * 255)).resize(region.size, Image.BILINEAR)) / 255.0
        region_float = np.asarray(region, dtype=np.float32) / 255.0
        blended = _show_cam_on_image(region_float, mask.astype(np.float32), use_rgb=True, image_weight=1 - alpha)
        canvas.paste(Image.fromarray(blended), (x1, y1))
    return canvas
