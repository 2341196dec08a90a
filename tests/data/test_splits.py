"""Carving tasks: class selection keeps file order and relabels; validation = the first n samples."""

import pytest
import torch

from data.splits import holdout_first, select_classes


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
