"""Image processor: face crops in, `pixel_values` out, with exactly the original app's resizing and scaling.

The original app takes MTCNN's 160x160 crop (values 0-255), resizes it to 256x256 with
`F.interpolate(mode="bilinear", align_corners=False)` and divides by 255, with no mean/std normalisation. A crop of
any other size is first brought to `face_crop_size` with PIL's bilinear resize, as facenet-pytorch cuts its crops.
This file is pushed to the Hub as remote code: it imports only third-party packages.
"""

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature


class DeepfakeDetectorImageProcessor(BaseImageProcessor):
    """Turns face crops (PIL images, HWC uint8 arrays, or CHW 0-255 tensors) into `(batch, 3, size, size)` inputs."""

    model_input_names = ["pixel_values"]

    def __init__(self, face_crop_size: int = 160, size: int = 256, rescale_factor: float = 1 / 255, **kwargs):
        super().__init__(**kwargs)
        self.face_crop_size = face_crop_size
        self.size = size
        self.rescale_factor = rescale_factor

    def crop_to_tensor(self, face) -> torch.Tensor:
        """One face crop as a CHW float tensor of 0-255 values at `face_crop_size`."""
        if isinstance(face, torch.Tensor):
            if face.ndim != 3 or face.shape[0] != 3:
                raise ValueError(f"A face tensor must be CHW with 3 channels (0-255), got shape {tuple(face.shape)}.")
            if face.shape[1:] != (self.face_crop_size, self.face_crop_size):
                face = Image.fromarray(face.permute(1, 2, 0).clamp(0, 255).to(torch.uint8).numpy())
            else:
                return face.float()
        if isinstance(face, np.ndarray):
            if face.ndim != 3 or face.shape[2] != 3:
                raise ValueError(f"A face array must be HWC RGB, got shape {face.shape}.")
            if face.dtype != np.uint8:  # a cast would turn 0-1 floats black and wrap 16-bit values
                raise ValueError(f"A face array must be uint8 (0-255), got {face.dtype}: scale it to 0-255 and cast "
                                 "it (e.g. (face * 255).round().astype(np.uint8) for 0-1 floats), or pass a PIL image.")
            face = Image.fromarray(face)
        if not isinstance(face, Image.Image):
            raise TypeError(f"Expected a PIL image, numpy array or tensor face crop, got {type(face).__name__}.")
        face = face.convert("RGB")
        if face.size != (self.face_crop_size, self.face_crop_size):
            face = face.resize((self.face_crop_size, self.face_crop_size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(face, dtype=np.float32)).permute(2, 0, 1)

    def preprocess(self, images, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        """Resize each crop to `size` (bilinear, `align_corners=False`) and scale it by `rescale_factor`."""
        if isinstance(images, torch.Tensor) and images.ndim == 4:
            images = list(images)
        elif not isinstance(images, (list, tuple)):
            images = [images]
        if len(images) == 0:
            pixel_values = torch.empty(0, 3, self.size, self.size)
        else:
            crops = torch.stack([self.crop_to_tensor(face) for face in images])
            pixel_values = torch.nn.functional.interpolate(
                crops, size=(self.size, self.size), mode="bilinear", align_corners=False
            )
            pixel_values = pixel_values * self.rescale_factor
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors)


__all__ = ["DeepfakeDetectorImageProcessor"]
