"""Split AudioSet data: the original pickle (safely), the 10x10 task split, the stratified validation split, and
the preprocessing from TFRecord files (data/timeseries/audioset.py, preprocess_audioset.py)."""

import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from data.errors import DatasetError
from data.timeseries import audioset
from data.timeseries.audioset import (
    load_audioset,
    random_audioset_arrays,
    split_audioset_tasks,
    task_classes,
)
from data.timeseries.preprocess_audioset import build_audioset, candidate_classes, main, read_confidences
from tests.data.timeseries.audioset_files import audioset_record, tfrecord_bytes, write_metadata


def write_original_pickle(root, arrays, protocol=3, numpy1=True):
    """The original's file: a plain list of numpy arrays, pickled by Python 3.7 (protocol 3) and numpy 1.x, whose
    pickles name ``numpy.core.multiarray`` where numpy 2.x writes ``numpy._core.multiarray``."""
    path = root / "audioset" / "audioset_data_balanced.pickle"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps([arrays["x"], arrays["y"], arrays["train_ind"], arrays["test_ind"]], protocol=protocol)
    if numpy1:
        assert b"numpy._core.multiarray" in data
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def small_arrays():
    """100 classes x (8 train + 2 test) random clips in the original layout."""
    return random_audioset_arrays((8, 2), np.random.RandomState(0))


# ------------------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("protocol, numpy1", [(3, True), (2, True), (5, False)])
def test_original_pickle_loads_and_is_cached(tmp_path, monkeypatch, small_arrays, protocol, numpy1):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path))
    write_original_pickle(tmp_path, small_arrays, protocol, numpy1)
    arrays = load_audioset()
    assert arrays["x"].dtype == np.uint8 and arrays["x"].shape == (1000, 10, 128)
    for name in ("x", "y", "train_ind", "test_ind"):
        np.testing.assert_array_equal(arrays[name], small_arrays[name])
    assert arrays["y"].dtype == np.int64 and len(arrays["train_ind"]) == 800 and len(arrays["test_ind"]) == 200
    assert len(list((tmp_path / "cache").glob("audioset-*.npz"))) == 1  # the isolated cache of tests/data

    def fail(path):
        raise AssertionError("the pickle was parsed again")

    monkeypatch.setattr(audioset, "read_audioset_pickle", fail)
    np.testing.assert_array_equal(load_audioset()["x"], small_arrays["x"])  # from the .npz cache


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path))
    path = tmp_path / "audioset" / "audioset_data_balanced.pickle"
    path.parent.mkdir()
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps([_RunsCode(marker), np.zeros(3), np.zeros(2), np.zeros(1)]))
    with pytest.raises(DatasetError) as err:
        load_audioset()
    message = str(err.value)
    assert str(path) in message and f"refused to unpickle type {os.system.__module__}.system" in message
    assert "\n" not in message and not marker.exists()


def test_pickle_of_the_wrong_shape_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path))
    bad = {"x": np.zeros((4, 10, 64), np.uint8), "y": np.zeros(4, np.int64), "train_ind": np.arange(2),
           "test_ind": np.arange(2, 4)}
    write_original_pickle(tmp_path, bad)
    with pytest.raises(DatasetError, match=r"x must be uint8 \[N, 10, 128\], got uint8 \(4, 10, 64\)"):
        load_audioset()


def test_missing_data_names_both_files_and_the_preprocessing(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as err:
        load_audioset()
    message = str(err.value)
    assert f"{tmp_path}/audioset/audioset_data_balanced.pickle" in message
    assert "audioset_data_balanced.npz" in message and "python -m data.timeseries.preprocess_audioset" in message


# ------------------------------------------------------------------------------------------------ tasks
def test_task_classes_are_the_rows_of_the_permuted_10x10_matrix():
    rows = np.random.RandomState(42).permutation(100).reshape(10, 10)
    classes = task_classes(10, 10, 42)
    assert [c.tolist() for c in classes] == rows.tolist()
    assert sorted(np.concatenate(classes).tolist()) == list(range(100))  # disjoint, all 100 classes
    assert [c.tolist() for c in task_classes(3, 4, 42)] == rows[:3, :4].tolist()  # first entries of each row
    assert task_classes(20, 5, 1)[13].tolist() == np.random.RandomState(1).permutation(100)[65:70].tolist()


def test_split_audioset_tasks_exact_counts(small_arrays):
    tasks = split_audioset_tasks(small_arrays, num_tasks=10, num_classes_per_task=10, val_set_size=20, seed=42)
    classes = task_classes(10, 10, 42)
    x, y = small_arrays["x"], small_arrays["y"]
    for t, task in enumerate(tasks):
        assert (task.num("train"), task.num("val"), task.num("test")) == (60, 20, 20)
        assert task.out_dim == 10 and task.in_dim == 128 and task.max_len == 10
        for split, per_class in (("train", 6), ("val", 2), ("test", 2)):
            labels = task.splits[split].targets
            assert torch.bincount(labels, minlength=10).tolist() == [per_class] * 10
            assert task.splits[split].lengths.tolist() == [10] * len(labels)
        # inputs are the raw uint8 values as floats, and label k is the task's k-th class
        test = task.splits["test"]
        rows = small_arrays["test_ind"][np.isin(y[small_arrays["test_ind"]], classes[t])]
        np.testing.assert_array_equal(test.inputs.numpy(), x[rows].astype(np.float32))
        assert classes[t][test.targets.numpy()].tolist() == y[rows].tolist()
    # validation + training clips of a task are exactly its training clips
    first = np.concatenate([tasks[0].splits[s].inputs.numpy()[:, 0, :4] for s in ("train", "val")])
    rows = small_arrays["train_ind"][np.isin(y[small_arrays["train_ind"]], classes[0])]
    assert sorted(map(tuple, first.tolist())) == sorted(map(tuple, x[rows][:, 0, :4].astype(float).tolist()))


def test_split_audioset_tasks_without_validation_and_too_large_validation(small_arrays):
    tasks = split_audioset_tasks(small_arrays, num_tasks=2, num_classes_per_task=5, val_set_size=0, seed=42)
    assert [(t.num("train"), t.num("val"), t.num("test")) for t in tasks] == [(40, 0, 10), (40, 0, 10)]
    with pytest.raises(ValueError, match=r"--val_set_size=80 must be smaller than the 80 training clips of task 0"):
        split_audioset_tasks(small_arrays, num_tasks=1, num_classes_per_task=10, val_set_size=80)
    with pytest.raises(ValueError, match=r"--val_set_size=5 does not fit task 0: both parts"):
        split_audioset_tasks(small_arrays, num_tasks=1, num_classes_per_task=10, val_set_size=5)


# ------------------------------------------------------------------------------------------------ preprocessing
CLASSES = [
    {"name": "Alpha", "confidence": 90, "restricted": False, "children": False},  # 0: candidate
    {"name": "Beta", "confidence": 100, "restricted": False, "children": False},  # 1: candidate
    {"name": "Male speech, man speaking", "confidence": 85, "restricted": False, "children": False},  # 2: candidate
    {"name": "Delta", "confidence": 70, "restricted": False, "children": False},  # 3: candidate (>= 70)
    {"name": "Eps", "confidence": 100, "restricted": True, "children": False},  # 4: restricted
    {"name": "Zeta", "confidence": 100, "restricted": False, "children": True},  # 5: has children
    {"name": "Eta", "confidence": 69, "restricted": False, "children": False},  # 6: below 70%
    {"name": "Theta", "confidence": None, "restricted": False, "children": False},  # 7: no confidence row
]
# (clip id, labels, frames); clip ids are unique and stored in every byte of the clip's frames.
CLIPS = {
    "bal_train/b.tfrecord": [(0, [0], 10), (1, [1], 10), (2, [0, 6], 10), (3, [3, 4], 10), (4, [0, 2], 10),
                             (5, [2], 10), (6, [0], 9)],
    "eval/e.tfrecord": [(7, [5], 10), (8, [1, 3], 10), (9, [0], 10), (10, [1], 10), (11, [3], 10)],
    "unbal_train/u.tfrecord": [(12, [0], 10), (13, [2], 10), (14, [1], 10), (15, [0, 7], 10), (16, [3], 10),
                               (17, [1], 10), (18, [3], 10)],
}


def write_features(folder):
    for name, clips in CLIPS.items():
        path = folder / "audioset_download" / "audioset_v1_embeddings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tfrecord_bytes([audioset_record(f"id{i}", labels, np.full((n, 128), i, np.uint8))
                                         for i, labels, n in clips]))


def test_class_metadata_parsing(tmp_path):
    write_metadata(tmp_path, CLASSES)
    assert read_confidences(tmp_path / "confidence_data.csv")["Male speech, man speaking"] == 85
    assert candidate_classes(tmp_path) == [0, 1, 2, 3]


def test_preprocessing_selects_classes_and_clips_as_the_original(tmp_path):
    folder = tmp_path / "audioset"
    write_metadata(folder, CLASSES)
    write_features(folder)
    arrays = build_audioset(folder, num_classes=2, per_class=5)
    # Single-label clips per candidate (10 frames; clip 6 has 9): Alpha 0,2,9,12,15 (5), Beta 1,10,14,17 (4),
    # speech class 5,13 (2), Delta 3,11,16,18 (4). Cutoff = 2nd largest count = 4: Alpha, Beta and Delta (tied)
    # are chosen, labels 0, 1, 2; only labels 0 and 1 are split. Re-filtered with them: clip 4 (Alpha + the
    # speech class) becomes single-label Alpha; clip 8 (Beta + Delta) still has two labels.
    alpha = [0, 2, 4, 9, 12, 15]
    beta = [1, 10, 14, 17]
    rng = np.random.RandomState(42)
    train, test = [], []
    for members in (alpha, beta):  # 4 training clips (5 x 0.8), then up to position 5 test clips
        order = np.arange(len(members))
        rng.shuffle(order)
        train += [members[i] for i in order[:4]]
        test += [members[i] for i in order[4:5]]
    assert len(test) == 1  # Beta has only 4 clips: all training, none left for its test set
    assert arrays["x"].dtype == np.uint8 and arrays["x"].shape == (9, 10, 128)
    assert arrays["x"][:, 0, 0].tolist() == train + test
    assert arrays["y"].tolist() == [0] * 4 + [1] * 4 + [0]
    assert arrays["train_ind"].tolist() == list(range(8)) and arrays["test_ind"].tolist() == [8]
    assert all((arrays["x"][i] == arrays["x"][i, 0, 0]).all() for i in range(9))


def test_preprocessing_with_one_class(tmp_path):
    folder = tmp_path / "audioset"
    write_metadata(folder, CLASSES)
    write_features(folder)
    arrays = build_audioset(folder, num_classes=1, per_class=10)  # cutoff 5: only Alpha
    assert set(arrays["y"].tolist()) == {0} and len(arrays["train_ind"]) == 6 and len(arrays["test_ind"]) == 0
    assert sorted(arrays["x"][:, 0, 0].tolist()) == [0, 2, 4, 9, 12, 15]  # clip 4: its other label is out


def test_cli_writes_npz_the_loader_reads_and_the_archive_gives_the_same(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path))
    folder = tmp_path / "audioset"
    write_metadata(folder, CLASSES)
    write_features(folder)
    monkeypatch.setattr("data.timeseries.preprocess_audioset.NUM_CLASSES", 2)
    with pytest.raises(DatasetError, match="only 4 candidate classes"):
        build_audioset(folder)  # the default of 100 classes
    expected = build_audioset(folder, num_classes=2, per_class=5)
    with tarfile.open(tmp_path / "features.tar.gz", "w:gz") as tar:
        tar.add(folder / "audioset_download" / "audioset_v1_embeddings", arcname="audioset_v1_embeddings")
    from_tar = build_audioset(folder, tmp_path / "features.tar.gz", num_classes=2, per_class=5)
    for name in expected:
        np.testing.assert_array_equal(from_tar[name], expected[name])

    monkeypatch.setattr("data.timeseries.preprocess_audioset.build_audioset",
                        lambda folder, source: build_audioset(folder, source, num_classes=2, per_class=5))
    target = main([])
    assert target == folder / "audioset_data_balanced.npz" and "wrote" in capsys.readouterr().out
    loaded = load_audioset()
    for name in expected:
        np.testing.assert_array_equal(loaded[name], expected[name])


def test_cli_missing_files_exit_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["--data_dir", str(tmp_path)])
    assert err.value.code == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and f"missing {tmp_path}/audioset/ontology.json" in line
    write_metadata(tmp_path / "audioset", CLASSES)
    with pytest.raises(SystemExit):
        main(["--data_dir", str(tmp_path)])
    assert "extract the official features.tar.gz into" in capsys.readouterr().err


def test_stand_in_signal_mixes_a_pattern_per_class():
    pure = random_audioset_arrays((3, 1), np.random.RandomState(5), signal=1.0)
    x, y = pure["x"], pure["y"]
    assert x.shape == (400, 10, 128) and pure["train_ind"].tolist() == list(range(300))
    assert all((x[y == c] == x[y == c][0]).all() for c in (0, 57, 99))  # every clip of a class is its pattern
    assert not (x[y == 0][0] == x[y == 1][0]).all()
    noise = random_audioset_arrays((3, 1), np.random.RandomState(5))
    half = random_audioset_arrays((3, 1), np.random.RandomState(5), signal=0.5)
    # the same noise draw comes first, so half = round((noise + pattern) / 2)
    expected = np.round(0.5 * noise["x"] + 0.5 * x.astype(float)).astype(np.uint8)
    np.testing.assert_array_equal(half["x"], expected)
