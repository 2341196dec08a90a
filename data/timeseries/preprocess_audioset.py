"""Build the Split AudioSet data set from the official AudioSet embedding features, without TensorFlow.

Run once after placing the files (paths relative to ``<data root>/audioset/``)::

    python -m data.timeseries.preprocess_audioset      # writes audioset_data_balanced.npz

Inputs:

* ``audioset_download/``: the extracted ``features.tar.gz`` of the AudioSet download page (every file whose
  name contains ``tfrecord``, at any depth: ``bal_train``, ``eval`` and ``unbal_train`` are pooled, as in the
  original), or the archive itself as ``features.tar.gz``. Each record is a ``tf.train.SequenceExample`` with
  context ``labels`` (int64 class indices) and the feature list ``audio_embedding`` (one 128-byte string per
  second);
* ``ontology.json`` (AudioSet ontology), ``class_labels_indices.csv`` (index, mid, display name) and
  ``confidence_data.csv`` (per class: display name, rater confidence in %, counts; whitespace-separated).

The selection follows the original preprocessing (spec §1.5):

1. candidate classes: ontology entries listed in ``confidence_data.csv`` without restrictions, without
   children and with confidence >= 70%, in ontology order;
2. a clip is usable when it has all 10 frames and exactly one label among the candidates; the 100 candidates
   with most usable clips are chosen (every class tied with the 100th is kept, in candidate order, and the first
   100 of them are used);
3. clips are filtered again with the chosen classes and relabelled ``0..99`` (position in that list);
4. per class, in label order, the clip positions are shuffled by one ``RandomState(42)``; the first 800 are
   training clips and the next 200 (up to position 1,000) test clips.

Records are read in the sorted order of their paths (relative to ``audioset_download/``, or tar member names),
so the folder and the archive give the same arrays; the original walked the folder in file-system order.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.errors import DatasetError
from data.timeseries.audioset import NPZ_NAME, NUM_FEATURES, NUM_STEPS, audioset_dir, check_audioset_arrays
from data.timeseries.tfrecord import TFRecordError, parse_sequence_example, read_records
from utils.atomic import atomic_write

MIN_CONFIDENCE = 70  # percent
NUM_CLASSES = 100
CLIPS_PER_CLASS = 1000
TEST_FRACTION = 0.2
SPLIT_SEED = 42
META_FILES = {
    "ontology.json": "the AudioSet ontology (github.com/audioset/ontology)",
    "class_labels_indices.csv": "the class index file of the AudioSet download page",
    "confidence_data.csv": "the per-class rater confidence table of the AudioSet data set page "
                           "(the original repository ships it as datasets/sequential/audioset/confidence_data.csv)",
}


# ----------------------------------------------------------------------------------------------------------
# Class metadata
# ----------------------------------------------------------------------------------------------------------
def read_confidences(path: Path) -> dict[str, int]:
    """Display name -> rater confidence (%) from ``confidence_data.csv``.

    A row is whitespace-separated: the name's words come first, up to the first token holding ``%`` or equal to
    ``-``; the confidence is the last token holding ``%``. A row without one counts as confidence 0.
    """
    confidences = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = line.split()
        percent = [t for t in tokens if "%" in t]
        confidence = int(percent[-1][:-1]) if percent else 0
        words = []
        for token in tokens:
            if "%" in token or token == "-":
                break
            words.append(token)
        confidences[" ".join(words)] = confidence
    return confidences


def read_class_indices(path: Path) -> dict[str, int]:
    """Display name -> class index from ``class_labels_indices.csv`` (header ``index,mid,display_name``)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    try:
        return {row[2]: int(row[0]) for row in rows[1:] if row}
    except (IndexError, ValueError):
        raise DatasetError(f"{path}: expected rows 'index,mid,\"display name\"' after a header line") from None


def candidate_classes(folder: Path, min_confidence: int = MIN_CONFIDENCE) -> list[int]:
    """Class indices that may enter the data set (step 1 of the module docstring), in ontology order."""
    confidences = read_confidences(folder / "confidence_data.csv")
    indices = read_class_indices(folder / "class_labels_indices.csv")
    ontology = json.loads((folder / "ontology.json").read_text(encoding="utf-8"))
    candidates = []
    for entry in ontology:
        name = entry["name"]
        if name not in confidences:
            continue
        if name not in indices:
            raise DatasetError(f"{folder / 'class_labels_indices.csv'}: no index for the class {name!r} of "
                               "ontology.json; use the files of one AudioSet release")
        if not entry["restrictions"] and not entry["child_ids"] and confidences[name] >= min_confidence:
            candidates.append(indices[name])
    return candidates


# ----------------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------------
def _record_streams(source: Path) -> Iterator[tuple[str, str, Iterator[bytes]]]:
    """``(sort key, name, records)`` of every TFRecord file of a folder or a ``.tar.gz`` (in storage order: a
    compressed archive can only be read front to back). The key is the path relative to the folder, or the
    member name."""
    found = False
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if "tfrecord" in p.name and p.is_file()):
            found = True
            with open(path, "rb") as f:
                yield path.relative_to(source).as_posix(), str(path), read_records(f, str(path))
    else:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                if member.isfile() and "tfrecord" in os.path.basename(member.name):
                    found = True
                    name = f"{source}:{member.name}"
                    with tar.extractfile(member) as f:
                        yield member.name, name, read_records(f, name)
    if not found:
        raise DatasetError(f"{source}: no TFRecord files (names containing 'tfrecord'); extract the official "
                           "features.tar.gz there")


@dataclass
class AudioClip:
    """One record of the embedding release."""

    video_id: str
    labels: list[int]  # AudioSet class indices
    start: float  # start_time_seconds (within the YouTube video)
    end: float  # end_time_seconds
    frames: np.ndarray  # uint8 [F, 128], one row per second (F = 10 for a full clip)


def parse_audioset_clip(data: bytes, where: str = "<bytes>") -> AudioClip:
    """Decode one serialised AudioSet SequenceExample (see the module docstring).

    Raises:
        TFRecordError: the record does not parse, or a frame is not one 128-byte string (naming ``where``).
    """
    example = parse_sequence_example(data, where)
    frames = example.feature_lists.get("audio_embedding", [])
    if any(len(f) != 1 or len(f[0]) != NUM_FEATURES for f in frames):
        raise TFRecordError(f"{where}: audio_embedding frames must be one {NUM_FEATURES}-byte string each")
    ctx = example.context
    video_id = ctx.get("video_id", [b""])[0]
    return AudioClip(
        video_id=video_id.decode("utf-8", "replace") if isinstance(video_id, bytes) else str(video_id),
        labels=[int(v) for v in ctx.get("labels", [])],
        start=float(ctx.get("start_time_seconds", [float("nan")])[0]),
        end=float(ctx.get("end_time_seconds", [float("nan")])[0]),
        frames=np.frombuffer(b"".join(f[0] for f in frames), np.uint8).reshape(len(frames), NUM_FEATURES),
    )


@dataclass
class Clips:
    """Clips that can enter the data set: all 10 frames and at least one candidate label."""

    frames: list[np.ndarray] = field(default_factory=list)  # uint8 [10, 128] each
    labels: list[np.ndarray] = field(default_factory=list)  # their candidate labels (sorted, unique)
    num_records: int = 0


def read_clips(source: Path, candidates: Sequence[int]) -> Clips:
    """Parse every record of ``source`` and keep the clips that can enter the data set, in record order (files
    in sorted order of their keys, see :func:`_record_streams`).

    Raises:
        TFRecordError: a checksum fails or a record is not an AudioSet SequenceExample (naming file and record).
    """
    allowed = np.asarray(sorted(candidates), dtype=np.int64)
    per_file: dict[str, Clips] = {}
    for key, name, records in _record_streams(source):
        clips = per_file[key] = Clips()
        for index, data in enumerate(records):
            clip = parse_audioset_clip(data, f"{name}: record {index}")
            clips.num_records += 1
            labels = np.intersect1d(np.asarray(clip.labels, dtype=np.int64), allowed)
            if len(clip.frames) == NUM_STEPS and labels.size:  # other lengths never enter (original: exactly 10)
                clips.frames.append(clip.frames)
                clips.labels.append(labels)
    merged = Clips()
    for key in sorted(per_file):
        merged.frames += per_file[key].frames
        merged.labels += per_file[key].labels
        merged.num_records += per_file[key].num_records
    return merged


# ----------------------------------------------------------------------------------------------------------
# Selection
# ----------------------------------------------------------------------------------------------------------
def single_label_clips(labels: list[np.ndarray], classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the clips with exactly one label among ``classes``, and that label's position in ``classes``."""
    position = {c: i for i, c in enumerate(classes)}
    keep, label = [], []
    for i, clip_labels in enumerate(labels):
        mine = [c for c in clip_labels.tolist() if c in position]
        if len(mine) == 1:
            keep.append(i)
            label.append(position[mine[0]])
    return np.asarray(keep, dtype=np.int64), np.asarray(label, dtype=np.int64)


def choose_classes(labels: list[np.ndarray], candidates: Sequence[int], num_classes: int = NUM_CLASSES
                   ) -> list[int]:
    """The candidates with the most single-label clips: all with at least the ``num_classes``-th largest count."""
    if len(candidates) < num_classes:
        raise DatasetError(f"only {len(candidates)} candidate classes (need {num_classes}); check the metadata files")
    _, label = single_label_clips(labels, candidates)
    counts = np.bincount(label, minlength=len(candidates))
    cutoff = np.sort(counts)[-num_classes]
    return [c for c, n in zip(candidates, counts) if n >= cutoff]


def train_test_positions(y: np.ndarray, num_classes: int = NUM_CLASSES, per_class: int = CLIPS_PER_CLASS,
                         test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per class ``0..num_classes-1``: shuffle its clips, take the first ``per_class * (1 - test_fraction)`` as
    training and the rest up to ``per_class`` as test clips (one ``RandomState(seed)`` for all classes)."""
    rng = np.random.RandomState(seed)
    n_train = int(per_class * (1 - test_fraction))
    train, test = [], []
    for c in range(num_classes):
        members = np.where(y == c)[0]
        order = np.arange(len(members))
        rng.shuffle(order)
        train.extend(members[order[:n_train]])
        test.extend(members[order[n_train:per_class]])
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def build_audioset(folder: Path, source: Path | None = None, num_classes: int = NUM_CLASSES,
                   per_class: int = CLIPS_PER_CLASS) -> dict[str, np.ndarray]:
    """The data set arrays ``x, y, train_ind, test_ind`` from the TFRecords and metadata in ``folder``.

    Args:
        folder: ``<data root>/audioset`` holding the metadata files.
        source: The TFRecord folder or ``features.tar.gz`` (default: found in ``folder``).
        num_classes, per_class: 100 and 1,000 in the original; smaller values serve tests.
    """
    for name, what in META_FILES.items():
        if not (folder / name).is_file():
            raise DatasetError(f"missing {folder / name}: put {what} there")
    source = source or find_features(folder)
    candidates = candidate_classes(folder)
    clips = read_clips(source, candidates)
    chosen = choose_classes(clips.labels, candidates, num_classes)
    keep, y = single_label_clips(clips.labels, chosen)
    x = np.stack([clips.frames[i] for i in keep]) if len(keep) else np.zeros((0, NUM_STEPS, NUM_FEATURES), np.uint8)
    train, test = train_test_positions(y, num_classes, per_class)
    picked = np.concatenate([train, test])
    arrays = {"x": x[picked], "y": y[picked], "train_ind": np.arange(len(train)),
              "test_ind": np.arange(len(train), len(picked))}
    return check_audioset_arrays(arrays, source)


def find_features(folder: Path) -> Path:
    """The extracted ``audioset_download/`` folder, else ``features.tar.gz``, in ``folder``."""
    for candidate in (folder / "audioset_download", folder / "features.tar.gz"):
        if candidate.exists():
            return candidate
    raise DatasetError(f"AudioSet features not found: extract the official features.tar.gz into "
                       f"{folder / 'audioset_download'}/ or put the archive at {folder / 'features.tar.gz'}")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the data set arrays atomically (plain ``.npz``, no pickled objects)."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)
    atomic_write(path, write)


def main(argv: list[str] | None = None) -> Path:
    """Command line: build ``audioset_data_balanced.npz`` in ``<data root>/audioset``; errors exit with code 2."""
    parser = argparse.ArgumentParser(prog="python -m data.timeseries.preprocess_audioset", description=__doc__
                                     .split("\n")[0])
    parser.add_argument("--data_dir", default=None, help="dataset root (default: $HYPERCL_DATA_DIR, else "
                        "<repo>/datasets); the files go to <root>/audioset/")
    parser.add_argument("--features", default=None, help="TFRecord folder or features.tar.gz (default: "
                        "<root>/audioset/audioset_download, else <root>/audioset/features.tar.gz)")
    args = parser.parse_args(argv)
    folder = audioset_dir(args.data_dir)
    try:
        arrays = build_audioset(folder, Path(args.features) if args.features else None)
    except DatasetError as err:
        sys.stderr.write(f"{parser.prog}: error: {err}\n")
        raise SystemExit(2) from None
    target = folder / NPZ_NAME
    write_npz(target, arrays)
    print(f"wrote {target}: {len(arrays['train_ind'])} training and {len(arrays['test_ind'])} test clips of "
          f"{len(np.unique(arrays['y']))} classes")
    return target


if __name__ == "__main__":
    main()
