"""Stroke-MNIST parsing from the tar.gz layout, Split SMNIST and Sequential SMNIST (spec §1.3, §1.4, §7)."""

import numpy as np

from data.timeseries.seq_smnist import digit_pairs, seq_smnist_tasks
from data.timeseries.smnist import load_stroke_mnist, split_smnist_tasks


def _arrays(stroke_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(tmp_path / "cache"))
    return load_stroke_mnist(str(stroke_root))


def test_sizes_read_from_the_data(stroke_root, tmp_path, monkeypatch):
    a = _arrays(stroke_root, tmp_path, monkeypatch)
    assert a["x_train"].shape[0] == 120 and a["x_test"].shape[0] == 40
    assert a["x_train"].shape[1] == max(a["len_train"].max(), a["len_test"].max()) <= 30
    # exactly one end-of-digit flag per sequence, at the last unpadded row
    eod = a["x_train"][:, :, 3]
    assert (eod.sum(1) == 1).all()
    assert (eod[np.arange(120), a["len_train"] - 1] == 1).all()
    assert np.bincount(a["y_train"]).tolist() == [12] * 10
    assert list((tmp_path / "cache").glob("stroke_mnist-*.npz"))  # cached outside the read-only raw folder


def test_split_smnist_relabels_and_takes_first_training_samples_for_val(stroke_root, tmp_path, monkeypatch):
    a = _arrays(stroke_root, tmp_path, monkeypatch)
    tasks = split_smnist_tasks(a, num_tasks=5, num_classes_per_task=2, val_set_size=4)
    t1 = tasks[1]
    assert (t1.num("train"), t1.num("val"), t1.num("test")) == (20, 4, 8)
    first = np.flatnonzero(np.isin(a["y_train"], [2, 3]))[:4]
    np.testing.assert_array_equal(t1.splits["val"].targets.numpy(), a["y_train"][first] - 2)
    assert set(t1.splits["train"].targets.tolist()) == {0, 1}


def test_seq_smnist_concatenates_m_digits(stroke_root, tmp_path, monkeypatch):
    a = _arrays(stroke_root, tmp_path, monkeypatch)
    assert digit_pairs(5, 42) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert len(set(digit_pairs(45, 42))) == 45
    tasks = seq_smnist_tasks(a, num_tasks=2, seq_len=3, two_classes=True, num_train=64, num_test=16, num_val=8)
    split = tasks[0].splits["train"]
    L = a["x_train"].shape[1]
    assert tuple(split.inputs.shape) == (64, 3 * L, 4)
    assert (split.inputs[:, :, 3].sum(1) == 3).all()  # every digit keeps its eod flag
    lengths = split.lengths.numpy()
    assert (split.inputs[np.arange(64), lengths - 1, 3] == 1).all()
    assert split.inputs[np.arange(3 * L)[None] >= lengths[:, None]].abs().sum() == 0  # zero padding after
    counts = np.bincount(split.targets.numpy())
    assert counts.tolist() == [32, 32]  # two halves of the 8 balanced raw classes
