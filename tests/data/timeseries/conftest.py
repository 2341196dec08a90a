"""A tiny Stroke-MNIST in de Jong's ``sequences.tar.gz`` layout (random pen walks, balanced labels)."""

import numpy as np
import pytest

from data.timeseries.smnist import random_stroke_sequences, write_stroke_mnist_tar


@pytest.fixture(scope="session")
def stroke_root(tmp_path_factory):
    """Data root holding ``stroke_mnist/sequences.tar.gz`` with 120 train and 40 test sequences."""
    root = tmp_path_factory.mktemp("stroke_data")
    rng = np.random.RandomState(0)
    train, y_train = random_stroke_sequences(120, rng)
    test, y_test = random_stroke_sequences(40, rng)
    write_stroke_mnist_tar(root / "stroke_mnist" / "sequences.tar.gz", {"train": train, "test": test},
                           {"train": y_train, "test": y_test})
    return root
