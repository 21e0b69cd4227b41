"""deepfake-detection: tells whether the faces in a photo or video frame are real or deepfakes, and shows why.

Importing the package is cheap: nothing heavy (torch, transformers) loads until a name is first used. The first use of
a model class, of the pipeline or of `load_pipeline` also registers the model with transformers' Auto classes and the
`deepfake-detection` pipeline task; call `register()` to do that yourself before using the Auto classes directly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "DeepfakeDetectionPipeline": "pipeline",
    "DeepfakeDetectorConfig": "configuration_deepfake_detector",
    "DeepfakeDetectorForImageClassification": "modeling_deepfake_detector",
    "DeepfakeDetectorImageProcessor": "image_processing_deepfake_detector",
    "Face": "faces",
    "FaceDetector": "faces",
    "FaceResult": "outputs",
    "FaceVerdict": "modeling_deepfake_detector",
    "GradCamExplainer": "explain",
    "ImageLoadError": "errors",
    "ImageResult": "outputs",
    "VideoLoadError": "errors",
    "VideoResult": "outputs",
    "ModelNotAvailableError": "errors",
    "TooSmallFace": "outputs",
    "default_dataset_id": "hub",
    "default_model_id": "hub",
    "load_image": "images",
    "load_pipeline": "pipeline",
}
"""Each public name and the module that defines it, imported on first access."""
_NEEDS_TRANSFORMERS = {"configuration_deepfake_detector", "modeling_deepfake_detector",
                       "image_processing_deepfake_detector", "pipeline", "outputs"}
_registered = False

__all__ = sorted(_PUBLIC) + ["register"]

if TYPE_CHECKING:
    from .configuration_deepfake_detector import DeepfakeDetectorConfig
    from .errors import ImageLoadError, ModelNotAvailableError, VideoLoadError
    from .explain import GradCamExplainer
    from .faces import Face, FaceDetector
    from .hub import default_dataset_id, default_model_id
    from .image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
    from .images import load_image
    from .modeling_deepfake_detector import DeepfakeDetectorForImageClassification, FaceVerdict
    from .outputs import FaceResult, ImageResult, TooSmallFace, VideoResult
    from .pipeline import DeepfakeDetectionPipeline, load_pipeline


def register() -> None:
    """Register the model with transformers' Auto classes and the `deepfake-detection` pipeline task (once)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    from .configuration_deepfake_detector import DeepfakeDetectorConfig
    from .image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
    from .modeling_deepfake_detector import DeepfakeDetectorForImageClassification
    from .pipeline import DeepfakeDetectionPipeline

    AutoConfig.register(DeepfakeDetectorConfig.model_type, DeepfakeDetectorConfig, exist_ok=True)
    AutoModelForImageClassification.register(
        DeepfakeDetectorConfig, DeepfakeDetectorForImageClassification, exist_ok=True
    )
    AutoImageProcessor.register(
        DeepfakeDetectorConfig,
        image_processor_classes={"pil": DeepfakeDetectorImageProcessor, "torchvision": DeepfakeDetectorImageProcessor},
        exist_ok=True,
    )
    DeepfakeDetectorConfig.register_for_auto_class()
    DeepfakeDetectorForImageClassification.register_for_auto_class("AutoModelForImageClassification")
    DeepfakeDetectorImageProcessor.register_for_auto_class("AutoImageProcessor")
    PIPELINE_REGISTRY.register_pipeline(
        "deepfake-detection",
        pipeline_class=DeepfakeDetectionPipeline,
        pt_model=AutoModelForImageClassification,
        type="image",
    )
    _registered = True


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (registering the model when the name needs transformers)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _PUBLIC[name]
    if module in _NEEDS_TRANSFORMERS:
        register()
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
