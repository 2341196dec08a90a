"""Copy Task data: seeds, permutation semantics, padded windows, XOR pattern manipulation (spec §1.1)."""

import numpy as np
import pytest

from data.timeseries.copy_task import CopyTaskSpec, copy_tasks, transform_seeds


def test_transform_seeds_of_data_seed_42():
    perm, _ = transform_seeds(42, 5)
    assert perm == [102, 435, 860, 270, 106]


def test_permuted_copy_output_step_k_is_input_step_P_k():
    spec = CopyTaskSpec(mean_len=5, permute_time=True)
    split = copy_tasks([spec], 42, num_train=20, num_test=4, num_val=4)[0].splits["train"]
    assert tuple(split.inputs.shape) == (20, 11, 8)
    P = [1, 4, 2, 3, 0]  # task 0, seed 102 (spec §1.1)
    x, y = split.inputs[:, :5, :7].numpy(), split.targets[:, 6:11].numpy()
    np.testing.assert_array_equal(y, x[:, P])
    assert split.window[:, 6:11].all() and split.window.sum() == 20 * 5
    assert (split.inputs[:, 5, 7] == 1).all()  # stop flag right after the pattern


def test_tasks_share_raw_inputs_and_differ_in_targets():
    spec = CopyTaskSpec(mean_len=5, permute_time=True)
    a, b = copy_tasks([spec, spec], 42, num_train=30, num_test=4, num_val=4)
    assert (a.splits["train"].inputs == b.splits["train"].inputs).all()
    assert not (a.splits["train"].targets == b.splits["train"].targets).all()


def test_padded_copy_window_after_the_padding():
    spec = CopyTaskSpec(mean_len=25, pat_len=5)
    split = copy_tasks([spec], 42, num_train=8, num_test=4, num_val=4)[0].splits["train"]
    assert split.inputs.shape[1] == 31
    assert split.window[0].nonzero().ravel().tolist() == [26, 27, 28, 29, 30]
    assert split.inputs[:, 5:25, :7].sum() == 0  # zero padding after the 5 pattern steps
    np.testing.assert_array_equal(split.targets[:, 26:31].numpy(), split.inputs[:, :5, :7].numpy())


@pytest.mark.parametrize("r", [1, 5])
def test_xor_separate_target(r):
    spec = CopyTaskSpec(mean_len=5, permute_time=True, permute_xor=True, permute_xor_iter=r,
                        permute_xor_separate=True)
    split = copy_tasks([spec], 42, num_train=16, num_test=4, num_val=4)[0].splits["train"]
    rng = np.random.RandomState(102)
    x = split.inputs[:, :5, :7].numpy().astype(np.uint8)
    expected = x.copy()
    for _ in range(r):
        expected ^= x[:, rng.permutation(5)]
    np.testing.assert_array_equal(split.targets[:, 6:11].numpy(), expected)


def test_variable_lengths_curriculum():
    spec = CopyTaskSpec(mean_len=12, len_variability=2)
    split = copy_tasks([spec], 42, num_train=200, num_test=4, num_val=4)[0].splits["train"]
    lengths = split.lengths.numpy()
    assert lengths.min() >= 10 and lengths.max() <= 14 and split.inputs.shape[1] == 29
    np.testing.assert_array_equal(split.window.sum(1).numpy(), lengths)
    stop = split.inputs[:, :, 7].argmax(1).numpy()
    np.testing.assert_array_equal(stop, lengths)
