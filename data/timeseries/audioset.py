"""Split AudioSet (spec §1.5): 100 AudioSet classes of 10-second clips, split into 10 tasks of 10 classes.

Every clip is a sequence of ``T = 10`` one-second frames of the 128 uint8 values of the official AudioSet
embedding features; the label is read at the last step. The inputs are the raw 0..255 values as float32, not
normalised (as in the original).

Files, under ``<data root>/audioset/`` (the root: ``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``):

* ``audioset_data_balanced.pickle``: the original's preprocessed data set, a pickled list ``[x, y, train_ind,
  test_ind]`` with ``x`` uint8 ``[N, 10, 128]``, ``y`` ``[N]`` class ids ``0..99``, and the training and test
  positions. It is read by an unpickler that admits numpy arrays and plain containers only
  (:func:`utils.safe_pickle.load_plain_pickle`), once: the arrays are cached as ``.npz`` (:mod:`data.cache`).
* or ``audioset_data_balanced.npz``, the same arrays written by :mod:`data.timeseries.preprocess_audioset` from
  the official TFRecord feature files.

Tasks (:func:`split_audioset_tasks`): the 100 class ids are permuted with ``RandomState(data_random_seed)`` and
laid out as a 10x10 matrix; task ``t`` takes the first ``num_classes_per_task`` ids of row ``t``, relabelled
``0..K-1`` in that order. A task's training and test clips are those of its classes, in file order; its
validation set is a stratified random split of ``val_set_size`` training clips
(:func:`data.splits.stratified_holdout`, seeded with ``data_random_seed`` for every task), as the original
handler drew it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from data.cache import load_or_build
from data.errors import DatasetError
from data.paths import data_root
from data.splits import stratified_holdout
from data.timeseries.sequence_task import SeqSplit, SequenceTask
from utils.safe_pickle import load_plain_pickle

NUM_CLASSES = 100  # the preprocessed set always holds 100 classes; the 10x10 layout depends on it
NUM_STEPS, NUM_FEATURES = 10, 128
PICKLE_NAME = "audioset_data_balanced.pickle"
NPZ_NAME = "audioset_data_balanced.npz"
ARRAY_NAMES = ("x", "y", "train_ind", "test_ind")


def audioset_dir(data_dir: str | None = None) -> Path:
    """``<data root>/audioset``: where the data set and the preprocessing inputs live."""
    return data_root(data_dir) / "audioset"


def audioset_source(data_dir: str | None = None) -> Path:
    """The data set file: the original pickle if present, else the ``.npz`` written by the preprocessing."""
    folder = audioset_dir(data_dir)
    for name in (PICKLE_NAME, NPZ_NAME):
        if (folder / name).is_file():
            return folder / name
    raise DatasetError(
        f"Split AudioSet data not found: expected {folder / PICKLE_NAME} (the original's preprocessed pickle) or "
        f"{folder / NPZ_NAME}; build the latter from the official features.tar.gz with "
        "'python -m data.timeseries.preprocess_audioset' (see docs/experiments/audioset.rst)"
    )


def check_audioset_arrays(arrays: dict[str, np.ndarray], source: Path | str) -> dict[str, np.ndarray]:
    """Check shapes, dtypes and ranges of the data set arrays; returns them with int64 labels and positions.

    Raises:
        DatasetError: one line naming ``source`` and what is wrong.
    """
    x, y = arrays["x"], np.asarray(arrays["y"])
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (NUM_STEPS, NUM_FEATURES):
        raise DatasetError(f"{source}: x must be uint8 [N, {NUM_STEPS}, {NUM_FEATURES}], got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{source}: y must hold one integer class per clip ({x.shape[0]}), got {y.dtype} "
                           f"{y.shape}")
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DatasetError(f"{source}: class ids must be in 0..{NUM_CLASSES - 1}, got {y.min()}..{y.max()}")
    out = {"x": x, "y": y.astype(np.int64)}
    for name in ("train_ind", "test_ind"):
        ind = np.asarray(arrays[name])
        if ind.ndim != 1 or (ind.size and (not np.issubdtype(ind.dtype, np.integer) or ind.min() < 0
                                           or ind.max() >= x.shape[0])):
            raise DatasetError(f"{source}: {name} must be positions of clips in 0..{x.shape[0] - 1}")
        out[name] = ind.astype(np.int64)
    if np.intersect1d(out["train_ind"], out["test_ind"]).size:
        raise DatasetError(f"{source}: train_ind and test_ind overlap")
    return out


def read_audioset_pickle(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the original pickle ``[x, y, train_ind, test_ind]`` (numpy arrays and lists only)."""
    try:
        data = load_plain_pickle(path)
    except pickle.UnpicklingError as err:  # includes the refusal of a non-plain type, which names the file
        message = str(err) if str(path) in str(err) else f"{path}: not a readable pickle ({err})"
        raise DatasetError(message) from None
    if not isinstance(data, list | tuple) or len(data) != 4:
        raise DatasetError(f"{path}: expected a pickled list [x, y, train_ind, test_ind], got {type(data).__name__}")
    return check_audioset_arrays(dict(zip(ARRAY_NAMES, (np.asarray(a) for a in data))), path)


def load_audioset(data_dir: str | None = None) -> dict[str, np.ndarray]:
    """The data set arrays ``x, y, train_ind, test_ind`` (a pickle is parsed once, then read from the cache)."""
    source = audioset_source(data_dir)
    if source.suffix == ".pickle":
        return load_or_build("audioset", [source], lambda: read_audioset_pickle(source))
    try:
        with np.load(source, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ARRAY_NAMES}
    except (OSError, ValueError, KeyError) as err:
        raise DatasetError(f"{source}: not a readable .npz with arrays {', '.join(ARRAY_NAMES)} ({err}); run the "
                           "preprocessing again") from None
    return check_audioset_arrays(arrays, source)


# ----------------------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------------------
def task_classes(num_tasks: int, num_classes_per_task: int, seed: int) -> list[np.ndarray]:
    """The original class ids of every task: rows of the 10x10 permuted class matrix (or consecutive blocks of
    the permutation when a task set does not fit the matrix)."""
    order = np.random.RandomState(seed).permutation(NUM_CLASSES)
    if num_tasks * num_classes_per_task > NUM_CLASSES:
        raise ValueError(f"{num_tasks} tasks of {num_classes_per_task} classes exceed the {NUM_CLASSES} classes")
    if num_tasks <= 10 and num_classes_per_task <= 10:
        return [row[:num_classes_per_task] for row in order.reshape(10, 10)[:num_tasks]]
    return [order[t * num_classes_per_task: (t + 1) * num_classes_per_task] for t in range(num_tasks)]


def _split(x: np.ndarray, labels: np.ndarray) -> SeqSplit:
    lengths = torch.full((len(labels),), NUM_STEPS, dtype=torch.long)  # every clip has all 10 frames
    return SeqSplit(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels.astype(np.int64)), lengths)


def split_audioset_tasks(arrays: dict[str, np.ndarray], num_tasks: int = 10, num_classes_per_task: int = 10,
                         val_set_size: int = 500, seed: int = 42, device: torch.device | str = "cpu"
                         ) -> list[SequenceTask]:
    """One :class:`SequenceTask` per row of classes; see the module docstring.

    Raises:
        ValueError: ``val_set_size`` does not fit a task's training clips (or its classes).
    """
    x, y = arrays["x"], arrays["y"]
    tasks = []
    for t, classes in enumerate(task_classes(num_tasks, num_classes_per_task, seed)):
        relabel = np.full(NUM_CLASSES, -1, dtype=np.int64)
        relabel[classes] = np.arange(len(classes))
        splits = {}
        for split in ("train", "test"):
            rows = arrays[f"{split}_ind"]
            rows = rows[np.isin(y[rows], classes)]  # file order, as the original handler kept it
            if split == "train" and val_set_size > 0:
                if val_set_size >= len(rows):
                    raise ValueError(f"--val_set_size={val_set_size} must be smaller than the {len(rows)} "
                                     f"training clips of task {t}")
                try:  # stratified by the original class ids: their sorted order fixes the random draws
                    keep, val = stratified_holdout(y[rows], val_set_size, seed)
                except ValueError as err:
                    raise ValueError(f"--val_set_size={val_set_size} does not fit task {t}: {err}") from None
                splits["val"] = _split(x[rows[val]], relabel[y[rows[val]]])
                rows = rows[keep]
            splits[split] = _split(x[rows], relabel[y[rows]])
        tasks.append(SequenceTask(splits, name=f"SplitAudioSet-{t}", out_dim=num_classes_per_task, seed=seed + t,
                                  device=device))
    return tasks


def random_audioset_arrays(clips_per_class: tuple[int, int], rng: np.random.RandomState, signal: float = 0.0
                           ) -> dict[str, np.ndarray]:
    """A stand-in data set in the original layout: random uint8 frames, ``(train, test)`` clips per class.

    Clips are ordered as the preprocessing leaves them: all training clips (class by class), then all test clips.
    With ``signal > 0`` every frame mixes uniform noise with a fixed random pattern of its class
    (``(1 - signal) * noise + signal * pattern``, one pattern per class and step), so the classes can be learned;
    with 0 the labels carry no information.
    """
    n_train, n_test = clips_per_class
    y = np.concatenate([np.repeat(np.arange(NUM_CLASSES), n_train), np.repeat(np.arange(NUM_CLASSES), n_test)])
    x = rng.randint(0, 256, size=(len(y), NUM_STEPS, NUM_FEATURES)).astype(np.uint8)
    if signal > 0:
        patterns = rng.randint(0, 256, size=(NUM_CLASSES, NUM_STEPS, NUM_FEATURES))
        x = np.round((1 - signal) * x + signal * patterns[y]).astype(np.uint8)
    n = NUM_CLASSES * n_train
    return {"x": x, "y": y, "train_ind": np.arange(n), "test_ind": np.arange(n, len(y))}
