"""Tensor-resident datasets: whole splits on the device, seeded shuffled batches, per-batch transforms.

A :class:`Dataset` holds its train / test / validation splits as tensors, moved once to the training device
at construction. Raw inputs stay in their compact form (e.g. ``uint8`` pixels) and an *input transform*
turns a batch of them into flat ``float32`` network inputs on the device: scaling to [0, 1], padding and
permuting pixels, random crops and flips. Class targets are stored as indices and one-hot encoded per batch.

Batches come from an infinite stream of shuffled indices per split, as in the original code: the order is
reshuffled after every full pass and a batch always has the requested size, so it may straddle the end of
an epoch. Each stream draws from its own generator seeded from the dataset's ``seed``, so batch order does
not depend on global random state or on how other splits are used.

Shapes: ``B`` batch size, ``D`` flattened input size (``prod(in_shape)``, images in HWC order), ``C`` number
of classes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SPLITS = ("train", "test", "val")


class Batch(NamedTuple):
    """One batch of a split."""

    #: ``[B, D]`` float32 network inputs (after the input transform).
    inputs: Tensor
    #: ``[B, C]`` float32 one-hot, ``[B]`` int64 class indices, or ``[B, d]`` regression targets.
    targets: Tensor
    #: ``[B]`` int64 row indices of the samples within their split.
    ids: Tensor


class InputTransform(Protocol):
    """Turns a batch of raw inputs ``[B, ...]`` into network inputs ``[B, D]`` on the same device."""

    def __call__(self, x: Tensor, *, augment: bool, generator: torch.Generator) -> Tensor: ...


def to_unit_range(x: Tensor, *, augment: bool = False, generator: torch.Generator | None = None) -> Tensor:
    """Flatten raw inputs to float32 ``[B, D]``; ``uint8`` pixels are divided by 255 as in the originals."""
    x = x.reshape(x.shape[0], -1)
    if x.dtype == torch.uint8:
        return x.float().div_(255)
    return x.float()


def derive_seed(seed: int, *keys: int) -> int:
    """Return a 32-bit seed for the random stream named by ``keys`` (task, split, ...) under ``seed``."""
    entropy = [seed % 2**64, *keys]  # SeedSequence wants non-negative integers; --random_seed may be -1
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class IndexStream:
    """Infinite stream of the indices ``0..n-1``, in a fresh random order on every pass.

    Args:
        n: Number of samples.
        seed: Seed of the stream's own generator.
        shuffle: If ``False``, every pass goes through ``0..n-1`` in order.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        if n <= 0:
            raise ValueError("cannot draw batches from an empty split")
        self.n = n
        self.shuffle = shuffle
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def take(self, k: int) -> Tensor:
        """Return the next ``k`` indices (``[k]`` int64, CPU), continuing into the next pass if needed."""
        parts = [torch.empty(0, dtype=torch.long)]
        while k > 0:
            if self._pos == len(self._order):  # pass complete (or first call): start a new shuffled pass
                if self.shuffle:
                    self._order = torch.randperm(self.n, generator=self._generator)
                else:
                    self._order = torch.arange(self.n)
                self._pos = 0
            m = min(k, self.n - self._pos)
            parts.append(self._order[self._pos : self._pos + m])
            self._pos += m
            k -= m
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Tensor]:
        """Everything that decides the next indices (for resuming a run exactly)."""
        return {"generator": self._generator.get_state(), "order": self._order.clone(),
                "pos": torch.tensor(self._pos)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Continue exactly where the stream that produced ``state`` was."""
        self._generator.set_state(state["generator"].cpu())
        self._order = state["order"].cpu().long()
        self._pos = int(state["pos"])


class Dataset:
    """Train / test / validation splits held as tensors on one device, with batching and transforms.

    Args:
        train: ``(inputs, targets)`` of the training split; inputs ``[N, ...]`` raw, targets ``[N]`` class
            indices (classification) or ``[N, d]`` values (regression). Tensors or numpy arrays.
        test: Same for the test split.
        val: Same for the validation split, or ``None`` for no validation set.
        name: Name shown in messages, e.g. ``"SplitMNIST"``.
        in_shape: Shape of one network input before flattening, e.g. ``(28, 28, 1)`` (HWC).
        num_classes: Width of one-hot targets (dummy padding classes included); ``None`` for regression.
        one_hot: Default target encoding of the batch methods (classification only).
        transform: Input transform, see :class:`InputTransform`; default :func:`to_unit_range`.
        classes: Original class ids of this task, e.g. ``(2, 3)`` for the second SplitMNIST task.
        seed: Seeds the batch streams and the augmentation generator.
        device: Device that holds every tensor.
    """

    def __init__(
        self,
        train: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor],
        val: tuple[Tensor, Tensor] | None = None,
        *,
        name: str,
        in_shape: Sequence[int],
        num_classes: int | None = None,
        one_hot: bool = True,
        transform: InputTransform | None = None,
        classes: Sequence[int] | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        self.name = name
        self.in_shape = tuple(int(s) for s in in_shape)
        self.num_classes = num_classes
        self.one_hot = one_hot
        self.classes = tuple(int(c) for c in classes) if classes is not None else None
        self.seed = seed
        self.device = torch.device(device)
        self.transform: InputTransform = transform if transform is not None else to_unit_range
        self._splits = {"train": self._place(train), "test": self._place(test)}
        if val is not None:
            self._splits["val"] = self._place(val)
        self.reset_batch_streams()

    def _place(self, split: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        x, y = (torch.as_tensor(a) for a in split)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{self.name}: {x.shape[0]} inputs but {y.shape[0]} targets")
        y = y.long() if self.num_classes is not None else y.float()
        # .to is a no-op for tensors already on the device, so tasks built from one tensor share its storage.
        return x.to(self.device), y.to(self.device)

    # ---------------------------------------------------------------- sizes
    @property
    def num_train(self) -> int:
        """Number of training samples."""
        return self.num_samples("train")

    @property
    def num_test(self) -> int:
        """Number of test samples."""
        return self.num_samples("test")

    @property
    def num_val(self) -> int:
        """Number of validation samples (0 if there is no validation set)."""
        return self.num_samples("val")

    @property
    def in_dim(self) -> int:
        """Size ``D`` of one flattened network input."""
        return math.prod(self.in_shape)

    @property
    def out_dim(self) -> int:
        """Width of the network output: ``num_classes`` for classification, else the target size."""
        if self.num_classes is not None:
            return self.num_classes
        y = self._splits["train"][1]
        return math.prod(y.shape[1:])

    @property
    def is_classification(self) -> bool:
        """Whether targets are class indices."""
        return self.num_classes is not None

    def num_samples(self, split: str) -> int:
        """Number of samples in ``split`` (``"train"``, ``"test"`` or ``"val"``)."""
        self._check_split_name(split)
        return self._splits[split][0].shape[0] if split in self._splits else 0

    # ---------------------------------------------------------------- batches
    def reset_batch_streams(self) -> None:
        """Restart every split's batch stream and the augmentation generator from ``seed``."""
        self._streams: dict[str, IndexStream] = {}
        self._aug_generator = torch.Generator().manual_seed(derive_seed(self.seed, len(SPLITS)))

    def next_batch(
        self, split: str, batch_size: int, *, augment: bool | None = None, one_hot: bool | None = None
    ) -> Batch:
        """Return the next random batch of ``split``; augmentation defaults to on for ``"train"`` only.

        Args:
            augment: Apply the transform's random augmentation (e.g. CIFAR crops and flips).
            one_hot: Target encoding; ``None`` uses the dataset's default.
        """
        if split not in self._streams:
            n = self.num_samples(split)
            if n == 0:
                raise ValueError(f"{self.name} has no {split} samples")
            self._streams[split] = IndexStream(n, derive_seed(self.seed, SPLITS.index(split)))
        ids = self._streams[split].take(batch_size).to(self.device)
        augment = split == "train" if augment is None else augment
        return self._batch(split, ids, augment, one_hot)

    def next_train_batch(self, batch_size: int, *, augment: bool | None = None, one_hot: bool | None = None) -> Batch:
        """Next random training batch (augmented); see :meth:`next_batch`."""
        return self.next_batch("train", batch_size, augment=augment, one_hot=one_hot)

    def next_test_batch(self, batch_size: int, *, augment: bool | None = None, one_hot: bool | None = None) -> Batch:
        """Next random test batch; see :meth:`next_batch`."""
        return self.next_batch("test", batch_size, augment=augment, one_hot=one_hot)

    def next_val_batch(self, batch_size: int, *, augment: bool | None = None, one_hot: bool | None = None) -> Batch:
        """Next random validation batch; see :meth:`next_batch`."""
        return self.next_batch("val", batch_size, augment=augment, one_hot=one_hot)

    def iterate(self, split: str, batch_size: int, *, one_hot: bool | None = None) -> Iterator[Batch]:
        """Go once through ``split`` in order, without augmentation; the last batch may be smaller."""
        n = self.num_samples(split)
        for start in range(0, n, batch_size):
            ids = torch.arange(start, min(start + batch_size, n), device=self.device)
            yield self._batch(split, ids, False, one_hot)

    def _batch(self, split: str, ids: Tensor, augment: bool, one_hot: bool | None) -> Batch:
        x, y = self._splits[split]
        inputs = self.transform(x[ids], augment=augment, generator=self._aug_generator)
        return Batch(inputs, self.encode_targets(y[ids], one_hot), ids)

    def drop_train_samples(self, ids: Tensor) -> None:
        """Remove the training rows ``ids`` (e.g. samples moved to a coreset) and restart the training stream."""
        x, y = self._splits["train"]
        keep = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        keep[ids.to(x.device)] = False
        self._splits["train"] = (x[keep], y[keep])
        self._streams.pop("train", None)

    # ---------------------------------------------------------------- whole splits
    def inputs(self, split: str, ids: Tensor | None = None, *, augment: bool = False) -> Tensor:
        """Network inputs ``[N, D]`` float32 of all samples of ``split``, or of the rows ``ids`` only.

        Args:
            augment: Apply the transform's random augmentation (off: evaluation inputs).
        """
        x = self.raw(split)[0]
        x = x if ids is None else x[ids]
        return self.transform(x, augment=augment, generator=self._aug_generator)

    def targets(self, split: str, ids: Tensor | None = None, *, one_hot: bool | None = None) -> Tensor:
        """Targets of ``split`` or of its rows ``ids``: ``[N, C]`` one-hot, ``[N]`` indices or ``[N, d]``."""
        y = self.raw(split)[1]
        return self.encode_targets(y if ids is None else y[ids], one_hot)

    def raw(self, split: str) -> tuple[Tensor, Tensor]:
        """The stored, untransformed ``(inputs, targets)`` of ``split`` (empty if the split is absent)."""
        self._check_split_name(split)
        if split not in self._splits:
            x, y = self._splits["train"]
            return x[:0], y[:0]
        return self._splits[split]

    def encode_targets(self, y: Tensor, one_hot: bool | None = None) -> Tensor:
        """Encode stored targets: class indices ``[B]`` to one-hot ``[B, C]`` if requested."""
        one_hot = self.one_hot if one_hot is None else one_hot
        if self.num_classes is None or not one_hot:
            return y
        return F.one_hot(y, self.num_classes).float()

    def tensors(self) -> list[Tensor]:
        """Every tensor this dataset holds (for memory accounting)."""
        held = [t for split in self._splits.values() for t in split]
        held += [t for t in getattr(self.transform, "__dict__", {}).values() if isinstance(t, Tensor)]
        return held

    def _check_split_name(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}: {self.num_train} train, {self.num_test} test, "
            f"{self.num_val} val samples, in_shape={self.in_shape}, num_classes={self.num_classes})"
        )


def held_bytes(datasets: Iterable[Dataset]) -> int:
    """Bytes of tensor storage held by ``datasets``, counting storage shared between them once."""
    seen: dict[tuple[str, int], int] = {}
    for ds in datasets:
        for t in ds.tensors():
            storage = t.untyped_storage()
            seen[(str(t.device), storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())
