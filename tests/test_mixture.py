"""Training mixtures: the file format, per-source validation cuts, source weights and the balanced pair sampler."""

import json
from collections import Counter

import numpy as np
import pytest

from deepfake_detection.training.crops import FAKE, NO_GROUP, REAL, FaceCrops
from deepfake_detection.training.mixture import (
    MixtureEntry,
    MixtureSampler,
    SourcedCrops,
    read_mixture,
    source_weights,
    validation_cut,
)


def sourced(layout: dict[str, tuple[int, int]], entry_of: dict[str, int] | None = None) -> SourcedCrops:
    """Tiny crops: per source name, `(reals, fakes)`; no pairing groups."""
    labels, source_ids = [], []
    for index, (reals, fakes) in enumerate(layout.values()):
        labels += [REAL] * reals + [FAKE] * fakes
        source_ids += [index] * (reals + fakes)
    count = len(labels)
    crops = FaceCrops(np.zeros((count, 4, 4, 3), np.uint8), np.array(labels), np.full(count, NO_GROUP),
                      np.zeros((count, 5, 2), np.float32), [f"{i}.png" for i in range(count)])
    names = list(layout)
    entry_ids = np.array([(entry_of or {}).get(names[s], 0) for s in source_ids])
    entries = sorted({*(entry_of or {}).values(), 0})
    return SourcedCrops(crops, np.array(source_ids), np.zeros(count, np.int64), entry_ids, names, ["all"],
                        [f"entry{e}" for e in entries])


def test_pairs_are_drawn_by_source_weight_and_are_half_real_half_fake():
    crops = sourced({"big": (2000, 2000), "gan": (0, 30), "photos": (40, 0)})
    weights = np.array([0.5, 0.25, 0.25])
    sampler = MixtureSampler(crops, weights, pairs_per_epoch=8000, seed=3)
    pairs = sampler.pairs()
    size = len(crops.crops)
    labels = crops.crops.labels
    reals = [real for real, _ in pairs]
    fakes = [fake for _, fake in pairs]
    assert all(labels[i] == REAL for i in reals)
    assert all(i >= size or labels[i] == FAKE for i in fakes)  # a fake, or a real self-blended (index + size)
    fake_source = Counter(int(crops.source_ids[i % size]) for i in fakes)
    shares = np.array([fake_source[s] for s in range(3)]) / len(pairs)
    np.testing.assert_allclose(shares, weights, atol=0.02)  # 300 GAN faces are a quarter, not 1% of the draws
    photos = [fake for fake in fakes if crops.source_ids[fake % size] == 2]
    assert photos and all(fake >= size for fake in photos)  # a source of reals only gives self-blended fakes
    gan_partners = {int(crops.source_ids[real]) for real, fake in pairs if crops.source_ids[fake % size] == 1}
    assert gan_partners == {0, 2}  # a fakes-only source borrows reals from the sources that have them


def test_the_same_seed_and_epoch_give_the_same_pairs_and_another_epoch_new_ones():
    crops = sourced({"a": (50, 50), "b": (0, 20)})
    first = MixtureSampler(crops, np.array([1.0, 1.0]), 100, seed=1)
    second = MixtureSampler(crops, np.array([1.0, 1.0]), 100, seed=1)
    assert first.pairs() == second.pairs()
    second.set_epoch(1)
    assert first.pairs() != second.pairs()


def test_a_mixture_without_reals_is_refused():
    with pytest.raises(ValueError, match="no real faces"):
        MixtureSampler(sourced({"gan": (0, 10)}), np.array([1.0]), 10)


def test_source_weights_share_the_entry_weight_by_the_square_root_of_size():
    crops = sourced({"dfdc": (800, 800), "small": (0, 100), "smaller": (25, 0)}, {"dfdc": 0, "small": 1, "smaller": 1})
    weights = source_weights(crops, {"entry0": 1.0, "entry1": 1.0})
    assert weights[0] == pytest.approx(0.5)
    assert weights[1] / weights[2] == pytest.approx(np.sqrt(100) / np.sqrt(25))


def test_validation_cut_keeps_each_source_and_label_a_part_by_group():
    sources = ["a"] * 40 + ["b"] * 10
    labels = np.array([REAL, FAKE] * 20 + [FAKE] * 10)
    groups = [f"person{i // 4}" for i in range(40)] + [""] * 10  # a: identities of 4 files; b: none known
    held = validation_cut(sources, labels, groups, 0.2)
    for source, label in (("a", REAL), ("a", FAKE), ("b", FAKE)):
        members = [i for i in range(50) if sources[i] == source and labels[i] == label]
        assert 0 < held[members].sum() < len(members)
    for person in {g for g in groups if g}:
        members = [i for i in range(40) if groups[i] == person]
        assert len({bool(held[i]) for i in members}) == 1  # an identity is never split across the two parts
    assert np.array_equal(held, validation_cut(sources, labels, groups, 0.2))  # seeded: the same files every run


def test_a_source_with_no_possible_validation_part_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="cannot keep a validation part: merge it into another source"):
        validation_cut(["a"] * 5, np.full(5, REAL), ["one-person"] * 5, 0.2)


def test_held_out_sources_go_entirely_to_validation():
    sources = ["a"] * 10 + ["b"] * 10
    held = validation_cut(sources, np.array([REAL, FAKE] * 10), [""] * 20, 0.2, held_out={"b"})
    assert held[10:].all() and 0 < held[:10].sum() < 10


def test_mixture_files_resolve_paths_beside_them_and_name_unknown_fields(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "mix.json").write_text(json.dumps([{"dataset": "data", "weight": 2.0, "eval_split": None}]))
    [entry] = read_mixture(tmp_path / "mix.json")
    assert entry.dataset == str(tmp_path / "data") and entry.weight == 2.0 and entry.name == "data"
    (tmp_path / "bad.json").write_text(json.dumps([{"dataset": "data", "wieght": 2.0}]))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['wieght'\]"):
        read_mixture(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="weight must be a positive number"):
        MixtureEntry("data", weight=0)
