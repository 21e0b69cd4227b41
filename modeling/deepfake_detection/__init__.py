"""deepfake-detection: tells whether the faces in a photo or video frame are real or deepfakes, and shows why.

Importing the package registers the model with transformers' Auto classes and the `deepfake-detection` pipeline task.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_deepfake_detector import DeepfakeDetectorConfig
from .explain import GradCamExplainer
from .faces import Face, FaceDetector
from .images import ImageLoadError, load_image
from .hub import ModelNotAvailableError, default_dataset_id, default_model_id, load_pipeline
from .image_processing_deepfake_detector import DeepfakeDetectorImageProcessor
from .modeling_deepfake_detector import DeepfakeDetectorForImageClassification
from .pipeline import DeepfakeDetectionPipeline

__version__ = "0.1.0"

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

__all__ = [
    "DeepfakeDetectionPipeline",
    "DeepfakeDetectorConfig",
    "DeepfakeDetectorForImageClassification",
    "DeepfakeDetectorImageProcessor",
    "Face",
    "FaceDetector",
    "GradCamExplainer",
    "ImageLoadError",
    "ModelNotAvailableError",
    "default_dataset_id",
    "default_model_id",
    "load_image",
    "load_pipeline",
]
