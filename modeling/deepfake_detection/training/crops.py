"""Training crops: every image goes once through the package's own face detection and crop, and the result is cached.

Training must see the crops that inference sees, so each image is read, its most confident face found by the same
`FaceDetector` the pipeline uses (same crop size and margin), and that crop kept with its five landmarks (for
self-blended images) and its pairing group (the source video a fake was made from). The work runs through
`datasets.map`, so it is parallel, shows a progress bar, and is cached on disk: the next run starts at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from ..configuration_deepfake_detector import LABELS, DeepfakeDetectorConfig
from ..faces import FACE_MODES, Face, FaceDetector
from ..dataset import image_path, read_image_value
from ..errors import ImageLoadError

NO_GROUP = -1
FAKE, REAL = LABELS.index("fake"), LABELS.index("real")
"""The label indices of `FaceCrops.labels` (the model's `id2label` order)."""
DEFAULT_CACHE_DIR = Path(os.environ.get("DEEPFAKE_DETECTION_CACHE", Path.home() / ".cache" / "deepfake-detection"))


@dataclass
class FaceCrops:
    """Face crops ready for training: pixels as inference cuts them, labels, pairing groups and landmarks.

    `labels` index `LABELS` (0 = fake, 1 = real). `groups` holds one integer per source video (fakes share the
    group of the real they were made from), `NO_GROUP` when unknown. `landmarks` are in crop pixels, NaN when unknown.
    `face_widths` is each face's width in its source image's pixels (NaN when unknown): how much detail the crop
    really holds, which resolution normalisation (`augmentation.cap_resolution`) needs.
    """

    pixels: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    landmarks: np.ndarray
    paths: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    face_widths: np.ndarray | None = None

    def __post_init__(self):
        if self.face_widths is None:
            self.face_widths = np.full(len(self.labels), np.nan, np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "FaceCrops":
        """The crops at `indices`, in that order (the skipped list is kept)."""
        return FaceCrops(
            self.pixels[indices], self.labels[indices], self.groups[indices], self.landmarks[indices],
            [self.paths[i] for i in indices], list(self.skipped), self.face_widths[indices],
        )


def read_pairs_csv(path: str | os.PathLike) -> dict[str, str]:
    """`{file: source_video}` from a metadata CSV with `file` and `source_video` columns (DFDC's metadata.csv)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "source_video"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: the pairs CSV needs the columns file and source_video; {sorted(missing)} missing.")
        return {PurePath(row["file"]).as_posix(): row["source_video"] for row in reader}


def group_of(path: str, pairs: dict[str, str]) -> str | None:
    """The source video of an image path: the CSV entry whose `file` is the longest tail of `path`."""
    parts = PurePath(path).parts
    for start in range(len(parts)):
        source = pairs.get(PurePath(*parts[start:]).as_posix())
        if source is not None:
            return source
    return None


def crop_landmarks(face: Face, image_size: tuple[int, int], crop_size: int, margin: int) -> np.ndarray:
    """The face's five landmarks in the pixels of its crop (the box arithmetic of facenet-pytorch's `extract_face`)."""
    x1, y1, x2, y2 = face.box
    margin_x, margin_y = margin * (x2 - x1) / (crop_size - margin), margin * (y2 - y1) / (crop_size - margin)
    left, top = int(max(x1 - margin_x / 2, 0)), int(max(y1 - margin_y / 2, 0))
    right, bottom = int(min(x2 + margin_x / 2, image_size[0])), int(min(y2 + margin_y / 2, image_size[1]))
    points = np.asarray(face.landmarks, dtype=np.float32)
    scale = np.array([crop_size / max(right - left, 1), crop_size / max(bottom - top, 1)], dtype=np.float32)
    return (points - np.array([left, top], dtype=np.float32)) * scale


class _CropMaker:
    """The `datasets.map` function: one crop per image; built lazily so each worker process has its own MTCNN."""

    def __init__(self, config: DeepfakeDetectorConfig, faces: str, image_column: str):
        self.config, self.faces, self.image_column = config, faces, image_column
        self.detector: FaceDetector | None = None

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        import torch

        if self.detector is None and self.faces == "detect":
            self.detector = FaceDetector.from_config(self.config, selection="most_confident", min_judged_face=None,
                                                     min_face_size=training_detection_size(self.config))
        crops, landmarks, statuses, widths = [], [], [], []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # worker processes share the cores: threads would only fight
        try:
            for value in batch[self.image_column]:
                crop, points, status, width = self.crop(value)
                crops.append(crop.tobytes())
                landmarks.append(points.ravel())
                statuses.append(status)
                widths.append(width)
        finally:
            torch.set_num_threads(threads)
        return {"crop": crops, "landmarks": landmarks, "status": statuses, "face_width": widths}

    def crop(self, value) -> tuple[np.ndarray, np.ndarray, str, float]:
        """One image's crop, landmarks (NaN when unknown), status ("ok" or why it has no crop) and the face's width
        in the image's own pixels (the whole image's in crops mode)."""
        from PIL import Image

        size = self.config.face_crop_size
        crop, points, status = np.zeros((size, size, 3), np.uint8), np.full((5, 2), np.nan, np.float32), "ok"
        width = float("nan")
        try:
            image = read_image_value(value)
            if self.faces == "crops":
                crop = np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)
                width = float(image.width)
            else:
                found = self.detector.detect(image)
                if found:
                    crop = np.asarray(found[0].crop_image())
                    points = crop_landmarks(found[0], image.size, size, self.config.face_margin)
                    width = float(found[0].box[2] - found[0].box[0])
                else:
                    status = "no face detected"
        except ImageLoadError as error:
            status = str(error)
        except Exception as error:  # noqa: BLE001 - one image must not stop the whole job; it is listed
            status = f"could not crop ({type(error).__name__}: {error})"
        return crop, points, status, width


def source_fingerprint(table: datasets.Dataset, image_column: str = "image") -> str:
    """What the crops are cut from: for image files, a digest of each file's bytes in row order (so the same data
    copied, re-provisioned or reached by another path hits the cache, and an edited file misses it); otherwise the
    dataset's own fingerprint (a Hub revision, or in-memory bytes)."""
    column = table.data.column(image_column)
    if table._indices is not None:  # a selection or shuffle of the rows: key on the rows taken, in their order
        column = column.take(table._indices.column(0))
    column = column.combine_chunks()
    if pa.types.is_struct(column.type):
        if column.field("bytes").null_count < len(column):
            return table._fingerprint
        column = column.field("path")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return table._fingerprint
    digest = hashlib.sha256()
    for path in column.to_pylist():
        try:
            with open(path, "rb") as file:
                digest.update(hashlib.file_digest(file, "blake2b").digest())
        except (OSError, TypeError):
            return table._fingerprint
    return digest.hexdigest()


def training_detection_size(config: DeepfakeDetectorConfig) -> int:
    """MTCNN's smallest face for training crops: the config's own, else the original 20. Training learns from every
    face it is given; the judged-size rule (`min_judged_face`) is for verdicts, not for the crops a model learns from."""
    return DeepfakeDetectorConfig.detection_size(config.min_face_size, None)


def cache_key(table: datasets.Dataset, config: DeepfakeDetectorConfig, faces: str, image_column: str = "image") -> str:
    """A name for the cached crops: where the images come from and every setting that changes a crop."""
    settings = {
        "source": source_fingerprint(table, image_column),
        "faces": faces,
        "crop_size": config.face_crop_size,
        "margin": config.face_margin,
        "min_face_size": training_detection_size(config),
        "thresholds": list(config.detection_thresholds),
        "max_side": config.detection_max_side,
        "version": 5,  # 4: MTCNN runs channels-last (boxes move by ~1e-3 px); 5: each crop's face width kept
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def prepare_face_crops(
    table: datasets.Dataset,
    labels: dict[Any, str],
    config: DeepfakeDetectorConfig,
    faces: str = "detect",
    image_column: str = "image",
    label_column: str = "label",
    group_column: str | None = None,
    pairs: dict[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    progress: bool = True,
) -> FaceCrops:
    """Detect and crop every image of `table` once (cached), and gather labels and pairing groups.

    `table`'s image column must be undecoded (paths or bytes). Groups come from `group_column` (e.g. `source_video`)
    or from `pairs` (`{file: source_video}`, matched on the path's tail). Images without a face, unreadable ones and
    unlabelled ones are left out and listed in `FaceCrops.skipped`.
    """
    if faces not in FACE_MODES:
        raise ValueError(f"faces must be one of {FACE_MODES}, got {faces!r}.")
    cropped = _cached_crops(table, config, faces, image_column, cache_dir, num_proc)
    paths = [image_path(value) for value in table[image_column]]
    label_names = [labels.get(value) for value in table[label_column]]
    if group_column:
        group_names = table[group_column]
    elif pairs:
        group_names = [group_of(path, pairs) for path in paths]
    else:
        group_names = [None] * len(table)
    keep, skipped = [], []
    for index, (status, label) in enumerate(zip(cropped["status"], label_names)):
        if status != "ok":
            skipped.append((paths[index], status))
        elif label is None:
            skipped.append((paths[index], "no label"))
        else:
            keep.append(index)
    group_ids = {name: number for number, name in enumerate(sorted({g for g in group_names if g is not None}))}
    kept = cropped.select(keep)
    size = config.face_crop_size
    pixels = np.empty((len(keep), size, size, 3), np.uint8)
    for index, crop in enumerate(kept["crop"]):
        pixels[index] = np.frombuffer(crop, np.uint8).reshape(size, size, 3)
    return FaceCrops(
        pixels=pixels,
        labels=np.array([LABELS.index(label_names[i]) for i in keep], dtype=np.int64),
        groups=np.array([group_ids.get(group_names[i], NO_GROUP) for i in keep], dtype=np.int64),
        landmarks=np.array(kept["landmarks"], np.float32).reshape(len(keep), 5, 2),
        paths=[paths[i] for i in keep],
        skipped=skipped,
        face_widths=np.array(kept["face_width"], np.float32),
    )


def _cached_crops(table: datasets.Dataset, config: DeepfakeDetectorConfig, faces: str, image_column: str,
                  cache_dir: str | os.PathLike | None, num_proc: int | None) -> datasets.Dataset:
    """One row per image (`crop` bytes, `landmarks`, `status`), computed in parallel once and then read from disk."""
    cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR) / "crops"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / f"{cache_key(table, config, faces, image_column)}.arrow"
    features = datasets.Features(
        {
            "crop": datasets.Value("binary"),
            "landmarks": datasets.List(datasets.Value("float32"), length=10),
            "status": datasets.Value("string"),
            "face_width": datasets.Value("float32"),
        }
    )
    num_proc = num_proc if num_proc is not None else min(os.cpu_count() or 1, 8)
    return table.map(
        _CropMaker(config, faces, image_column),
        batched=True,
        batch_size=32,
        features=features,
        remove_columns=table.column_names,
        cache_file_name=str(cache_file),
        num_proc=num_proc if len(table) >= 256 and num_proc > 1 else None,
        desc=f"Face crops ({faces})",
    )
