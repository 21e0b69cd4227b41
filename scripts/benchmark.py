"""Benchmark: the original app's per-image path against this package's, on the same images and weights, in one run.

    python scripts/benchmark.py [--images DIR] [--crops DIR] [--repeat N] [--output JSON] [--model PATH] [--set K=V]

Three jobs, each run by both paths: evaluation throughput (detect + classify, no Grad-CAM) on the full-HD frames of
`--images`; single-image analysis with Grad-CAM (per-image latency); face-crop classification throughput on the
224x224 crops of `--crops`. Also measured in the same run: the fp32 matmul rate, the classifier's FLOPs, each phase's
peak memory, the score differences between the paths (default settings and parity mode), where the package's time
goes (cProfile), a 32-frame video, the first answer of a cold `predict` process and of a fresh Space, and, with the
trained model (`--accuracy-model`, the bundled one by default), whether bounded detection sizes find the same faces
and keep ROC-AUC (benchmark_accuracy.py). Prints tables and writes every figure to `--output` (JSON).

Without `--model`, both paths use one model with seeded random weights whose batch-norm statistics and final layer
are set on the first crops (so scores spread over (0, 1)); its scores mean nothing about deepfakes.

The original app's path is `SeedApp` in seed_reference.py; how things are measured is in benchmark_measure.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from benchmark_accuracy import ACCURACY_HEADERS, DEFAULT_MAX_SIDES, accuracy_job, accuracy_rows
from benchmark_measure import (
    PeakMemory,
    classifier_gflop,
    cold_predict_seconds,
    matmul_gflops,
    profile,
    set_threads,
    space_time_to_ready,
    time_paths,
)
from PIL import Image
from seed_reference import SeedApp, random_model, save_model
from transformers.utils import logging as transformers_logging

from deepfake_detection import (
    DeepfakeDetectorImageProcessor,
    ModelNotAvailableError,
    load_image,
    load_pipeline,
)
from deepfake_detection.hub import default_model_id
from deepfake_detection.images import find_images
from deepfake_detection.tracking import box_iou

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_IMAGES = SHARED_DATA / "ffpp-examples"
DEFAULT_CROPS = SHARED_DATA / "dfdc-faces" / "validation"

PARITY_SETTINGS = {"detection_max_side": None}
"""Config settings of the package's parity mode: everything as the original app computes it."""
TARGETS = {"evaluation_speedup": 4.0, "explain_speedup": 4.0, "crop_flop_bound_ratio": 1.3, "video_32_frames_s": 8.0,
           "cold_start_s": 5.0}
"""Speed goals: full-HD evaluation and Grad-CAM analysis against the original path, crop classification against its
FLOP bound, a 32-frame video, and the first answer of a fresh `predict` process and of a fresh Space."""
VIDEO_FPS = 24
VIDEO_SECONDS = 4
"""The video job's clip: the frames repeated into a VIDEO_SECONDS-second clip at VIDEO_FPS, at the first frame's size."""
SCORE_TOLERANCES = {"run": 1e-3, "parity": 1e-5}
"""Limits on the max abs score difference from the seed path: with this run's package settings (1e-3 holds for the
default settings; opt-in `--set` settings such as `detection_max_side` may exceed it) and in parity mode."""
Log = Callable[[str], None]
"""Where progress messages go."""
JOB_TITLES = {
    "evaluation": "Evaluation (detect + classify)",
    "explain": "Single image + Grad-CAM",
    "crops": "Face-crop classification",
}


# -- The two paths ----------------------------------------------------------------------------------------------


class Contenders:
    """Both paths on the same weights (the seed re-creation; the package, with this run's settings and in parity
    mode) as steps that take a list of image paths and return one result per image, so they can be timed alike."""

    def __init__(self, model_folder: Path, settings: dict):
        self.detector = load_pipeline(model_folder, model_kwargs=settings)
        self.parity = load_pipeline(model_folder, parity=True, model_kwargs=PARITY_SETTINGS)
        self.seed = SeedApp(self.detector.model.inception.state_dict())

    def package_frames(self, explain: bool, parity: bool = False) -> Callable[[Sequence[str]], list]:
        """The package's step on frames: the whole list as one batch."""
        pipeline = self.parity if parity else self.detector
        return lambda paths: pipeline(list(paths), batch_size=len(paths), explain=explain)

    def seed_frames(self, explain: bool) -> Callable[[Sequence[str]], list]:
        """The seed's step on frames: one image at a time."""
        return lambda paths: [self.seed.analyse(path, explain) for path in paths]

    def package_crops(self, paths: Sequence[str]) -> list[float]:
        """The package's scores of ready face crops, the whole list as one batch."""
        crops = [load_image(path) for path in paths]
        return [crop["score"] for crop in self.detector.classify_crops(crops, batch_size=len(crops))]

    def seed_crops(self, paths: Sequence[str]) -> list[float]:
        """The seed's scores of ready face crops, one at a time."""
        return [self.seed.classify_crop(path) for path in paths]

    def warm_up(self, frames: Sequence[str], crops: Sequence[str], batch_size: int, crop_batch_size: int) -> None:
        """Run every step once, so that no job times first-call costs (lazy imports, allocator growth)."""
        self.seed_frames(True)(frames[:1])
        self.package_frames(True)(frames[:1])
        self.package_frames(False)(frames[:batch_size])
        self.seed_crops(crops[:1])
        self.package_crops(crops[:crop_batch_size])


# -- Comparing the paths' scores --------------------------------------------------------------------------------


def matching_face(seed: dict, result: dict) -> dict | None:
    """The package's face for the seed's most confident face: the one whose box overlaps it most (IoU > 0.5)."""
    if seed["box"] is None or not result["faces"]:
        return None
    best = max(result["faces"], key=lambda face: box_iou(seed["box"], face["box"]))
    return best if box_iou(seed["box"], best["box"]) > 0.5 else None


def score_differences(seed_results: list[dict], package_results: list[dict]) -> dict:
    """Max abs score difference over the images where both paths found the same face, and how many matched."""
    differences, ious = [], []
    for seed, result in zip(seed_results, package_results):
        face = matching_face(seed, result)
        if face is not None:
            differences.append(abs(face["score"] - seed["score"]))
            ious.append(box_iou(seed["box"], face["box"]))
    return {
        "max_abs_score_diff": max(differences) if differences else None,
        "matched_faces": len(differences),
        "images": len(seed_results),
        "min_box_iou": min(ious) if ious else None,
    }


# -- The jobs ---------------------------------------------------------------------------------------------------


def job_figures(timings: dict, speedup_by: str) -> dict:
    """A job's figures: both paths' timings and the package's speed-up (by throughput or by median latency)."""
    seed, package = timings["seed"][0], timings["package"][0]
    if speedup_by == "throughput":
        speedup = package["images_per_s"] / seed["images_per_s"]
    else:
        speedup = seed["latency_ms"]["median"] / package["latency_ms"]["median"]
    return {"seed": seed, "package": package, "speedup": speedup, "speedup_by": speedup_by}


def evaluation_job(paths: Contenders, frames: list[str], repeat: int, batch_size: int, log: Log) -> dict:
    """Detect + classify on every frame: the seed one image at a time, the package in batches; scores compared."""
    log(f"Evaluation job: {len(frames)} frames x {repeat}, seed one at a time, package in batches of {batch_size}")
    steps = {"seed": (paths.seed_frames(False), 1), "package": (paths.package_frames(False), batch_size)}
    timings = time_paths(frames, steps, repeat)
    log("Evaluation job: package in parity mode (not timed)")
    parity_results = paths.package_frames(False, parity=True)(frames)
    job = job_figures(timings, "throughput")
    job["faces_classified"] = {
        "seed": sum(result["score"] is not None for result in timings["seed"][1]),
        "package": sum(result["num_faces"] for result in timings["package"][1]),
    }
    job["scores"] = {
        "run": score_differences(timings["seed"][1], timings["package"][1]),
        "parity": score_differences(timings["seed"][1], parity_results),
    }
    return job


def explain_job(paths: Contenders, explained: list[str], repeat: int, log: Log) -> dict:
    """Single-image analysis with Grad-CAM, one image at a time on both paths; scores compared."""
    log(f"Grad-CAM job: {len(explained)} frames x {repeat}, one image at a time")
    steps = {"seed": (paths.seed_frames(True), 1), "package": (paths.package_frames(True), 1)}
    timings = time_paths(explained, steps, repeat)
    parity_results = [paths.parity(path, explain=True) for path in explained]
    job = job_figures(timings, "median latency")
    job["scores"] = {
        "run": score_differences(timings["seed"][1], timings["package"][1]),
        "parity": score_differences(timings["seed"][1], parity_results),
    }
    return job


def crops_job(
    paths: Contenders, crops: list[str], repeat: int, crop_batch_size: int, gflop: float, matmul_rate: float,
    log: Log,
) -> dict:
    """Face-crop classification, the seed one at a time, the package in batches; scores compared, and the package's
    time per crop against the FLOP bound that `gflop` per image at `matmul_rate` GFLOP/s sets."""
    log(f"Crop job: {len(crops)} crops x {repeat}, seed one at a time, package in batches of {crop_batch_size}")
    steps = {"seed": (paths.seed_crops, 1), "package": (paths.package_crops, crop_batch_size)}
    timings = time_paths(crops, steps, repeat)
    classify_ms = classification_ms(paths, crops[:crop_batch_size], repeat)
    job = job_figures(timings, "throughput")
    for path in ("seed", "package"):
        job[path]["classifier_gflops_per_s"] = gflop * job[path]["images_per_s"]
    seed_scores, package_scores = timings["seed"][1], timings["package"][1]
    job["scores"] = {
        "run": {
            "max_abs_score_diff": float(np.max(np.abs(np.subtract(seed_scores, package_scores)))),
            "matched_faces": len(crops),
            "images": len(crops),
        }
    }
    job["flop_bound"] = flop_bound(gflop, matmul_rate, job["package"]["images_per_s"], classify_ms)
    return job


def classification_ms(paths: Contenders, crops: list[str], repeat: int) -> float:
    """The package classifier's time per crop on one ready batch, without loading or preprocessing (ms)."""
    pixel_values = paths.detector.image_processor([load_image(path) for path in crops])["pixel_values"]
    start = time.perf_counter()
    for _ in range(repeat):
        paths.detector.model.scores(pixel_values)
    return (time.perf_counter() - start) / (repeat * len(pixel_values)) * 1000


def flop_bound(gflop: float, matmul_rate: float, package_images_per_s: float, classify_ms: float) -> dict:
    """The FLOP bound per crop (`gflop` at the matmul rate) and how far the package's crop times are from it."""
    bound_ms = gflop / matmul_rate * 1000
    package_ms = 1000 / package_images_per_s
    return {
        "bound_ms_per_image": bound_ms,
        "package_ms_per_image": package_ms,
        "ratio": package_ms / bound_ms,
        "classification_only_ms_per_image": classify_ms,
        "classification_only_ratio": classify_ms / bound_ms,
        "classification_only_gflops_per_s": gflop / classify_ms * 1000,
    }


def profile_job(paths: Contenders, frames: list[str], explained: list[str], batch_size: int) -> dict:
    """Where the package's time goes (cProfile, not timed): two batches of frames, and three explained frames."""
    profiled, evaluate, explain = frames[: 2 * batch_size], paths.package_frames(False), paths.package_frames(True)
    profiles = {
        "evaluation": profile(
            lambda: [evaluate(profiled[i : i + batch_size]) for i in range(0, len(profiled), batch_size)]
        ),
        "explain": profile(lambda: [explain([path]) for path in explained[:3]]),
    }
    profiles["evaluation"]["images"], profiles["explain"]["images"] = len(profiled), len(explained[:3])
    return profiles


def space_job(requested: bool, model_folder: Path, dataset: Path | None, log: Log, image: str | None = None) -> dict:
    """The Space's time to ready and to a first visitor's answer on `image`, when requested (starting it takes a while
    and needs gradio)."""
    if not requested:
        return {"skipped": "not requested"}
    log("Timing the Space's start-up")
    return space_time_to_ready(model_folder, dataset, image)


def cold_start_job(requested: bool, model_folder: Path, image: str, log: Log) -> dict:
    """A fresh `deepfake-detection predict` process's time to its answer on `image`, when requested."""
    if not requested:
        return {"skipped": "not requested"}
    log("Timing a cold `deepfake-detection predict`")
    return cold_predict_seconds(model_folder, image)


def write_clip(frames: Sequence[str], path: Path) -> Path:
    """The frames, resized to the first one's size and repeated, as an mp4 clip of VIDEO_SECONDS at VIDEO_FPS."""
    import cv2

    images = [Image.open(frame).convert("RGB") for frame in frames]
    size = images[0].size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, size)
    for index in range(VIDEO_FPS * VIDEO_SECONDS):
        writer.write(np.asarray(images[index % len(images)].resize(size))[:, :, ::-1].copy())
    writer.release()
    return path


def video_job(paths: Contenders, frames: Sequence[str], log: Log, num_frames: int = 32) -> dict:
    """A clip made of the frames, analysed as a video (decode 32 sampled frames + detect + classify, no Grad-CAM):
    seconds per video against the target. The original app takes no videos, so there is no seed path to compare."""
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(frames, Path(folder) / "clip.mp4")
        log(f"Video job: {num_frames} frames sampled from a {VIDEO_SECONDS} s clip")
        paths.detector.analyse_video(clip, num_frames=2)  # warm-up
        start = time.perf_counter()
        result = paths.detector.analyse_video(clip, num_frames=num_frames)
        seconds = time.perf_counter() - start
    width, height = Image.open(frames[0]).size
    return {
        "clip": f"{width}x{height}, {VIDEO_FPS * VIDEO_SECONDS} frames at {VIDEO_FPS} fps (mp4v)",
        "frames_sampled": result.frames_sampled,
        "faces": sum(len(frame.faces) for frame in result.frames),
        "tracks": result.num_tracks,
        "seconds": seconds,
        "sampled_frames_per_s": result.frames_sampled / seconds,
    }


def checks(jobs: dict, video: dict | None = None, startup: dict | None = None) -> dict[str, bool]:
    """Whether each target and score tolerance is met."""
    results = {
        "evaluation_speedup": jobs["evaluation"]["speedup"] >= TARGETS["evaluation_speedup"],
        "explain_speedup": jobs["explain"]["speedup"] >= TARGETS["explain_speedup"],
        "crop_flop_bound_ratio": jobs["crops"]["flop_bound"]["ratio"] <= TARGETS["crop_flop_bound_ratio"],
    }
    for mode, tolerance in SCORE_TOLERANCES.items():
        differences = [job["scores"][mode]["max_abs_score_diff"] for job in jobs.values() if mode in job["scores"]]
        results[f"score_diff_{mode}"] = all(d is not None and d <= tolerance for d in differences)
    if video is not None:
        results["video_32_frames_s"] = video["seconds"] <= TARGETS["video_32_frames_s"]
    if startup is not None:
        firsts = (startup["cli"].get("seconds"), startup["space"].get("time_to_first_answer_s"))
        measured = [seconds for seconds in firsts if seconds is not None]
        if measured:
            results["cold_start_s"] = max(measured) <= TARGETS["cold_start_s"]
    return results


def input_figures(frames: Sequence[str], explained: Sequence[str], crops: Sequence[str], **options: object) -> dict:
    """What the run measured: how many frames (and their distinct sizes), explained frames and crops; its options."""
    with contextlib.ExitStack() as stack:
        sizes = {"x".join(map(str, stack.enter_context(Image.open(path)).size)) for path in frames}
    return {
        "frames": len(frames),
        "frame_sizes": sorted(sizes),
        "explain_frames": len(explained),
        "crops": len(crops),
        **options,
        "parity_settings": PARITY_SETTINGS,
    }


def machine_figures(load_average: dict[str, float]) -> dict:
    """The machine the run took place on, and its 1-minute load average at the run's start and end."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads()},
        "load_average_1min": load_average,
    }


def run_benchmark(
    frames: Sequence[Path],
    crops: Sequence[Path],
    model_folder: Path,
    repeat: int = 1,
    batch_size: int = 8,
    crop_batch_size: int = 8,
    explain_images: int = 8,
    settings: dict | None = None,
    matmul_size: int = 2048,
    space: bool = True,
    space_dataset: Path | None = None,
    cold_start: bool = True,
    accuracy: dict | None = None,
    log: Log = lambda message: print(message, file=sys.stderr, flush=True),
) -> dict:
    """Run the three jobs with both paths on the same images and weights; return every figure as a JSON-able dict.

    `accuracy` (`{"model": ..., "datasets": {name: (folder, split)}, "max_sides": [...]}`) adds the comparison of
    the channels-last default and bounded detection sizes against the original arithmetic (`benchmark_accuracy.py`)
    with that trained model."""
    load_at_start = os.getloadavg()[0]
    settings = dict(settings or {})
    paths = Contenders(model_folder, settings)
    frames, crops = [str(path) for path in frames], [str(path) for path in crops]
    explained = frames[:: max(len(frames) // explain_images, 1)][:explain_images]

    log("Measuring the fp32 matmul rate and the classifier's FLOPs")
    matmul = [matmul_gflops(matmul_size)]
    gflop = classifier_gflop(paths.seed.model, paths.detector.model.config.image_size)
    log("Warming up both paths")
    paths.warm_up(frames, crops, batch_size, crop_batch_size)
    jobs = {
        "evaluation": evaluation_job(paths, frames, repeat, batch_size, log),
        "explain": explain_job(paths, explained, repeat, log),
    }
    matmul.append(matmul_gflops(matmul_size))  # again, right before the job whose FLOP bound it sets
    peak_rate = max(run["gflops_per_s"] for run in matmul)
    jobs["crops"] = crops_job(paths, crops, repeat, crop_batch_size, gflop, peak_rate, log)
    video = video_job(paths, frames, log)
    log("Profiling the package path (cProfile, not timed)")
    profiles = profile_job(paths, frames, explained, batch_size)
    load_at_end = os.getloadavg()[0]
    startup = {"cli": cold_start_job(cold_start, model_folder, frames[0], log),
               "space": space_job(space, model_folder, space_dataset, log, image=frames[0])}
    accuracy_figures = (accuracy_job(accuracy["model"], frames, accuracy["datasets"], accuracy["max_sides"], log)
                        if accuracy else {"skipped": "not requested"})
    return {
        "machine": machine_figures({"start": load_at_start, "end": load_at_end}),
        "inputs": input_figures(
            frames, explained, crops, repeat=repeat, batch_size=batch_size, crop_batch_size=crop_batch_size,
            package_settings=settings,
        ),
        "compute": {
            "matmul": matmul,
            "matmul_gflops_per_s": peak_rate,
            "classifier_gflop_per_image": gflop,
            "classifier_gflop_source": "torch.utils.flop_counter.FlopCounterMode, one 256x256 forward pass",
            "flop_bound_ms_per_image": jobs["crops"]["flop_bound"]["bound_ms_per_image"],
        },
        "memory_method": PeakMemory.method(),
        "jobs": jobs,
        "video": video,
        "profile": profiles,
        "cold_start": startup["cli"],
        "space": startup["space"],
        "accuracy": accuracy_figures,
        "targets": TARGETS,
        "score_tolerances": SCORE_TOLERANCES,
        "checks": checks(jobs, video, startup),
    }


# -- Presentation -----------------------------------------------------------------------------------------------

TIMING_HEADERS = ["job", "path", "images/s", "median ms", "p90 ms", "peak RSS MiB", "speed-up",
                  "max abs score diff (run settings / parity)"]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _diff(scores: dict, mode: str) -> str:
    value = scores.get(mode, {}).get("max_abs_score_diff")
    return "-" if value is None else f"{value:.1e}"


def timing_rows(figures: dict) -> list[list[str]]:
    """One row per job and path: throughput, latencies, memory, and on the package's row its speed-up and scores."""
    rows = []
    for name, job in figures["jobs"].items():
        for path in ("seed", "package"):
            timing = job[path]
            rows.append(
                [
                    JOB_TITLES[name] if path == "seed" else "",
                    path,
                    f"{timing['images_per_s']:.2f}",
                    f"{timing['latency_ms']['median']:.0f}",
                    f"{timing['latency_ms']['p90']:.0f}",
                    f"{timing['peak_rss_mib']:.0f}",
                    "" if path == "seed" else f"{job['speedup']:.1f}x",
                    "" if path == "seed" else f"{_diff(job['scores'], 'run')} / {_diff(job['scores'], 'parity')}",
                ]
            )
    return rows


def busy_warning(figures: dict) -> list[str]:
    """A warning (and a blank line) when the load average shows other processes sharing the cores, else nothing."""
    load, threads = figures["machine"]["load_average_1min"], figures["machine"]["threads"]
    if max(load.values()) <= threads["torch_intra_op"] + 0.5:
        return []
    return [
        f"WARNING: the machine was busy (1-min load average {load['start']:.1f} at the start, {load['end']:.1f} at "
        "the end): other processes shared the cores, so the timings are pessimistic and noisy.",
        "",
    ]


def summary_lines(figures: dict) -> list[str]:
    """Bullet lines: the FLOP bound and the crop job against it, the Space, threads, memory method and checks."""
    compute, crop_jobs = figures["compute"], figures["jobs"]["crops"]
    bound, threads, space = crop_jobs["flop_bound"], figures["machine"]["threads"], figures["space"]
    space_line = space.get("skipped") or space.get("error") or f"ready in {space['time_to_ready_s']:.1f} s" + (
        f", first answer at {space['time_to_first_answer_s']:.1f} s" if "time_to_first_answer_s" in space else "")
    cold = figures["cold_start"]
    cold_line = cold.get("skipped") or cold.get("error") or f"{cold['seconds']:.1f} s"
    return [
        f"- fp32 matmul ({compute['matmul'][0]['size']}²): {compute['matmul_gflops_per_s']:.0f} GFLOP/s (best of "
        f"{sum(run['runs'] for run in compute['matmul'])} runs); classifier: "
        f"{compute['classifier_gflop_per_image']:.2f} GFLOP/image -> FLOP bound "
        f"{bound['bound_ms_per_image']:.0f} ms/image",
        f"- crop job, package: {bound['package_ms_per_image']:.0f} ms/image end to end = {bound['ratio']:.2f}x the "
        f"bound (target ≤ {figures['targets']['crop_flop_bound_ratio']}x); classification alone "
        f"{bound['classification_only_ms_per_image']:.0f} ms/image = {bound['classification_only_ratio']:.2f}x, "
        f"{bound['classification_only_gflops_per_s']:.0f} GFLOP/s",
        f"- classifier GFLOP/s in the crop job: seed {crop_jobs['seed']['classifier_gflops_per_s']:.0f}, "
        f"package {crop_jobs['package']['classifier_gflops_per_s']:.0f}",
        f"- video: {figures['video']['frames_sampled']} frames sampled from a {figures['video']['clip']} clip "
        f"analysed in {figures['video']['seconds']:.1f} s (target ≤ {figures['targets']['video_32_frames_s']:g} s)",
        f"- cold `deepfake-detection predict` (one full-HD frame): {cold_line}; Space: {space_line} (target ≤ "
        f"{figures['targets']['cold_start_s']:g} s to the first answer)",
        f"- threads: {threads['torch_intra_op']} intra-op, {threads['torch_inter_op']} inter-op; "
        f"peak memory: {figures['memory_method']}",
        "- checks: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in figures["checks"].items()),
        "",
    ]


def profile_tables(figures: dict) -> list[str]:
    """Per profiled job, a table of seconds and shares per package stage (details in brackets)."""
    lines = []
    for name, result in figures["profile"].items():
        stage_rows = [
            [stage, f"{seconds:.2f}", f"{result['stages_fraction'][stage]:.0%}"]
            for stage, seconds in result["stages_s"].items()
            if seconds > 0
        ]
        stage_rows += [
            [f"({detail})", f"{part:.2f}", f"{part / result['total_s']:.0%}"]
            for detail, part in result["details_s"].items()
            if part > 0
        ]
        lines += [
            f"Package path profile, {JOB_TITLES[name]}, {result['images']} images "
            f"({result['total_s']:.1f} s under cProfile):",
            "",
            markdown_table(["stage", "s", "share"], stage_rows),
            "",
        ]
    return lines


def accuracy_lines(figures: dict) -> list[str]:
    """The faster-detection comparison as a table, when it ran."""
    accuracy = figures.get("accuracy", {})
    if "candidates" not in accuracy:
        return []
    reference = "; ".join(f"{name} {auc:.4f}" for name, auc in accuracy["reference_roc_auc"].items())
    return [
        f"Faster detection against the original arithmetic (parity mode, full resolution; {accuracy['model']}; its "
        f"ROC-AUC: {reference}; kept "
        f"only if every face is found with IoU ≥ {accuracy['min_iou']} and each AUC moves ≤ "
        f"{accuracy['auc_tolerance']}):",
        "",
        markdown_table(ACCURACY_HEADERS, accuracy_rows(accuracy)),
        "",
    ]


def report(figures: dict) -> str:
    """The benchmark's figures as readable markdown tables."""
    table = [markdown_table(TIMING_HEADERS, timing_rows(figures)), ""]
    return "\n".join(busy_warning(figures) + table + summary_lines(figures) + accuracy_lines(figures)
                     + profile_tables(figures))


# -- Command line -----------------------------------------------------------------------------------------------


def select_frames(paths: Sequence[Path], resolution: str) -> list[Path]:
    """The images of the given `WIDTHxHEIGHT` (all of them for `any`)."""
    if resolution == "any":
        return list(paths)
    size = tuple(int(side) for side in resolution.lower().split("x"))
    selected = []
    for path in paths:
        with Image.open(path) as image:
            if image.size == size:
                selected.append(path)
    return selected


def parse_setting(text: str) -> tuple[str, object]:
    """`KEY=VALUE` with a JSON value (`null`, numbers, strings) into a config override."""
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="Folder of frames (default: %(default)s).")
    parser.add_argument("--resolution", default="1920x1080", help="Only frames of this WxH size, or 'any'.")
    parser.add_argument("--crops", type=Path, default=DEFAULT_CROPS, help="Folder of crops (default: %(default)s).")
    parser.add_argument("--num-crops", type=int, default=96, help="Crops used, spread over the folder (default 96).")
    parser.add_argument("--explain-images", type=int, default=8, help="Frames in the Grad-CAM job (default 8).")
    parser.add_argument("--repeat", type=int, default=2, help="Timed passes over each job's images (default 2).")
    parser.add_argument("--batch-size", type=int, default=8, help="Package path: frames per batch (default 8).")
    parser.add_argument("--crop-batch-size", type=int, default=8, help="Package path: crops per batch (default 8).")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch threads (default: all cores).")
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="Config setting for the package path, e.g. --set detection_max_side=640 (repeatable).")
    parser.add_argument("--model", type=Path, default=None, help="Model folder (default: seeded random weights).")
    parser.add_argument("--no-space", action="store_true", help="Skip timing the Space's start-up.")
    parser.add_argument("--no-cold-start", action="store_true", help="Skip timing a fresh `predict` process.")
    parser.add_argument("--accuracy-model", default=default_model_id(),
                        help="Trained model for the detection-size comparison (default: the bundled model).")
    parser.add_argument("--dfdc", type=Path, default=DEFAULT_CROPS.parent,
                        help="DFDC face crops whose validation split the comparison scores (default: %(default)s).")
    parser.add_argument("--compare-max-side", type=int, nargs="*", default=list(DEFAULT_MAX_SIDES), metavar="PIXELS",
                        help="Detection sizes compared with the original arithmetic (with the channels-last default); "
                        "none skips the comparison.")
    parser.add_argument("--output", type=Path, default=Path("outputs/benchmark.json"), help="JSON output path.")
    return parser


def chosen_inputs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[list[Path], list[Path]]:
    """The frames and crops the options select; a usage error when a folder is missing or selects nothing."""
    for folder, flag in ((args.images, "--images"), (args.crops, "--crops")):
        if not folder.is_dir():
            parser.error(f"{flag} {folder} is not a folder. Point it at a folder of images (see ../shared/data).")
    if args.model is not None and not args.model.is_dir():
        parser.error(f"--model {args.model} is not a folder. Pass a saved model folder, or leave --model out.")
    frames = select_frames(find_images([args.images]), args.resolution)
    all_crops = find_images([args.crops])
    crops = all_crops[:: max(len(all_crops) // args.num_crops, 1)][: args.num_crops]
    if not frames or not crops:
        parser.error(f"no {args.resolution} frames in {args.images} or no crops in {args.crops}; try --resolution any.")
    return frames, crops


def accuracy_request(args: argparse.Namespace) -> dict | None:
    """What the detection-size comparison needs, or None when no size is to be compared or its data is missing."""
    if not args.compare_max_side:
        return None
    datasets = {"ffpp-examples": (str(args.images), None)}
    if (args.dfdc / "validation").is_dir():
        datasets["DFDC validation"] = (str(args.dfdc), "validation")
    return {"model": args.accuracy_model, "datasets": datasets, "max_sides": args.compare_max_side}


def stand_in_model(crops: Sequence[Path], folder: Path) -> Path:
    """The default model, saved to `folder`: seeded random weights (seed 0) calibrated on the first 16 crops."""
    calibration = DeepfakeDetectorImageProcessor()([load_image(path) for path in crops[:16]])["pixel_values"]
    return save_model(random_model(calibration, seed=0), folder)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line: print the report and write every figure to `--output`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    frames, crops = chosen_inputs(args, parser)
    threads = set_threads(args.threads)
    transformers_logging.disable_progress_bar()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="benchmark_model_") as scratch:
        model_folder = args.model if args.model is not None else stand_in_model(crops, Path(scratch))
        try:
            figures = run_benchmark(
                frames, crops, model_folder, repeat=args.repeat, batch_size=args.batch_size,
                crop_batch_size=args.crop_batch_size, explain_images=args.explain_images,
                settings=dict(args.settings), space=not args.no_space, space_dataset=args.images,
                cold_start=not args.no_cold_start, accuracy=accuracy_request(args),
            )
        except ModelNotAvailableError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    figures["machine"]["threads"].update(threads)
    model = str(args.model or "seeded random weights (seed 0), calibrated on 16 crops")
    figures["inputs"].update(images=str(args.images), crops_folder=str(args.crops), model=model)
    figures["wall_time_s"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2))
    print(report(figures))
    print(f"Every figure: {args.output} (run took {figures['wall_time_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
