"""Stroke-MNIST (Edwin de Jong's MNIST pen-stroke sequences) and the Split SMNIST tasks (spec §1.3, §7).

Raw layout: ``<data root>/stroke_mnist/sequences.tar.gz`` (or the extracted ``sequences/`` folder beside it)
holding ``{train,test}img-<i>-inputdata.txt`` (one ``dx dy eos eod`` row per pen step; the first row is the
absolute start point) and ``{train,test}img-<i>-targetdata.txt`` (the first 10 integers are the one-hot label).
The files are parsed once into a cached ``.npz`` (:func:`data.cache.load_or_build`); the number of images
and the padded length are read from the data, never hard-coded (60,000 / 10,000 and 117 for the real set).

Arrays: ``x_<split>`` ``[N, L_max, 4]`` int16 (zero-padded after the last row), ``len_<split>`` ``[N]``,
``y_<split>`` ``[N]`` digit labels.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import torch

from data.cache import load_or_build
from data.errors import DatasetError
from data.paths import data_root
from data.timeseries.sequence_task import SeqSplit, SequenceTask

_NAME = re.compile(r"(?:^|/)(train|test)img-(\d+)-(inputdata|targetdata)\.txt$")


def stroke_mnist_source(data_dir: str | None = None) -> Path:
    """The raw Stroke-MNIST source: ``stroke_mnist/sequences.tar.gz`` or an extracted ``sequences/`` folder."""
    root = data_root(data_dir) / "stroke_mnist"
    for candidate in (root / "sequences.tar.gz", root / "sequences"):
        if candidate.exists():
            return candidate
    raise DatasetError(
        f"Stroke-MNIST not found: expected {root / 'sequences.tar.gz'} (de Jong's sequences.tar.gz) or an "
        f"extracted {root / 'sequences'}/ folder; set $HYPERCL_DATA_DIR to the folder holding stroke_mnist/"
    )


def _iter_files(source: Path):
    """Yield ``(split, index, kind, text)`` for every input/target file of the source."""
    if source.is_dir():
        for path in sorted(source.iterdir()):
            m = _NAME.search(path.name)
            if m:
                yield m.group(1), int(m.group(2)), m.group(3), path.read_bytes()
        return
    with tarfile.open(source, "r:gz") as tar:
        for member in tar:
            m = _NAME.search(member.name)
            if m and member.isfile():
                yield m.group(1), int(m.group(2)), m.group(3), tar.extractfile(member).read()


def parse_stroke_mnist(source: Path) -> dict[str, np.ndarray]:
    """Parse all sequences of ``source`` into padded arrays (see the module docstring)."""
    seqs: dict[str, dict[int, np.ndarray]] = {"train": {}, "test": {}}
    labels: dict[str, dict[int, int]] = {"train": {}, "test": {}}
    for split, idx, kind, text in _iter_files(source):
        values = np.array(text.split(), dtype=np.int64)
        if kind == "inputdata":
            seqs[split][idx] = values.reshape(-1, 4)
        else:
            labels[split][idx] = int(np.argmax(values[:10]))
    arrays = {}
    for split in ("train", "test"):
        ids = sorted(seqs[split])
        if not ids or ids != list(range(len(ids))) or sorted(labels[split]) != ids:
            raise DatasetError(f"{source}: {split} sequences are missing or incomplete "
                               f"({len(ids)} input files, {len(labels[split])} target files)")
        lens = np.array([len(seqs[split][i]) for i in ids], dtype=np.int64)
        x = np.zeros((len(ids), lens.max(), 4), dtype=np.int16)
        for i in ids:
            x[i, : lens[i]] = seqs[split][i]
        arrays[f"x_{split}"], arrays[f"len_{split}"] = x, lens
        arrays[f"y_{split}"] = np.array([labels[split][i] for i in ids], dtype=np.int64)
    # Both splits padded to one common length (the longest sequence of the whole set).
    L = max(arrays["x_train"].shape[1], arrays["x_test"].shape[1])
    for split in ("train", "test"):
        x = arrays[f"x_{split}"]
        arrays[f"x_{split}"] = np.concatenate([x, np.zeros((x.shape[0], L - x.shape[1], 4), np.int16)], 1)
    return arrays


def load_stroke_mnist(data_dir: str | None = None) -> dict[str, np.ndarray]:
    """The parsed Stroke-MNIST arrays (from the cache after the first call)."""
    source = stroke_mnist_source(data_dir)
    raw = [source] if source.is_file() else [source]
    return load_or_build("stroke_mnist", raw, lambda: parse_stroke_mnist(source))


def _split(x: np.ndarray, lens: np.ndarray, y: np.ndarray) -> SeqSplit:
    return SeqSplit(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)),
                    torch.from_numpy(lens.astype(np.int64)))


def split_smnist_tasks(arrays: dict[str, np.ndarray], num_tasks: int = 5, num_classes_per_task: int = 2,
                       val_set_size: int = 100, seed: int = 42, device: torch.device | str = "cpu"
                       ) -> list[SequenceTask]:
    """Split SMNIST: task t holds digits ``t*c .. t*c + c - 1`` relabelled to ``0 .. c-1``.

    The validation set is the first ``val_set_size`` training samples of the task (not random), as in the
    original; the test set comes from the test part.
    """
    tasks = []
    for t in range(num_tasks):
        digits = np.arange(t * num_classes_per_task, (t + 1) * num_classes_per_task)
        splits = {}
        for split in ("train", "test"):
            keep = np.isin(arrays[f"y_{split}"], digits)
            x, lens, y = arrays[f"x_{split}"][keep], arrays[f"len_{split}"][keep], arrays[f"y_{split}"][keep]
            y = y - digits[0]
            if split == "train":
                splits["val"] = _split(x[:val_set_size], lens[:val_set_size], y[:val_set_size])
                x, lens, y = x[val_set_size:], lens[val_set_size:], y[val_set_size:]
            splits[split] = _split(x, lens, y)
        tasks.append(SequenceTask(splits, name=f"SplitSMNIST-{t}", out_dim=num_classes_per_task,
                                  seed=seed + t, device=device))
    return tasks


def write_stroke_mnist_tar(path: Path, sequences: dict[str, list[np.ndarray]], labels: dict[str, list[int]]
                           ) -> None:
    """Write sequences in de Jong's ``sequences.tar.gz`` layout (for tests and tiny stand-in datasets).

    Args:
        sequences: ``{"train": [array [L_i, 4]], "test": [...]}`` pen steps ``dx dy eos eod``.
        labels: ``{"train": [digit], "test": [...]}``.
    """
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for i, (seq, label) in enumerate(zip(sequences[split], labels[split])):
                onehot = np.eye(10, dtype=np.int64)[label]
                files = {
                    "inputdata": "\n".join(" ".join(str(int(v)) for v in row) for row in seq) + "\n",
                    "targetdata": "\n".join(" ".join(str(int(v)) for v in np.concatenate([onehot, row]))
                                            for row in seq) + "\n",
                }
                for kind, text in files.items():
                    data = text.encode()
                    info = tarfile.TarInfo(f"sequences/{split}img-{i}-{kind}.txt")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def random_stroke_sequences(n: int, rng: np.random.RandomState, min_len: int = 5, max_len: int = 30
                            ) -> tuple[list[np.ndarray], list[int]]:
    """Random pen walks with the right flags (one eod at the last row) and balanced digit labels."""
    seqs = []
    for _ in range(n):
        L = int(rng.randint(min_len, max_len + 1))
        seq = np.zeros((L, 4), dtype=np.int64)
        seq[:, :2] = rng.randint(-1, 2, size=(L, 2))
        seq[0, :2] = rng.randint(0, 28, size=2)
        seq[:, 2] = rng.rand(L) < 0.1
        seq[-1, 2:] = 1
        seqs.append(seq)
    return seqs, [i % 10 for i in range(n)]
