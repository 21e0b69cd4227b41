"""The `deepfake-detection` pipeline: image(s) in, a verdict for every face and for the whole image out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import Pipeline

from .explain import GradCamExplainer, face_overlay, image_overlay
from .faces import Face, FaceDetector
from .images import ImageInput, ImageLoadError, load_image

NO_FACE_MESSAGE = "No face detected. Use a photo or frame where a face is clearly visible and not too small."


class DeepfakeDetectionPipeline(Pipeline):
    """Finds every face with MTCNN, classifies each as real or fake, and optionally explains each with Grad-CAM.

    Call it with a path, URL, bytes, PIL image, numpy array, or a list of them. Each image gives a dict:
    `label` (the verdict of the most suspicious face, `None` without faces), `fake_probability`, `faces` (each with
    `box`, `detection_confidence`, `landmarks`, `score` (the probability of `config.score_label`), `probabilities`
    (`{"real", "fake"}`) and `label`), and `message` when no face was found. With `explain=True` each face also gets a
    `heatmap` and a `face_overlay`, and the image an `overlay`. Lists are processed `batch_size` images at a time.

    By default the classifier runs channels-last (about 15% faster on CPUs; scores move by ~1e-5 at most);
    `parity=True` keeps the original app's exact arithmetic (scores within 1e-5). `detection_max_side` (or
    `config.detection_max_side`) trades exactness for speed: MTCNN then runs on a copy of large images scaled down to
    that many pixels, which moves boxes, and so scores, noticeably. Left unset, the faces are the original app's.
    """

    _load_processor = False
    _load_image_processor = True
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(
        self,
        *args,
        face_detector: FaceDetector | None = None,
        detection_max_side: int | None = None,
        parity: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        config = self.model.config
        self.face_detector = face_detector or FaceDetector.from_config(config, max_side=detection_max_side)
        self.parity = parity
        self.model.to(memory_format=torch.contiguous_format if parity else torch.channels_last)
        self.explainer = GradCamExplainer(self.model)

    def _sanitize_parameters(self, explain=None, threshold=None, timeout=None, **kwargs):
        if threshold is not None:
            self.model.config.check_threshold(threshold)  # before any work, not once per face
        preprocess_params = {"timeout": timeout} if timeout is not None else {}
        forward_params = {"explain": explain} if explain is not None else {}
        postprocess_params = {"threshold": threshold} if threshold is not None else {}
        return preprocess_params, forward_params, postprocess_params

    def __call__(self, inputs: ImageInput | list[ImageInput], batch_size: int | None = None, **kwargs: Any):
        """Analyse one image (returns a dict) or a list of images (returns a list of dicts, in order).

        An unreadable single image raises `ImageLoadError`; in a list it gets a result with an `error` instead, and
        the other images are still analysed.
        """
        single = not isinstance(inputs, (list, tuple))
        images = [inputs] if single else list(inputs)
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        batch_size = batch_size or self._batch_size or 8
        results = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            loaded, failed = [], {}
            for index, image in enumerate(chunk):
                try:
                    loaded.append(load_image(image, timeout=preprocess_params.get("timeout")))
                except ImageLoadError as error:
                    if single:
                        raise
                    failed[index] = unreadable(str(error))
            outputs = iter(self._analyse(loaded, forward_params, postprocess_params, isolate=not single))
            results.extend(failed.get(index) or next(outputs) for index in range(len(chunk)))
        return results[0] if single else results

    def _analyse(self, images: list[Image.Image], forward_params: dict, postprocess_params: dict,
                 isolate: bool) -> list[dict]:
        """Results for loaded images, batched. With `isolate` (list inputs), a failed batch is retried image by
        image and an image that still fails gets an `error` result, so one image cannot sink the others."""
        if not images:
            return []
        if not isolate:
            return self.run_single(images, {}, forward_params, postprocess_params)
        try:
            return self.run_single(images, {}, forward_params, postprocess_params)
        except Exception:  # noqa: BLE001 - isolate whichever image caused it, whatever it was
            results = []
            for image in images:
                try:
                    results.extend(self.run_single([image], {}, forward_params, postprocess_params))
                except Exception as error:  # noqa: BLE001 - reported in that image's result
                    results.append(unreadable(f"could not analyse this image ({type(error).__name__}: {error})"))
            return results

    def preprocess(self, images: list[Image.Image]) -> dict:
        """Detect the faces of already loaded images (`__call__` loads them) and prepare their crops."""
        faces = self.face_detector.detect_batch(images)
        crops = [face.crop for image_faces in faces for face in image_faces]
        pixel_values = self.image_processor(crops, return_tensors="pt")["pixel_values"]
        return {"images": images, "faces": faces, "pixel_values": pixel_values.to(self.dtype)}

    def get_inference_context(self):
        return torch.inference_mode

    def _forward(self, model_inputs: dict, explain: bool = False) -> dict:
        pixel_values = model_inputs["pixel_values"]
        heatmaps = None
        if not self.parity:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        if len(pixel_values) == 0:
            scores = torch.empty(0)
        elif explain:
            scores, heatmaps = self.explainer.explain(pixel_values)
        else:
            scores = self.model.scores(pixel_values)
        return {**model_inputs, "scores": scores, "heatmaps": heatmaps}

    def classify_crops(self, crops: list, threshold: float | None = None, batch_size: int = 8) -> list[dict]:
        """Each image taken as one already-cropped face (no detection): per crop `score`, `probabilities`, `label`."""
        results = []
        for start in range(0, len(crops), batch_size):
            pixel_values = self.image_processor(crops[start : start + batch_size], return_tensors="pt")["pixel_values"]
            model_inputs = {"images": [], "faces": [], "pixel_values": pixel_values.to(self.dtype)}
            scores = self.forward(model_inputs)["scores"].tolist()
            results.extend(self._verdict(score, threshold) for score in scores)
        return results

    def postprocess(self, model_outputs: dict, threshold: float | None = None) -> list[dict]:
        scores = iter(model_outputs["scores"].tolist())
        heatmaps = iter(model_outputs["heatmaps"]) if model_outputs["heatmaps"] is not None else None
        results = []
        for image, faces in zip(model_outputs["images"], model_outputs["faces"]):
            face_results, face_heatmaps = [], []
            for face in faces:
                face_result = self._face_result(face, next(scores), threshold)
                if heatmaps is not None:
                    heatmap = next(heatmaps)
                    face_heatmaps.append(heatmap)
                    face_result["heatmap"] = heatmap
                    face_result["face_overlay"] = face_overlay(face, heatmap, self.model.config.image_size)
                face_results.append(face_result)
            result = image_verdict(face_results)
            if heatmaps is not None:
                result["overlay"] = image_overlay(image, faces, face_heatmaps)
            results.append(result)
        return results

    def _face_result(self, face: Face, score: float, threshold: float | None) -> dict:
        return {
            "box": [round(v, 2) for v in face.box],
            "detection_confidence": face.confidence,
            "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks],
            **self._verdict(score, threshold),
        }

    def _verdict(self, score: float, threshold: float | None) -> dict:
        config = self.model.config
        return {"score": score, "probabilities": config.probabilities(score), "label": config.label_for(score, threshold)}


def image_verdict(face_results: list[dict]) -> dict:
    """The image-level result: the verdict and fake probability of its most suspicious face."""
    if not face_results:
        return {"label": None, "fake_probability": None, "num_faces": 0, "faces": [], "message": NO_FACE_MESSAGE}
    suspect = max(face_results, key=lambda face: face["probabilities"]["fake"])
    return {
        "label": suspect["label"],
        "fake_probability": suspect["probabilities"]["fake"],
        "num_faces": len(face_results),
        "faces": face_results,
    }


def unreadable(reason: str) -> dict:
    """The result for an input that could not be read or analysed: no verdict, no faces, and the reason."""
    return {"label": None, "fake_probability": None, "num_faces": 0, "faces": [], "error": reason}


def relabel(result: dict, config, threshold: float) -> dict:
    """The same result with every verdict recomputed at another threshold, without running the model again."""
    faces = [{**face, "label": config.label_for(face["score"], threshold)} for face in result["faces"]]
    return {**result, **image_verdict(faces)}


def to_json(result: dict) -> dict:
    """The result without images and arrays (heatmaps, overlays), ready for `json.dumps`."""
    drop = (np.ndarray, torch.Tensor)
    faces = [
        {k: v for k, v in face.items() if not isinstance(v, drop) and not hasattr(v, "save")} for face in result["faces"]
    ]
    top = {k: v for k, v in result.items() if k != "faces" and not isinstance(v, drop) and not hasattr(v, "save")}
    return {**top, "faces": faces}
