"""Fixtures of the RNN tests: one intra-op thread, and a tiny Stroke-MNIST in de Jong's ``sequences.tar.gz``
layout (short random pen walks, balanced labels)."""

import numpy as np
import pytest
import torch

from data.timeseries.smnist import random_stroke_sequences, write_stroke_mnist_tar


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the tiny RNNs of these tests gain nothing from more, and OpenMP barriers make the
    fused LSTM kernel 30-50x slower when the cores are oversubscribed (``pytest -n 2`` on 2 cores, or a shared
    machine): measured 0.41 s vs 0.014 s for one ``nn.LSTM(4, 256)`` pass over 24 steps of 8 sequences."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def stroke_root(tmp_path_factory):
    """Data root holding ``stroke_mnist/sequences.tar.gz`` with 120 train and 40 test sequences."""
    root = tmp_path_factory.mktemp("stroke_data")
    rng = np.random.RandomState(0)
    train, y_train = random_stroke_sequences(120, rng, max_len=12)
    test, y_test = random_stroke_sequences(40, rng, max_len=12)
    write_stroke_mnist_tar(root / "stroke_mnist" / "sequences.tar.gz", {"train": train, "test": test},
                           {"train": y_train, "test": y_test})
    return root
