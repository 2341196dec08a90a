"""Random recurrent teachers for the student-teacher regression family (spec_cl_in_rnns.md §1.6).

Task k is an Elman teacher with weights ``A`` ``[H, H]``, ``B`` ``[H, H]``, ``C`` ``[O, H]`` (``H`` = the input
size, because the input enters the recurrence unweighted):

.. math::
    r_t = \\sigma(A r_{t-1} + x_t), \\quad s_t = \\sigma(B r_t), \\quad y_t = C s_t, \\qquad r_0 = 0 .

Matrices are uniform in :math:`\\pm\\sqrt{3/\\text{fan\\_in}}` (a Kaiming-like bound), ``A`` optionally orthogonal,
of limited rank, or rescaled to a maximum singular value. Inputs are uniform in ``[-1, 1]``; when more output
steps than input steps are asked for, the inputs are zero after ``num_timesteps_in`` and the teacher keeps running.
Every task draws, in this order, ``A``, ``B``, ``C`` and the inputs from ``RandomState(seed_k)`` with
``seed_k = RandomState(data_random_seed).randint(1e6)`` drawn in task order, as the original does.

Fixed defects of the original: its ``sigmoid`` computed ``1 / (1 / (+exp(-x)))`` (that is ``exp(-x)``), it crashed
for ``num_timesteps_out > num_timesteps_in`` (a bad ``np.concatenate`` call), and it stored the output lengths as
-1 by default; here the sigmoid is the logistic function, longer outputs work and lengths are the real ones.

Shapes: ``N`` samples, ``T`` output steps, ``F`` input features (= teacher hidden size ``H``), ``O`` outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from data.timeseries.sequence_task import SeqSplit, SequenceTask

SIGMAS = ("linear", "sigmoid", "tanh")


def _sigma(name: str):
    if name == "linear":
        return lambda x: x
    if name == "sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if name == "tanh":
        return np.tanh
    raise ValueError(f"unknown teacher nonlinearity {name!r}; valid: {', '.join(SIGMAS)}")


@dataclass
class Teacher:
    """The weights of one random recurrent teacher (float64)."""

    A: np.ndarray  # [H, H] hidden-to-hidden
    B: np.ndarray | None  # [H, H] hidden-to-output block (None: y_t = C r_t)
    C: np.ndarray  # [O, H] readout
    sigma: str = "tanh"

    @property
    def hidden_size(self) -> int:
        return self.A.shape[0]

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """Targets ``[N, T, O]`` for inputs ``[N, T, F]`` (``F = H``)."""
        act = _sigma(self.sigma)
        N, T, _ = inputs.shape
        r = np.zeros((N, self.hidden_size))  # r_0
        out = np.empty((N, T, self.C.shape[0]))
        for t in range(T):
            r = act(r @ self.A.T + inputs[:, t])  # [N, H]
            s = r if self.B is None else act(r @ self.B.T)
            out[:, t] = s @ self.C.T
        return out


def kaiming_uniform(rng: np.random.RandomState, n_rows: int, n_cols: int) -> np.ndarray:
    """``[n_rows, n_cols]`` uniform in ``±sqrt(3 / n_cols)``."""
    bound = np.sqrt(3.0) / np.sqrt(n_cols)
    return rng.uniform(low=-bound, high=bound, size=(n_rows, n_cols))


def random_teacher(n_in: int, n_out: int, rng: np.random.RandomState, orth_A: bool = False, rank_A: int = -1,
                   max_sv_A: float = -1.0, sigma: str = "tanh", no_extra_fc: bool = False) -> Teacher:
    """Draw ``A``, ``B``, ``C`` (in this order) from ``rng``.

    Args:
        orth_A: ``A`` uniform on the orthogonal group (all singular values 1); excludes ``rank_A``/``max_sv_A``.
        rank_A: Rank of ``A`` (-1 = full): ``A = X diag(1..1, 0..0) Z`` with two random matrices, rescaled by
            ``sqrt(n_in)`` so its entries keep the variance of one factor, as the original does.
        max_sv_A: Rescale ``A`` so that its largest singular value is this (-1 = unconstrained).
        no_extra_fc: Drop ``B`` (the teacher reads out ``r_t`` directly).
    """
    _sigma(sigma)
    if orth_A:
        if rank_A != -1 or max_sv_A != -1:
            raise ValueError("orth_A excludes rank_A and max_sv_A")
        from scipy.stats import ortho_group  # imported here: scipy.stats takes ~2 s, which every RNN run paid

        A = ortho_group.rvs(n_in, random_state=rng)
    elif rank_A != -1:
        if not 0 < rank_A <= n_in:
            raise ValueError(f"rank_A must be in 1..{n_in} (got {rank_A})")
        # Full-size factors, so that the same seed gives the same X, Z for every rank.
        X, Z = kaiming_uniform(rng, n_in, n_in), kaiming_uniform(rng, n_in, n_in)
        Y = np.eye(n_in)
        Y[rank_A:] = 0
        A = X @ Y @ Z * np.sqrt(n_in)
    else:
        A = kaiming_uniform(rng, n_in, n_in)
    if max_sv_A != -1:
        if max_sv_A <= 0:
            raise ValueError(f"max_sv_A must be positive (got {max_sv_A})")
        A = A / np.linalg.svd(A, compute_uv=False)[0] * max_sv_A
    B = kaiming_uniform(rng, n_in, n_in)
    C = kaiming_uniform(rng, n_out, n_in)
    return Teacher(A, None if no_extra_fc else B, C, sigma)


def teacher_inputs(rng: np.random.RandomState, n: int, n_in: int, steps_in: int, steps_out: int) -> np.ndarray:
    """Inputs ``[n, T, F]``: uniform in [-1, 1] for ``steps_in`` steps, zero afterwards (``T = max(in, out)``)."""
    x = rng.uniform(low=-1, high=1, size=(steps_in, n, n_in))  # time-major draw, as the original
    T = max(steps_in, steps_out)
    pad = np.zeros((T - steps_in, n, n_in))
    return np.concatenate([x, pad], axis=0).transpose(1, 0, 2)


def task_seeds(data_random_seed: int, num_tasks: int) -> list[int]:
    """Per-task seeds, in task order."""
    rng = np.random.RandomState(data_random_seed)
    return [int(rng.randint(int(1e6))) for _ in range(num_tasks)]


def teacher_task(seed: int, task_id: int, n_train: int, n_test: int, n_val: int, n_in: int = 7, n_out: int = 7,
                 steps_in: int = 10, steps_out: int = -1, sigma: str = "tanh", orth_A: bool = False,
                 rank_A: int = -1, max_sv_A: float = -1.0, device: torch.device | str = "cpu"
                 ) -> tuple[SequenceTask, Teacher]:
    """One task: a teacher and its train / test / val splits (regression targets at every step).

    Args:
        steps_out: Output steps (-1 = ``steps_in``; more than ``steps_in`` appends zero inputs).
    """
    if steps_out != -1 and steps_out < steps_in:
        raise ValueError(f"num_timesteps_out ({steps_out}) must be -1 or >= num_timesteps_in ({steps_in})")
    steps_out = steps_in if steps_out == -1 else steps_out
    rng = np.random.RandomState(seed)
    teacher = random_teacher(n_in, n_out, rng, orth_A, rank_A, max_sv_A, sigma)
    N = n_train + n_test + n_val
    x = teacher_inputs(rng, N, n_in, steps_in, steps_out)  # [N, T, F]
    y = teacher(x)  # [N, T, O]
    T = x.shape[1]
    bounds = {"train": (0, n_train), "test": (n_train, n_train + n_test), "val": (n_train + n_test, N)}
    splits = {}
    for name, (lo, hi) in bounds.items():
        if hi > lo:
            n = hi - lo
            splits[name] = SeqSplit(torch.from_numpy(x[lo:hi]).float(), torch.from_numpy(y[lo:hi]).float(),
                                    torch.full((n,), T, dtype=torch.long), torch.ones(n, T, dtype=torch.bool))
    task = SequenceTask(splits, f"teacher_{task_id}", n_out, seed=seed, device=device)
    return task, teacher


def student_teacher_tasks(num_tasks: int, data_random_seed: int, n_train: int, n_test: int, n_val: int,
                          device: torch.device | str = "cpu", **teacher_kwargs) -> tuple[list[SequenceTask],
                                                                                        list[Teacher]]:
    """All tasks of a run and their teachers (``teacher_kwargs`` as :func:`teacher_task`)."""
    pairs = [teacher_task(s, t, n_train, n_test, n_val, device=device, **teacher_kwargs)
             for t, s in enumerate(task_seeds(data_random_seed, num_tasks))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def ideal_student_weights(teachers: Sequence[Teacher], hidden: int, n_out_total: int) -> list[torch.Tensor]:
    """Weights of an Elman student (one recurrent layer, one linear output layer of all heads) that solves every
    teacher exactly, in :class:`~mnets.simple_rnn.SimpleRNN` ``param_shapes`` order.

    ``W_ih`` stacks identities (every block gets the input), ``W_hh`` and ``W_ho`` are block-diagonal with the
    teachers' ``A`` and ``B``, head k reads block k with ``C_k``; biases and unused units are zero.
    """
    n_in = teachers[0].hidden_size
    if hidden < n_in * len(teachers):
        raise ValueError(f"the ideal student of {len(teachers)} teachers needs >= {n_in * len(teachers)} units")
    w_ih, w_hh, w_ho = np.zeros((hidden, n_in)), np.zeros((hidden, hidden)), np.zeros((hidden, hidden))
    w_out = np.zeros((n_out_total, hidden))
    row = 0
    for k, teacher in enumerate(teachers):
        if teacher.B is None or teacher.hidden_size != n_in:
            raise ValueError("the ideal student needs teachers with B and equal input sizes")
        block = slice(k * n_in, (k + 1) * n_in)
        w_ih[block] = np.eye(n_in)
        w_hh[block, block] = teacher.A
        w_ho[block, block] = teacher.B
        O = teacher.C.shape[0]
        w_out[row:row + O, block] = teacher.C
        row += O
    mats = [w_ih, np.zeros(hidden), w_hh, np.zeros(hidden), w_ho, np.zeros(hidden), w_out, np.zeros(n_out_total)]
    return [torch.from_numpy(m).float() for m in mats]
