"""Poisson-sampled batches, as the privacy accountant assumes (Opacus' ``DPDataLoader``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.dataloader import default_collate

from ..privacy.sampling import poisson_batches


class PoissonBatchSampler(Sampler[list[int]]):
    """``steps`` batches a pass, each holding every index independently with probability
    ``sample_rate`` (so a batch can be empty: it still is a step)."""

    def __init__(self, num_samples: int, sample_rate: float, steps: int,
                 generator: np.random.Generator) -> None:
        self.num_samples, self.sample_rate, self.steps = num_samples, sample_rate, steps
        self.generator = generator

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        for idx in poisson_batches(self.num_samples, self.sample_rate, steps=self.steps,
                                   seed=self.generator):
            yield idx.tolist()


def _empty_batch_collate(collate: Any, example: Any) -> Any:
    """An empty batch becomes zero-length tensors shaped like the data set's items."""
    def collate_or_empty(batch: list[Any]) -> Any:
        if batch:
            return collate(batch)
        items = example if isinstance(example, (tuple, list)) else (example,)
        empty = [torch.zeros((0, *torch.as_tensor(x).shape), dtype=torch.as_tensor(x).dtype)
                 for x in items]
        return type(example)(empty) if isinstance(example, (tuple, list)) else empty[0]
    return collate_or_empty


class DPDataLoader(DataLoader):
    """A ``DataLoader`` over ``dataset`` drawing Poisson batches at ``sample_rate``,
    ``steps`` of them per pass (Opacus: rate 1 / len(original loader), as many steps)."""

    def __init__(self, dataset: Dataset, *, sample_rate: float, steps: int,
                 collate_fn: Any = None, seed: int | np.random.Generator | None = None,
                 **kwargs: Any) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("the data set is empty")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        sampler = PoissonBatchSampler(n, sample_rate, steps, rng)
        collate = _empty_batch_collate(collate_fn or default_collate, dataset[0])
        super().__init__(dataset, batch_sampler=sampler, collate_fn=collate, **kwargs)
        self.sample_rate = sample_rate

    @classmethod
    def from_data_loader(cls, data_loader: DataLoader, *,
                         seed: int | np.random.Generator | None = None) -> DPDataLoader:
        """Opacus' rule: sample rate 1 / len(data_loader), len(data_loader) steps a pass."""
        steps = len(data_loader)
        if steps == 0:
            raise ValueError("the data loader yields no batches")
        return cls(data_loader.dataset, sample_rate=1 / steps, steps=steps,
                   collate_fn=data_loader.collate_fn, seed=seed,
                   num_workers=data_loader.num_workers, pin_memory=data_loader.pin_memory)
