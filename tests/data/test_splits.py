"""Carving tasks: class selection keeps file order and relabels; validation = the first n samples, or a stratified
random split (Split AudioSet)."""

import numpy as np
import pytest
import torch

from data.splits import holdout_first, select_classes, stratified_holdout


def test_select_classes_keeps_order_and_relabels():
    x = torch.arange(10)
    y = torch.tensor([3, 1, 2, 3, 0, 2, 9, 3, 2, 1])
    xs, ys = select_classes(x, y, (2, 3))
    assert xs.tolist() == [0, 2, 3, 5, 7, 8] and ys.tolist() == [1, 0, 1, 0, 1, 0]
    xs, ys = select_classes(x, y, (3, 2))  # classes[i] -> i, in the given order
    assert ys.tolist() == [0, 1, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="duplicate"):
        select_classes(x, y, (2, 2))


def test_holdout_first():
    x, y = torch.arange(10), torch.arange(10) % 2
    (xt, yt), (xv, yv) = holdout_first(x, y, 3)
    assert xv.tolist() == [0, 1, 2] and xt.tolist() == list(range(3, 10)) and yv.tolist() == [0, 1, 0]
    assert xv.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()  # views, no copies
    assert holdout_first(x, y, 0) == ((x, y), None)
    for bad in (10, -1):
        with pytest.raises(ValueError, match=r"validation set size must be in \[0, 10\)"):
            holdout_first(x, y, bad)


def test_selecting_every_class_returns_the_data_itself():
    x, y = torch.arange(6), torch.tensor([0, 1, 2, 2, 1, 0])
    xs, ys = select_classes(x, y, range(3))
    assert xs is x and ys.tolist() == y.tolist()


# Reference splits computed once with scikit-learn 1.9.1: train_test_split(np.arange(N), test_size=n,
# shuffle=True, random_state=seed, stratify=labels) -> (train, test). The third case has tied remainders.
SKLEARN_SPLITS = {
    "three-classes-seed42": (np.repeat([5, 9, 2], [4, 6, 5]), 6, 42,
                             [11, 9, 4, 14, 8, 12, 1, 2, 7], [0, 5, 6, 10, 3, 13]),
    "three-classes-seed7": (np.repeat([5, 9, 2], [4, 6, 5]), 6, 7,
                            [13, 12, 8, 2, 10, 1, 9, 7, 6], [14, 4, 11, 5, 0, 3]),
    "tied-remainders": (np.array([3, 3, 8, 8, 8, 1, 1, 1, 1, 3, 8]), 4, 0, [9, 5, 0, 10, 2, 7, 4], [8, 6, 3, 1]),
}


@pytest.mark.parametrize("case", SKLEARN_SPLITS, ids=str)
def test_stratified_holdout_equals_scikit_learn(case):
    labels, n, seed, train, test = SKLEARN_SPLITS[case]
    keep, held = stratified_holdout(labels, n, seed)
    assert keep.tolist() == train and held.tolist() == test


def test_stratified_holdout_counts_of_a_split_audioset_task():
    """A full-size task: 10 classes x 800 training clips, --val_set_size=500 -> exactly 50 per class."""
    labels = np.repeat(np.random.RandomState(0).permutation(100)[:10], 800)
    keep, held = stratified_holdout(labels, 500, 42)
    assert len(keep) == 7500 and len(held) == 500
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(8000))  # a partition
    assert np.unique(labels[held], return_counts=True)[1].tolist() == [50] * 10
    assert np.unique(labels[keep], return_counts=True)[1].tolist() == [750] * 10


def test_stratified_holdout_rejects_splits_without_every_class():
    labels = np.repeat([0, 1, 2], [5, 5, 1])
    with pytest.raises(ValueError, match="at least 2 samples of every class"):
        stratified_holdout(labels, 3, 0)
    with pytest.raises(ValueError, match=r"both parts \(9 and 2 samples\) need at least one sample of each of the 3"):
        stratified_holdout(np.repeat([0, 1, 2], 4)[:11], 2, 0)
