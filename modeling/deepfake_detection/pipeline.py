"""The `deepfake-detection` pipeline: image(s) in, a verdict for every face and for the whole image out.

`load_pipeline` is the one way the package loads a model, and the one place a loading failure is explained.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable

import torch
from PIL import Image
from transformers import Pipeline

from .errors import ImageLoadError, VideoLoadError, check_count, first_line, model_not_available
from .explain import GradCamExplainer
from .faces import FaceDetector
from .hub import default_model_id, default_revision
from .images import ImageInput, input_name, load_image
from .judging import image_result
from .modeling_deepfake_detector import FaceVerdict
from .outputs import FrameResult, ImageResult, VideoResult
from .tracking import DEFAULT_TOP_K, link_tracks
from .video import check_video_options, is_video, stream_frames


class DeepfakeDetectionPipeline(Pipeline):
    """Finds every face with MTCNN, classifies each as real or fake, and optionally explains each with Grad-CAM.

    Call it with a path, URL, bytes, PIL image, numpy array, or a list of them. Each image gives an `ImageResult`:
    `label` (the verdict of the most suspicious judged face, `None` without one), `fake_probability`, `faces` (each a
    `FaceResult` with `box`, `detection_confidence`, `landmarks`, `score` (the probability of `config.score_label`),
    `probabilities` (`{"real", "fake"}`) and `label`), `too_small` (faces under `config.min_judged_face` px wide:
    reported, never scored), and `message` when no face was judged. With `explain=True` each face also gets a
    `heatmap` and a `face_overlay`, and the image an `overlay`. Lists are processed `batch_size` images at a time.

    By default the classifier and MTCNN run channels-last (about 15-20% faster on CPUs; boxes move by well under
    1e-3 px and scores by ~1e-5); `parity=True` keeps the original app's arithmetic (scores within ~1e-6).
    `detection_max_side` (or `config.detection_max_side`) trades exactness for speed: MTCNN then runs on a copy of
    large images scaled down to that many pixels, which moves boxes, and so scores, noticeably. Left unset, the faces
    are the original app's.
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
        self.face_detector = face_detector or FaceDetector.from_config(
            config, max_side=detection_max_side, channels_last=not parity, device=self.device
        )
        self.parity = parity
        self.model.to(memory_format=torch.contiguous_format if parity else torch.channels_last)
        self.explainer = GradCamExplainer(self.model)

    def _sanitize_parameters(self, explain=None, threshold=None, timeout=None, **unknown):
        if unknown:  # a misspelt or video option must not be silently ignored
            raise TypeError(
                f"The deepfake-detection pipeline has no option {', '.join(map(repr, sorted(unknown)))}: it takes "
                "explain, threshold, timeout and batch_size, and video_options (a dict for analyse_video, e.g. "
                "video_options={'num_frames': 16}) for videos."
            )
        if threshold is not None:
            self.model.config.check_threshold(threshold)  # before any work, not once per face
        preprocess_params = {"timeout": timeout} if timeout is not None else {}
        forward_params = {"explain": explain} if explain is not None else {}
        postprocess_params = {"threshold": threshold} if threshold is not None else {}
        return preprocess_params, forward_params, postprocess_params

    def __call__(self, inputs: ImageInput | list[ImageInput], batch_size: int | None = None, **kwargs: Any):
        """Analyse one image or video (returns an `ImageResult` or `VideoResult`) or a list of them (a list of
        results, in order). Videos are recognised by their file suffix (`video.VIDEO_SUFFIXES`); `video_options`
        (a dict) is passed to `analyse_video` for them.

        An unreadable single input raises `ImageLoadError` (`VideoLoadError` for videos); in a list it gets a result
        with an `error` instead, and the other inputs are still analysed.
        """
        video_options = kwargs.pop("video_options", None) or {}
        params = self._sanitize_parameters(**kwargs)  # checks the options once, before any work
        check_count("batch_size", batch_size, optional=True)
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        results: list[Any] = [None] * len(items)
        videos = [index for index, item in enumerate(items) if is_video(item)]
        if videos:
            check_video_options(**video_options)  # once for the list, not once per video
        for index in videos:
            try:
                results[index] = self.analyse_video(items[index], threshold=kwargs.get("threshold"), **video_options)
            except Exception as error:  # noqa: BLE001 - in a list, one video must not sink the others
                if single:
                    raise
                reason = str(error) if isinstance(error, VideoLoadError) else (
                    f"{input_name(items[index], index)}: could not analyse this video ({first_line(error)})")
                results[index] = VideoResult.unreadable(reason, video_options.get("aggregation", "mean"))
        images = [index for index, item in enumerate(items) if not is_video(item)]
        names = [input_name(items[index], index) for index in images]
        analysed = self._analyse_images([items[i] for i in images], names, single, batch_size, params)
        for index, result in zip(images, analysed):
            results[index] = result
        return results[0] if single else results

    def _analyse_images(self, images: list, names: list[str], single: bool, batch_size: int | None,
                        params: tuple) -> list[ImageResult]:
        """Image results in order, `batch_size` images at a time; unreadable images of a list get an `error`."""
        preprocess_params, forward_params, postprocess_params = params
        batch_size = batch_size or self._batch_size or 8
        results = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            loaded, loaded_names, failed = [], [], {}
            for index, image in enumerate(chunk):
                try:
                    loaded.append(load_image(image, timeout=preprocess_params.get("timeout")))
                    loaded_names.append(names[start + index])
                except ImageLoadError as error:
                    if single:
                        raise
                    failed[index] = ImageResult.unreadable(str(error))
            outputs = iter(self._analyse(loaded, loaded_names, forward_params, postprocess_params, isolate=not single))
            results.extend(failed.get(index) or next(outputs) for index in range(len(chunk)))
        return results

    def analyse_video(self, video: str | os.PathLike, num_frames: int | None = None, fps: float | None = None,
                      aggregation: str = "mean", top_k: int = DEFAULT_TOP_K, threshold: float | None = None,
                      explain_frames: int = 0, batch_size: int | None = None,
                      progress: Callable[[int, int, str], None] | None = None) -> VideoResult:
        """Sample a video's frames (`num_frames` evenly spaced, 32 by default, or `fps` a second), analyse each,
        follow every face through time, and give each person (track) and the video a verdict (see `VideoResult`).

        With `explain_frames=N`, the N most suspicious frames get Grad-CAM overlays (computed for those frames only).
        Frames are decoded a batch at a time and only the images of the `explain_frames` most suspicious frames so
        far are kept, so memory does not grow with `num_frames`. `progress(done, total, stage)` is called after each
        batch of frames (stage `"analysed"`) and each explained frame (`"explained"`).
        """
        check_video_options(num_frames, fps, aggregation, top_k, explain_frames, batch_size)
        if threshold is not None:
            self.model.config.check_threshold(threshold)
        report = progress or (lambda done, total, stage: None)
        stream = stream_frames(video, num_frames=num_frames, fps=fps)
        step = batch_size or self._batch_size or 8
        sampled, analysed, candidates = [], [], []
        for chunk in stream.batches(step):  # decoded a batch at a time, bounded in bytes too: memory stays bounded
            results = self([frame.image for frame in chunk], batch_size=step, threshold=threshold)
            for frame, result in zip(chunk, results):
                if explain_frames and result.fake_probability is not None:
                    candidates.append((-result.fake_probability, frame.index, frame.image))  # ties: earlier frame first
                sampled.append((frame.index, frame.time_s))
            candidates = sorted(candidates)[:explain_frames]  # only the most suspicious frames so far keep their image
            analysed.extend(results)
            report(len(analysed), len(stream.indices), "analysed")
        if len(analysed) < len(stream.indices):  # frames that did not decode (a truncated file): the bar still ends
            report(len(analysed), len(analysed), "analysed")
        track_ids = link_tracks([[face.box for face in result.faces] for result in analysed])
        frame_results = [
            FrameResult(index=index, time_s=time_s, faces=result.faces, track_ids=ids, too_small=result.too_small,
                        error=result.error)
            for (index, time_s), result, ids in zip(sampled, analysed, track_ids)
        ]
        if all(frame.error for frame in frame_results):
            raise VideoLoadError(f"{video}: no sampled frame could be analysed ({frame_results[0].error})")
        result = VideoResult.from_frames(frame_results, self.model.config, aggregation, top_k, threshold,
                                         fps=stream.info.fps, duration_s=round(stream.info.duration_s, 3),
                                         notice=stream.notice)
        images = {index: image for _, index, image in candidates}
        shown = result.suspicious_frames(explain_frames)
        for done, frame in enumerate(shown, 1):
            explained = self(images[frame.index], threshold=threshold, explain=True)
            report(done, len(shown), "explained")
            frame.overlay = explained.overlay
            for face, explained_face in zip(frame.faces, explained.faces):
                face.heatmap, face.face_overlay = explained_face.heatmap, explained_face.face_overlay
        return result

    def _analyse(self, images: list[Image.Image], names: list[str], forward_params: dict, postprocess_params: dict,
                 isolate: bool) -> list[ImageResult]:
        """Results for loaded images, batched. With `isolate` (list inputs), a failed batch is retried image by
        image and an image that still fails gets an `error` result naming it, so one image cannot sink the others."""
        if not images:
            return []
        if not isolate:
            return self.run_single(images, {}, forward_params, postprocess_params)
        try:
            return self.run_single(images, {}, forward_params, postprocess_params)
        except Exception:  # noqa: BLE001 - isolate whichever image caused it, whatever it was
            results = []
            for image, name in zip(images, names):
                try:
                    results.extend(self.run_single([image], {}, forward_params, postprocess_params))
                except Exception as error:  # noqa: BLE001 - reported in that image's result
                    results.append(ImageResult.unreadable(f"{name}: could not analyse this image ({first_line(error)})"))
            return results

    def preprocess(self, images: list[Image.Image]) -> dict:
        """Detect the faces of already loaded images (`__call__` loads them), set apart those too small to judge, and
        prepare the judged faces' crops."""
        judged, too_small = zip(*map(self.face_detector.split, self.face_detector.detect_batch(images)))
        crops = [face.crop for image_faces in judged for face in image_faces]
        pixel_values = self.image_processor(crops, return_tensors="pt")["pixel_values"]
        return {"images": images, "faces": judged, "too_small": too_small, "pixel_values": pixel_values.to(self.dtype)}

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

    def classify_crops(self, crops: list, threshold: float | None = None, batch_size: int = 8) -> list[FaceVerdict]:
        """Each image taken as one already-cropped face (no detection): a `FaceVerdict` per crop."""
        check_count("batch_size", batch_size)
        results = []
        for start in range(0, len(crops), batch_size):
            pixel_values = self.image_processor(crops[start : start + batch_size], return_tensors="pt")["pixel_values"]
            model_inputs = {"images": [], "faces": [], "pixel_values": pixel_values.to(self.dtype)}
            scores = self.forward(model_inputs)["scores"].tolist()
            results.extend(FaceVerdict.from_score(score, self.model.config, threshold) for score in scores)
        return results

    def postprocess(self, model_outputs: dict, threshold: float | None = None) -> list[ImageResult]:
        """One `ImageResult` per image: each judged face's scores and verdict at `threshold` (default: the config's),
        and the faces too small to judge."""
        scores = iter(model_outputs["scores"].tolist())
        heatmaps = iter(model_outputs["heatmaps"]) if model_outputs["heatmaps"] is not None else None
        return [
            image_result(image, faces, too_small, scores, heatmaps, self.model.config, threshold,
                         self.face_detector.min_judged_face)
            for image, faces, too_small in zip(model_outputs["images"], model_outputs["faces"],
                                               model_outputs["too_small"])
        ]


def load_pipeline(model: str | os.PathLike | None = None, revision: str | None = None, **kwargs):
    """The `deepfake-detection` pipeline for a Hub repo id or local folder (default: `default_model_id()`).

    The model's code comes from this package, never from the repo, so no remote code runs.

    This is the one loading boundary: whatever stops the model loading (unreachable repo, damaged or half-downloaded
    weights, an invalid config or processor config) becomes a `ModelNotAvailableError` that says what to do.
    """
    from transformers import pipeline

    from . import register

    register()
    model = str(model or default_model_id())
    revision = revision or default_revision()
    try:
        with _quiet_local_loading(model):
            return pipeline("deepfake-detection", model=model, revision=revision, trust_remote_code=False, **kwargs)
    except Exception as error:  # noqa: BLE001 - loaders raise dozens of types; all mean "this model cannot load"
        raise model_not_available(model, revision, error) from error


@contextlib.contextmanager
def _quiet_local_loading(model: str):
    """No progress bars while a local folder loads: transformers prints a "Loading weights" bar on every load, which
    only clutters the command line's output when nothing is downloaded (Hub downloads keep their bars)."""
    from transformers.utils import logging as transformers_logging

    quiet = os.path.isdir(model) and transformers_logging.is_progress_bar_enabled()
    if quiet:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet:
            transformers_logging.enable_progress_bar()
