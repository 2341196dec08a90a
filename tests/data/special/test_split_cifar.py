"""SplitCIFAR-10/100 on pickle fixtures: task composition (with skip_tasks), sizes, relabelling, val sets."""

import shutil

import numpy as np
import pytest
import torch

from data.special.split_cifar import get_split_cifar_handlers, split_cifar_plan


def test_plans_of_the_readme_benchmarks():
    default = split_cifar_plan(6, 10)  # parser default: CIFAR-10 + 5 CIFAR-100 splits
    assert [(s, (c.start, c.stop)) for s, c in default] == [
        ("cifar10", (0, 10)),
        ("cifar100", (0, 10)),
        ("cifar100", (10, 20)),
        ("cifar100", (20, 30)),
        ("cifar100", (30, 40)),
        ("cifar100", (40, 50)),
    ]
    split100 = split_cifar_plan(10, 10, skip_tasks=1)  # README SplitCIFAR-100
    assert [s for s, _ in split100] == ["cifar100"] * 10
    assert [tuple(c) for _, c in split100] == [tuple(range(10 * t, 10 * t + 10)) for t in range(10)]
    split10 = split_cifar_plan(5, 2)  # README SplitCIFAR-10
    assert [(s, tuple(c)) for s, c in split10] == [("cifar10", (2 * t, 2 * t + 1)) for t in range(5)]
    beyond = split_cifar_plan(7, 2)  # continues with CIFAR-100 pairs
    assert [(s, tuple(c)) for s, c in beyond[5:]] == [("cifar100", (0, 1)), ("cifar100", (2, 3))]
    assert len(split_cifar_plan(11, 10)) == 11


@pytest.mark.parametrize("args", [(12, 10, 0), (11, 10, 1), (0, 10, 0), (4, 3, 0), (3, 10, -1)])
def test_impossible_plans(args):
    with pytest.raises(ValueError):
        split_cifar_plan(*args)


def test_split_cifar100_tasks_without_the_cifar10_files(tiny_cifar):
    root, written = tiny_cifar
    shutil.rmtree(root / "cifar-10-batches-py")  # skip_tasks=1 drops CIFAR-10: its files are not needed
    tasks = get_split_cifar_handlers(root, num_tasks=10, num_classes_per_task=10, skip_tasks=1, val_size=3)
    labels = written["cifar100"]["train_labels"]
    assert len(tasks) == 10
    for t, task in enumerate(tasks):
        classes = tuple(range(10 * t, 10 * t + 10))
        assert (task.name, task.classes, task.num_classes) == ("SplitCIFAR100", classes, 10)
        assert (task.num_train + task.num_val, task.num_val, task.num_test) == (40, 3, 20)  # 4 / 2 per class
        keep = np.isin(labels, classes)
        expected = torch.from_numpy(labels[keep] - 10 * t)
        assert torch.equal(torch.cat([task.raw("val")[1], task.raw("train")[1]]), expected)
        assert task.targets("train").shape == (task.num_train, 10)


def test_default_composition_starts_with_full_cifar10(tiny_cifar):
    root, written = tiny_cifar
    tasks = get_split_cifar_handlers(root)
    assert [t.name for t in tasks] == ["CIFAR-10"] + ["SplitCIFAR100"] * 5
    assert (tasks[0].num_train, tasks[0].num_test, tasks[0].num_classes) == (100, 30, 10)
    assert torch.equal(tasks[0].raw("train")[1], torch.from_numpy(written["cifar10"]["train_labels"]))
    assert tasks[5].classes == tuple(range(40, 50))


def test_split_cifar10_pairs(tiny_cifar):
    root, written = tiny_cifar
    tasks = get_split_cifar_handlers(root, num_tasks=5, num_classes_per_task=2, val_size=2, augmentation=False)
    labels = written["cifar10"]["train_labels"]
    assert [t.classes for t in tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for task in tasks:
        assert task.num_train + task.num_val == np.isin(labels, task.classes).sum() and task.num_val == 2
        assert task.num_test == 6  # test labels cycle 0..9 over 30 images
    # validation = the first two training images of the task, inputs raw in [0, 1] without augmentation
    first = np.flatnonzero(np.isin(labels, (4, 5)))[:2]
    data = written["cifar10"]["train_data"][first].reshape(2, 3, 32, 32).transpose(0, 2, 3, 1)
    assert torch.equal(tasks[2].inputs("val"), torch.from_numpy(data.reshape(2, -1)).float() / 255)
