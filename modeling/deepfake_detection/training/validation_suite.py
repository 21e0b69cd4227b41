"""A mixture's validation parts as an evaluation suite: the very files training held back, source by source, so
`evaluate --mixture FILE` measures them through face detection, as the pipeline runs.

The rows follow `source_metrics`: a dataset with both classes is one row; in a dataset of many sources, each fake
family (and each held-out source) is scored against the real validation faces of its own dataset, and each real
source is a row of its own (its share of real faces called fake).
"""

from __future__ import annotations

import datasets
import numpy as np

from ..configuration_deepfake_detector import DeepfakeDetectorConfig
from ..suite import SuiteEntry
from .crops import FAKE, REAL
from .mixture import MixtureEntry, SourcedCrops


def _table(name: str, sourced: SourcedCrops, chosen: np.ndarray) -> datasets.Dataset:
    indices = np.flatnonzero(chosen)
    table = datasets.Dataset.from_dict(
        {"image": [sourced.crops.paths[i] for i in indices],
         "label": ["fake" if sourced.crops.labels[i] == FAKE else "real" for i in indices]},
        info=datasets.DatasetInfo(dataset_name=name),
    )
    return table.cast_column("image", datasets.Image(decode=False))


def validation_groups(sourced: SourcedCrops) -> list[tuple[str, np.ndarray]]:
    """`(row name, mask of validation crops)` per entry, fake family, held-out source and real source."""
    labels, groups = sourced.crops.labels, []
    for entry_id, entry in enumerate(sourced.entries):
        members = sourced.entry_ids == entry_id
        reals = members & (labels == REAL)
        families = np.unique(sourced.family_ids[members])
        if len(families) == 1 and len(np.unique(sourced.source_ids[members])) == 1:
            groups.append((entry, members))
            continue
        trained = ~sourced.held_out_mask
        for family_id in families:
            fakes = members & trained & (labels == FAKE) & (sourced.family_ids == family_id)
            if fakes.any():
                groups.append((f"{entry} {sourced.families[family_id]} fakes vs reals", fakes | reals))
        for source_id in np.unique(sourced.source_ids[members]):
            source = sourced.sources[source_id]
            in_source = members & (sourced.source_ids == source_id)
            if source in sourced.held_out:
                groups.append((f"{source} (held out) vs reals", in_source | reals))
            elif (labels[in_source] == REAL).all():
                groups.append((f"{source} reals", in_source))
    return groups


def validation_suite(entries: list[MixtureEntry], config: DeepfakeDetectorConfig, degrade: str | None = None,
                     **options) -> list[SuiteEntry]:
    """Suite entries for every validation group of the mixture (crops cut, or read from the cache, with `config`)."""
    from .run import load_mixture_crops

    _, held = load_mixture_crops(entries, config, **options)
    return [SuiteEntry(_table(name, held, mask), name=name, split="validation", degrade=degrade)
            for name, mask in validation_groups(held)]
