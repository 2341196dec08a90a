"""PCA of recurrent hidden states: explained variance, dimensionality and subspace overlap (spec §5.2).

States are pooled over samples (and timesteps, after :func:`select_timesteps`) into a matrix ``[M, H]``; PCA is the
SVD of the centred matrix, in float64. The *dimensionality* at ``p_var`` is the number of principal components
needed to explain at least that fraction of the variance. The original reports this number minus one (it returns
the 0-based index of the first component reaching ``p_var``); here it is the count.

The *overlap* of a later task with task 1 is the fraction of the later task's (centred) variance that lies in the
span of task 1's top-k principal components,
:math:`1 - \\|(I - P_k P_k^\\top)(X - \\bar X)\\|_F^2 / \\|X - \\bar X\\|_F^2`:
1 for identical subspaces, 0 for orthogonal ones. (The original subtracts task 1's mean and divides by the
uncentred norm; with zero-mean states both agree.)

Shapes: ``T`` timesteps, ``N`` samples, ``H`` hidden units, ``M`` pooled rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

#: Which timesteps a copy-task analysis pools, relative to the stop flag at step ``stop``.
TIMESTEP_CHOICES = ("all", "input", "output", "stop", "stop_plus_one", "last")


def _as_numpy(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)


def principal_components(x: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean ``[H]``, principal directions ``[k, H]`` (rows, by decreasing variance) and explained-variance ratios
    ``[k]`` of ``x`` ``[M, H]`` (``k = min(M, H)``)."""
    x = _as_numpy(x)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros_like(var)
    return mean, vt, ratio


def explained_variance_ratio(x: Tensor | np.ndarray) -> np.ndarray:
    """Explained-variance ratio of every principal component of ``x`` ``[M, H]`` (sums to 1)."""
    return principal_components(x)[2]


def num_dimensions(ratio: Sequence[float] | np.ndarray, p_var: float = 0.75) -> int:
    """Number of leading components whose cumulative explained variance reaches ``p_var`` (a fraction in (0, 1])."""
    if not 0 < p_var <= 1:
        raise ValueError(f"p_var must be a fraction in (0, 1] (got {p_var})")
    cum = np.cumsum(ratio)
    # A tolerance so that p_var = 1 is reached despite rounding in the cumulative sum.
    return int(np.searchsorted(cum, p_var - 1e-12) + 1)


def select_timesteps(states: Tensor | np.ndarray, which: str = "all", stop: int | None = None) -> np.ndarray:
    """Pool ``states`` ``[T, N, H]`` into ``[M, H]`` over the chosen timesteps.

    Args:
        which: ``all``; ``input`` (steps before the stop flag); ``output`` (steps after it); ``stop``;
            ``stop_plus_one``; ``last``.
        stop: Step of the stop flag (copy task; needed by every choice except ``all`` and ``last``).
    """
    s = _as_numpy(states)
    if which not in TIMESTEP_CHOICES:
        raise ValueError(f"unknown timestep selection {which!r}; valid: {', '.join(TIMESTEP_CHOICES)}")
    if which not in ("all", "last") and stop is None:
        raise ValueError(f"timestep selection {which!r} needs the stop-flag step")
    picks = {
        "all": lambda: s,
        "input": lambda: s[:stop],
        "output": lambda: s[stop + 1:],
        "stop": lambda: s[stop:stop + 1],
        "stop_plus_one": lambda: s[stop + 1:stop + 2],
        "last": lambda: s[-1:],
    }
    chosen = picks[which]()  # [T', N, H]
    return chosen.reshape(-1, s.shape[-1])  # [T' * N, H]


def subsample(x: np.ndarray, n: int, rng: np.random.RandomState) -> np.ndarray:
    """At most ``n`` random rows of ``x`` (-1 = all), so that analyses pooling different tasks use equal amounts."""
    if n == -1 or n >= len(x):
        return x
    return x[rng.permutation(len(x))[:n]]


def dims_per_timestep(states: Tensor | np.ndarray, p_var: float) -> tuple[list[int], list[list[float]]]:
    """Dimensionality and cumulative explained variance of the states ``[T, N, H]`` of every timestep separately."""
    s = _as_numpy(states)
    dims, cums = [], []
    for t in range(s.shape[0]):
        ratio = explained_variance_ratio(s[t])
        dims.append(num_dimensions(ratio, p_var))
        cums.append(np.cumsum(ratio).tolist())
    return dims, cums


def subspace_overlap(reference: Tensor | np.ndarray, other: Tensor | np.ndarray, k: int) -> float:
    """Fraction of the centred variance of ``other`` ``[M2, H]`` inside the span of the top-``k`` principal
    components of ``reference`` ``[M1, H]``."""
    _, pcs, _ = principal_components(reference)
    x = _as_numpy(other)
    x = x - x.mean(0)
    total = float((x**2).sum())
    if total == 0:
        return 1.0
    basis = pcs[:k]  # [k, H]
    residual = x - (x @ basis.T) @ basis  # [M2, H]
    return 1.0 - float((residual**2).sum()) / total


def overlap_curve(reference: Tensor | np.ndarray, others: Sequence[Tensor | np.ndarray], step: int = 10
                  ) -> tuple[list[int], list[list[float]]]:
    """Overlap of every state matrix in ``others`` with the top-k components of ``reference`` for
    ``k = 0, step, 2 step, ..., H``; returns the k values and one curve per matrix."""
    H = _as_numpy(reference).shape[1]
    ks = list(range(0, H, step)) + [H]
    return ks, [[subspace_overlap(reference, o, k) for k in ks] for o in others]


def pca_summary(states: Tensor | np.ndarray, p_var: float, which: str = "all", stop: int | None = None,
                n_samples: int = -1, rng: np.random.RandomState | None = None) -> dict:
    """``{"cum_expl_var": [...], "dim": int}`` of states ``[T, N, H]`` pooled over samples and the chosen steps."""
    x = subsample(select_timesteps(states, which, stop), n_samples, rng or np.random.RandomState(0))
    ratio = explained_variance_ratio(x)
    return {"cum_expl_var": np.cumsum(ratio).tolist(), "dim": num_dimensions(ratio, p_var)}


def pooled(states: Sequence[Tensor | np.ndarray]) -> np.ndarray:
    """Concatenate per-task states ``[T, N_j, H]`` along the sample axis (equal ``T``)."""
    return np.concatenate([_as_numpy(s) for s in states], axis=1)



def kernel_explained_variance(x: Tensor | np.ndarray, max_samples: int = 2000,
                              rng: np.random.RandomState | None = None) -> np.ndarray:
    """Eigenvalue ratios of cosine-kernel PCA of ``x`` ``[M, H]`` (the original's optional kernel PCA).

    The kernel ``k(a, b) = a.b / (|a| |b|)`` is centred in feature space, ``K_c = (I - 1/M) K (I - 1/M)``; the
    leading ``H`` eigenvalues, normalised to sum 1, play the role of explained-variance ratios. At most
    ``max_samples`` random rows are used (the kernel matrix is ``[M, M]``).
    """
    x = subsample(_as_numpy(x), max_samples, rng or np.random.RandomState(0))
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    K = unit @ unit.T  # [M, M]
    M = len(K)
    centre = np.eye(M) - np.full((M, M), 1.0 / M)
    eig = np.linalg.eigvalsh(centre @ K @ centre)[::-1][: x.shape[1]]  # descending, at most H
    eig = np.clip(eig, 0, None)
    return eig / eig.sum() if eig.sum() > 0 else eig
