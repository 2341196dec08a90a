"""Similarity of the output heads' input subspaces (the original's broken ``out_head_subspace_similarity.py``).

For a multi-head network with output weights ``W`` ``[K*O, H]``, head k's rows ``W_k`` ``[O, H]`` read the hidden
layer through the span of their right-singular vectors ``V_k`` ``[H, r_k]``. The similarity of heads k and l is
``||V_k^T V_l||_F^2 / min(r_k, r_l)``: 1 when one subspace contains the other, 0 when they are orthogonal. (The
original reports the unnormalised Frobenius norm; normalising makes heads of different ranks comparable.)
"""

from __future__ import annotations

import numpy as np
from torch import Tensor


def head_bases(out_weight: Tensor, num_heads: int, head_dim: int, tol: float = 1e-8) -> list[np.ndarray]:
    """Orthonormal bases ``[H, r_k]`` of the row spaces of every head's output weights."""
    W = out_weight.detach().cpu().double().numpy()
    bases = []
    for k in range(num_heads):
        _, s, vt = np.linalg.svd(W[k * head_dim:(k + 1) * head_dim], full_matrices=False)
        rank = int((s > tol * max(s.max(), 1e-300)).sum())
        bases.append(vt[:rank].T)
    return bases


def head_similarity(out_weight: Tensor, num_heads: int, head_dim: int) -> np.ndarray:
    """``[K, K]`` matrix of normalised subspace similarities between the heads (diagonal 1)."""
    bases = head_bases(out_weight, num_heads, head_dim)
    sim = np.zeros((num_heads, num_heads))
    for k in range(num_heads):
        for l in range(num_heads):
            r = min(bases[k].shape[1], bases[l].shape[1])
            sim[k, l] = np.linalg.norm(bases[k].T @ bases[l]) ** 2 / r if r else 0.0
    return sim
