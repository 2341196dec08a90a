"""Random recurrent teachers: matrix options, the fixed defects of the original, and the ideal student."""

import numpy as np
import pytest
import torch

from data.timeseries.rnd_rec_teacher import (
    Teacher,
    ideal_student_weights,
    random_teacher,
    student_teacher_tasks,
    task_seeds,
    teacher_task,
)
from mnets.simple_rnn import SimpleRNN


def test_orthogonal_teacher_has_unit_singular_values():
    teacher = random_teacher(7, 7, np.random.RandomState(3), orth_A=True)
    np.testing.assert_allclose(np.linalg.svd(teacher.A, compute_uv=False), np.ones(7), atol=1e-12)


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_rank_limited_teacher(rank):
    teacher = random_teacher(7, 7, np.random.RandomState(0), rank_A=rank)
    assert np.linalg.matrix_rank(teacher.A) == rank


def test_max_singular_value():
    teacher = random_teacher(7, 5, np.random.RandomState(0), max_sv_A=0.5)
    assert np.linalg.svd(teacher.A, compute_uv=False)[0] == pytest.approx(0.5)
    assert teacher.C.shape == (5, 7)


def test_uniform_entries_within_kaiming_bound():
    teacher = random_teacher(9, 4, np.random.RandomState(0))
    bound = np.sqrt(3 / 9)
    assert np.abs(teacher.A).max() <= bound and np.abs(teacher.B).max() <= bound and np.abs(teacher.C).max() <= bound


@pytest.mark.parametrize("sigma, fn", [("sigmoid", lambda x: 1 / (1 + np.exp(-x))), ("tanh", np.tanh),
                                       ("linear", lambda x: x)])
def test_one_step_closed_form(sigma, fn):
    """Fixed sigmoid: y_1 = C sigma(B sigma(x_1)) (the original's 'sigmoid' computed exp(-x))."""
    rng = np.random.RandomState(1)
    A, B, C = rng.randn(3, 3), rng.randn(3, 3), rng.randn(2, 3)
    x = rng.randn(4, 1, 3)
    y = Teacher(A, B, C, sigma)(x)
    np.testing.assert_allclose(y[:, 0], fn(fn(x[:, 0]) @ B.T) @ C.T)


def test_more_output_steps_than_input_steps():
    """The original crashed here; inputs are zero after num_timesteps_in and the teacher keeps running."""
    task, teacher = teacher_task(5, 0, 20, 10, 5, steps_in=4, steps_out=9)
    train = task.splits["train"]
    assert train.inputs.shape == (20, 9, 7) and train.targets.shape == (20, 9, 7)
    assert float(train.inputs[:, 4:].abs().sum()) == 0 and float(train.inputs[:, :4].abs().min()) > 0
    assert float(train.targets[:, 8].abs().sum()) > 0  # the recurrence still drives the outputs
    assert train.lengths.tolist() == [9] * 20 and bool(train.window.all())
    with pytest.raises(ValueError, match="num_timesteps_out"):
        teacher_task(5, 0, 2, 2, 0, steps_in=4, steps_out=3)


def test_task_seeds_and_splits():
    tasks, teachers = student_teacher_tasks(3, 42, 30, 10, 5)
    assert task_seeds(42, 3) == [int(s) for s in np.random.RandomState(42).randint(int(1e6), size=3)]
    assert [t.num(s) for t in tasks for s in ("train", "test", "val")] == [30, 10, 5] * 3
    assert not np.allclose(teachers[0].A, teachers[1].A)
    again, _ = student_teacher_tasks(3, 42, 30, 10, 5)
    assert torch.equal(again[2].splits["test"].targets, tasks[2].splits["test"].targets)


def test_ideal_student_solves_every_teacher():
    tasks, teachers = student_teacher_tasks(3, 0, 8, 16, 0)
    net = SimpleRNN(n_in=7, rnn_layers=[25], fc_layers=[21], use_lstm=False)
    with torch.no_grad():
        for p, w in zip(net.internal_params, ideal_student_weights(teachers, 25, 21)):
            p.copy_(w)
    for k, task in enumerate(tasks):
        test = task.splits["test"]
        out = net(test.inputs.transpose(0, 1))[..., 7 * k:7 * (k + 1)]  # [T, N, 7]
        np.testing.assert_allclose(out.detach().numpy(), test.targets.transpose(0, 1).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="needs >= 21 units"):
        ideal_student_weights(teachers, 20, 21)
