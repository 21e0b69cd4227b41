"""Training on several datasets at once: a mixture file, per-source validation parts, and a balanced sampler.

A mixture is a list of entries, each a dataset (any that `evaluate` accepts) with a sampling weight. Within an entry,
images may come from several *sources* (named by a metadata column) and belong to a *family* (the kind of fake:
GAN, diffusion, face swap). Every source keeps its own validation part, so training can report how it does on each,
and batches are drawn so that no source, however large, drowns the others.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath

import numpy as np
import torch

from .crops import FAKE, NO_GROUP, REAL, FaceCrops

VALIDATION_SEED = 0
"""The seed of every validation cut: the same files are held out on every run."""


@dataclass
class MixtureEntry:
    """One dataset of a mixture and how to read it.

    `eval_split` None cuts `validation_fraction` of `train_split` off as the validation part, per source and label, by
    `group_column` (identity or video) where it is set, by file otherwise. `source_column` and `family_column` name
    columns of `metadata` (a CSV with a `file` column; default `metadata.csv` inside a local dataset folder); a source
    value `owner/repo:path` counts as its repo. Without them the whole entry is one source of one family, its `name`.
    `held_out` names sources (`owner/repo`) that are never trained on: all their faces are validation faces, scored
    on their own and kept out of the selection rule (a leave-one-source-out test).
    """

    dataset: str
    weight: float = 1.0
    name: str | None = None
    train_split: str = "train"
    eval_split: str | None = "validation"
    validation_fraction: float = 0.2
    metadata: str | None = None
    source_column: str | None = None
    family_column: str | None = None
    group_column: str | None = None
    paired: bool = True
    held_out: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.name = self.name or Path(str(self.dataset).rstrip("/")).name or str(self.dataset)
        if not (isinstance(self.weight, (int, float)) and self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"Mixture entry {self.name!r}: weight must be a positive number, got {self.weight!r}.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"Mixture entry {self.name!r}: validation_fraction must be between 0 and 1, got "
                             f"{self.validation_fraction!r}.")
        if self.metadata is None and (Path(self.dataset) / "metadata.csv").is_file():
            self.metadata = str(Path(self.dataset) / "metadata.csv")


def read_mixture(path: str | os.PathLike) -> list[MixtureEntry]:
    """The entries of a mixture file: a JSON list of objects with `MixtureEntry`'s fields (`dataset` required).

    Relative dataset and metadata paths are read from the file's own folder, so a mixture file travels with its data.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--mixture {path}: not a readable JSON file ({error}).") from error
    if not isinstance(raw, list) or not raw or not all(isinstance(item, dict) and "dataset" in item for item in raw):
        raise ValueError(f"--mixture {path}: expected a JSON list of objects, each with a \"dataset\".")
    known = set(MixtureEntry.__dataclass_fields__)
    entries = []
    for item in raw:
        unknown = sorted(set(item) - known)
        if unknown:
            raise ValueError(f"--mixture {path}: unknown field(s) {unknown}; the fields are {sorted(known)}.")
        for key in ("dataset", "metadata"):
            if item.get(key) and not Path(item[key]).is_absolute() and (path.parent / item[key]).exists():
                item = {**item, key: str(path.parent / item[key])}
        entries.append(MixtureEntry(**item))
    return entries


def read_metadata(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """`{file: row}` from a metadata CSV with a `file` column (paths relative to the dataset folder)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if "file" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: a metadata CSV needs a file column; its columns are {reader.fieldnames}.")
        return {PurePath(row["file"]).as_posix(): row for row in reader}


def metadata_row(path: str, metadata: dict[str, dict[str, str]]) -> dict[str, str]:
    """The metadata row whose `file` is the longest tail of `path` (empty when none matches)."""
    parts = PurePath(path).parts
    for start in range(len(parts)):
        row = metadata.get(PurePath(*parts[start:]).as_posix())
        if row is not None:
            return row
    return {}


@dataclass
class SourcedCrops:
    """Face crops with, per crop, the index of its source and of its family in `sources` / `families`."""

    crops: FaceCrops
    source_ids: np.ndarray
    family_ids: np.ndarray
    entry_ids: np.ndarray
    sources: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    held_out: set[str] = field(default_factory=set)

    def subset(self, indices: np.ndarray) -> "SourcedCrops":
        """The crops at `indices` with their source, family and entry."""
        return SourcedCrops(self.crops.subset(indices), self.source_ids[indices], self.family_ids[indices],
                            self.entry_ids[indices], self.sources, self.families, self.entries, self.held_out)

    @property
    def held_out_mask(self) -> np.ndarray:
        """Which crops belong to a held-out source."""
        ids = [index for index, name in enumerate(self.sources) if name in self.held_out]
        return np.isin(self.source_ids, ids)


def label_crops(crops: FaceCrops, entry: MixtureEntry) -> tuple[list[str], list[str], list[str]]:
    """Each crop's source, family and identity/video group names (group "" when unknown) from the entry's metadata."""
    metadata = read_metadata(entry.metadata) if entry.metadata and (
        entry.source_column or entry.family_column or entry.group_column) else {}
    sources, families, groups = [], [], []
    for path in crops.paths:
        row = metadata_row(path, metadata) if metadata else {}
        source = row.get(entry.source_column, "") if entry.source_column else ""
        sources.append(f"{entry.name}/{source.split(':')[0]}" if source else entry.name)
        families.append(row.get(entry.family_column) or entry.name if entry.family_column else entry.name)
        groups.append(row.get(entry.group_column, "") if entry.group_column else "")
    return sources, families, groups


def validation_cut(sources: list[str], labels: np.ndarray, groups: list[str], fraction: float,
                   seed: int = VALIDATION_SEED, held_out: set[str] = frozenset()) -> np.ndarray:
    """A boolean mask of the crops held out for validation: `fraction` of each source's groups per label (at least
    one), where a group is an identity or video when known and a single file otherwise; every crop of a `held_out`
    source."""
    held = np.isin(np.array(sources, dtype=object), list(held_out)) if held_out else np.zeros(len(labels), bool)
    rng = np.random.default_rng(seed)
    for source in sorted(set(sources) - set(held_out)):
        in_source = [i for i, name in enumerate(sources) if name == source]
        chosen: set[str] = set()
        for label in (REAL, FAKE):
            members = [i for i in in_source if labels[i] == label]
            if not members:
                continue
            keyed = sorted({groups[i] or f"file:{i}" for i in members})
            if len(keyed) < 2:
                raise ValueError(
                    f"Source {source!r} has {len(members)} {('fake', 'real')[label]} image(s) in a single identity or "
                    "video, so it cannot keep a validation part: merge it into another source (source_column), give "
                    "it more data, or leave it out of the mixture.")
            chosen |= set(rng.permutation(keyed)[: max(1, round(fraction * len(keyed)))].tolist())
        # a group drawn for one label takes its faces of the other label along: a person is never on both sides
        held[[i for i in in_source if (groups[i] or f"file:{i}") in chosen]] = True
    return held


def source_weights(sourced: SourcedCrops, entry_weights: dict[str, float]) -> np.ndarray:
    """Each source's sampling weight: its entry's weight shared among the entry's sources in proportion to the square
    root of their sizes, so a small source is neither drowned nor repeated until it is learnt by heart."""
    weights = np.zeros(len(sourced.sources))
    for entry_id, entry in enumerate(sourced.entries):
        in_entry = [s for s in range(len(sourced.sources)) if np.any((sourced.source_ids == s)
                                                                        & (sourced.entry_ids == entry_id))]
        sizes = np.array([np.sqrt(np.sum(sourced.source_ids == s)) for s in in_entry])
        weights[in_entry] = entry_weights[entry] * sizes / sizes.sum()
    return weights / weights.sum()


class MixtureSampler(torch.utils.data.Sampler[int]):
    """Pairs `(real, fake)` drawn source by source, in proportion to `weights`, so every batch is half real, half fake.

    A pair's source gives its fake (a source of reals only gives one of its reals self-blended: index `i + size`),
    and its real is the fake's own original where pairing groups are known, else a real of the same source, else (a
    source of fakes only) a real drawn from the sources that have reals, by weight. `self_blend_fraction` of the pairs
    from sources with reals also show a self-blended real as the fake. The draws depend only on the seed and the
    epoch, so a resumed run sees the same order.
    """

    def __init__(self, sourced: SourcedCrops, weights: np.ndarray, pairs_per_epoch: int,
                 self_blend_fraction: float = 0.0, seed: int = 0):
        if not 0.0 <= self_blend_fraction <= 1.0:
            raise ValueError(f"self_blend_fraction must be between 0 and 1, got {self_blend_fraction}.")
        labels, groups = sourced.crops.labels, sourced.crops.groups
        self.size, self.seed, self.epoch = len(labels), seed, 0
        self.pairs_per_epoch, self.self_blend_fraction = pairs_per_epoch, self_blend_fraction
        count = len(sourced.sources)
        self.reals = [np.flatnonzero((sourced.source_ids == s) & (labels == REAL)) for s in range(count)]
        self.fakes = [np.flatnonzero((sourced.source_ids == s) & (labels == FAKE)) for s in range(count)]
        self.weights = np.asarray(weights, float) / np.sum(weights)
        real_mass = np.array([self.weights[s] if len(self.reals[s]) else 0.0 for s in range(count)])
        if real_mass.sum() == 0:
            raise ValueError("The mixture has no real faces: training needs real faces beside the fakes.")
        self.real_weights = real_mass / real_mass.sum()
        self.partners = {}
        for s in range(count):
            by_group: dict[int, list[int]] = {}
            for index in self.reals[s]:
                if groups[index] != NO_GROUP:
                    by_group.setdefault(int(groups[index]), []).append(int(index))
            for index in self.fakes[s]:
                self.partners[int(index)] = by_group.get(int(groups[index]), [])

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order `pairs` draws."""
        self.epoch = epoch

    def pairs(self) -> list[tuple[int, int]]:
        """This epoch's `(real, fake)` pairs."""
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        chosen = rng.choice(len(self.weights), size=self.pairs_per_epoch, p=self.weights)
        return [self._pair(int(source), rng) for source in chosen]

    def _pair(self, source: int, rng: np.random.Generator) -> tuple[int, int]:
        reals, fakes = self.reals[source], self.fakes[source]
        if len(reals) and (not len(fakes) or rng.random() < self.self_blend_fraction):
            real = int(rng.choice(reals))
            return real, real + self.size
        fake = int(rng.choice(fakes))
        partners = self.partners.get(fake) or (reals.tolist() if len(reals) else None)
        if partners:
            return int(rng.choice(partners)), fake
        other = int(rng.choice(len(self.real_weights), p=self.real_weights))
        return int(rng.choice(self.reals[other])), fake

    def __iter__(self) -> Iterator[int]:
        for real, fake in self.pairs():
            yield real
            yield fake

    def __len__(self) -> int:
        return 2 * self.pairs_per_epoch


def source_table(train_set: SourcedCrops, eval_set: SourcedCrops, weights: np.ndarray) -> list[dict]:
    """One row per source: its family, training and validation faces by label, share of draws, and whether it was
    held out; for the log, `mixture.json` and the model card."""
    rows = []
    for source_id, source in enumerate(train_set.sources):
        row = {"source": source, "held_out": source in train_set.held_out, "share_of_draws": float(weights[source_id])}
        for name, part in (("train", train_set), ("validation", eval_set)):
            members = part.source_ids == source_id
            families = sorted({part.families[f] for f in np.unique(part.family_ids[members])})
            row.setdefault("family", ", ".join(families))
            row[f"{name}_real"] = int(np.sum(members & (part.crops.labels == REAL)))
            row[f"{name}_fake"] = int(np.sum(members & (part.crops.labels == FAKE)))
        rows.append(row)
    return rows


def describe_mixture(entries: list[MixtureEntry]) -> list[dict]:
    """The mixture as plain values, for `best.json` and the model card."""
    return [asdict(entry) for entry in entries]
