"""Balanced, paired batches: each real face sits next to a fake made from it, so the model learns the swap itself.

The sampler yields indices two at a time, `(real, fake)`; with an even batch size every batch is half real, half
fake, and each fake's real original is in the same batch. Indices at or above `len(crops)` stand for a self-blended
copy of real `index - len(crops)` (an extra fake made on the fly; see `augmentation.self_blend`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import torch

from .crops import FAKE, NO_GROUP, REAL


class PairedSampler(torch.utils.data.Sampler[int]):
    """One epoch = every fake once, each right after a real of its group (its source video), in shuffled pair order.

    A fake without a known group is paired with a random real. With `self_blend_fraction` p, a random p of the
    reals (a new draw each epoch) also get a pair `(real, self-blended real)`. `set_epoch` makes the order of epoch e the same
    on every run with the same seed, which is what resuming from a checkpoint needs.
    """

    def __init__(self, labels: np.ndarray, groups: np.ndarray, self_blend_fraction: float = 0.0, seed: int = 0):
        if not 0.0 <= self_blend_fraction <= 1.0:
            raise ValueError(f"self_blend_fraction must be between 0 and 1, got {self_blend_fraction}.")
        self.size = len(labels)
        self.reals = np.flatnonzero(labels == REAL)
        self.fakes = np.flatnonzero(labels == FAKE)
        if len(self.reals) == 0 or (len(self.fakes) == 0 and self_blend_fraction == 0):
            raise ValueError(
                f"Paired training needs real faces and fake ones (or self-blending); got {len(self.reals)} real and "
                f"{len(self.fakes)} fake."
            )
        reals_by_group: dict[int, list[int]] = defaultdict(list)
        for index in self.reals:
            if groups[index] != NO_GROUP:
                reals_by_group[int(groups[index])].append(int(index))
        self.partners = [reals_by_group.get(int(groups[index]), []) for index in self.fakes]
        self.self_blend_fraction = self_blend_fraction
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order `pairs` draws: it depends only on the seed and the epoch, so a resumed run sees the
        same order."""
        self.epoch = epoch

    def expected_pairs(self) -> int:
        """Pairs an epoch holds: one per fake, plus one per self-blended real."""
        return len(self.fakes) + round(self.self_blend_fraction * len(self.reals))

    def pairs(self) -> list[tuple[int, int]]:
        """This epoch's `(real, fake)` pairs, shuffled."""
        rng = np.random.default_rng([self.seed, self.epoch])
        pairs = [
            (int(rng.choice(partners)) if partners else int(rng.choice(self.reals)), int(fake))
            for fake, partners in zip(self.fakes, self.partners)
        ]
        blended = rng.choice(self.reals, size=round(self.self_blend_fraction * len(self.reals)), replace=False)
        pairs += [(int(real), int(real) + self.size) for real in blended]
        return [pairs[i] for i in rng.permutation(len(pairs))]

    def __iter__(self) -> Iterator[int]:
        for real, fake in self.pairs():
            yield real
            yield fake

    def __len__(self) -> int:
        return 2 * self.expected_pairs()
