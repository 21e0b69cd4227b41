"""A mixture's validation parts as suite rows: one per two-class dataset, fake family, held-out source and real source."""

import numpy as np

from deepfake_detection.training.crops import FAKE, NO_GROUP, REAL, FaceCrops
from deepfake_detection.training.mixture import SourcedCrops
from deepfake_detection.training.validation_suite import _table, validation_groups


def mixed() -> SourcedCrops:
    """Entry 0: one two-class source. Entry 1: a GAN source, a held-out diffusion source and two real sources."""
    rows = [("dfdc", "dfdc", REAL, 0)] * 3 + [("dfdc", "dfdc", FAKE, 0)] * 3 + [("gan-a", "gan", FAKE, 1)] * 4 \
        + [("sd", "diffusion", FAKE, 1)] * 2 + [("photos", "photo", REAL, 1)] * 5 + [("celebs", "photo", REAL, 1)] * 2
    sources = ["dfdc", "gan-a", "sd", "photos", "celebs"]
    families = ["dfdc", "gan", "diffusion", "photo"]
    count = len(rows)
    crops = FaceCrops(np.zeros((count, 4, 4, 3), np.uint8), np.array([row[2] for row in rows]),
                      np.full(count, NO_GROUP), np.zeros((count, 5, 2), np.float32), [f"{i}.png" for i in range(count)])
    return SourcedCrops(crops, np.array([sources.index(row[0]) for row in rows]),
                        np.array([families.index(row[1]) for row in rows]), np.array([row[3] for row in rows]),
                        sources, families, ["dfdc", "extra"], {"sd"})


def test_groups_follow_the_source_metrics_rules():
    sourced = mixed()
    groups = dict(validation_groups(sourced))
    labels = sourced.crops.labels
    assert list(groups) == ["dfdc", "extra gan fakes vs reals", "sd (held out) vs reals", "photos reals", "celebs reals"]
    assert groups["dfdc"].sum() == 6
    gan = groups["extra gan fakes vs reals"]
    assert gan.sum() == 4 + 7 and (labels[gan] == REAL).sum() == 7  # its dataset's reals, not DFDC's
    assert not gan[np.flatnonzero(sourced.source_ids == 2)].any()  # the held-out source is not in its family row
    assert groups["sd (held out) vs reals"].sum() == 2 + 7
    assert (labels[groups["photos reals"]] == REAL).all() and groups["photos reals"].sum() == 5


def test_a_group_becomes_a_labelled_image_table_of_its_files():
    sourced = mixed()
    name, mask = validation_groups(sourced)[1]
    table = _table(name, sourced, mask)
    assert table.info.dataset_name == name and len(table) == mask.sum()
    assert sorted(set(table["label"])) == ["fake", "real"]
    assert table[0]["image"]["path"] == sourced.crops.paths[np.flatnonzero(mask)[0]]
