"""PCA dimensionality and subspace overlap against closed forms."""

import numpy as np
import pytest

from sequential.ht_analyses import pca


def states_with_spectrum(variances, n=4000, H=12, seed=0):
    """Rows [n, H] whose covariance has exactly the given eigenvalues (orthogonal directions, zero mean)."""
    rng = np.random.RandomState(seed)
    z = rng.randn(n, len(variances))
    z = (z - z.mean(0)) / z.std(0)  # unit variance per column
    z, _ = np.linalg.qr(z)  # orthonormal columns: exact spectrum
    z *= np.sqrt(np.asarray(variances) * n)
    basis, _ = np.linalg.qr(rng.randn(H, H))
    return z @ basis[:, : len(variances)].T, basis


@pytest.mark.parametrize("p_var, expected", [(0.5, 1), (0.8, 2), (0.9, 3), (0.95, 4), (1.0, 4)])
def test_dimensionality_of_a_known_spectrum(p_var, expected):
    x, _ = states_with_spectrum([0.5, 0.3, 0.1, 0.1])
    ratio = pca.explained_variance_ratio(x)
    np.testing.assert_allclose(ratio[:4], [0.5, 0.3, 0.1, 0.1], atol=1e-10)
    assert pca.num_dimensions(ratio, p_var) == expected


def test_p_var_must_be_a_fraction():
    with pytest.raises(ValueError, match="p_var"):
        pca.num_dimensions([1.0], 75)


def test_overlap_identical_and_orthogonal_subspaces():
    rng = np.random.RandomState(1)
    basis, _ = np.linalg.qr(rng.randn(10, 10))
    a = rng.randn(500, 3) @ basis[:, :3].T  # in span(e_0..e_2)
    b = rng.randn(400, 3) @ basis[:, :3].T  # same subspace, other samples
    c = rng.randn(400, 3) @ basis[:, 3:6].T  # orthogonal subspace
    assert pca.subspace_overlap(a, b, 3) == pytest.approx(1.0, abs=1e-10)
    assert pca.subspace_overlap(a, c, 3) == pytest.approx(0.0, abs=1e-10)
    ks, curves = pca.overlap_curve(a, [b, c], step=2)
    assert ks == [0, 2, 4, 6, 8, 10] and curves[0][0] == pytest.approx(0.0)
    assert curves[1][-1] == pytest.approx(1.0)  # all 10 PCs span everything


def test_select_timesteps_relative_to_the_stop_flag():
    T, N, H = 9, 2, 3
    states = np.arange(T)[:, None, None] * np.ones((T, N, H))  # value = timestep
    stop = 4
    assert set(pca.select_timesteps(states, "input", stop)[:, 0]) == {0, 1, 2, 3}
    assert set(pca.select_timesteps(states, "output", stop)[:, 0]) == {5, 6, 7, 8}
    assert set(pca.select_timesteps(states, "stop", stop)[:, 0]) == {4}
    assert set(pca.select_timesteps(states, "stop_plus_one", stop)[:, 0]) == {5}
    assert set(pca.select_timesteps(states, "last")[:, 0]) == {8}
    assert pca.select_timesteps(states, "all").shape == (T * N, H)
    with pytest.raises(ValueError, match="stop-flag"):
        pca.select_timesteps(states, "output")


def test_dims_per_timestep():
    rng = np.random.RandomState(0)
    T, N, H = 3, 200, 6
    states = np.zeros((T, N, H))
    for t in range(T):
        states[t, :, : t + 1] = rng.randn(N, t + 1)  # t + 1 equal directions at step t
    dims, cums = pca.dims_per_timestep(states, 0.999)
    assert dims == [1, 2, 3] and cums[0][0] == pytest.approx(1.0)


def test_cosine_kernel_pca_ignores_the_scale_along_a_ray():
    """Points on two rays (random positive scales): the cosine kernel sees two points, one centred direction."""
    rng = np.random.RandomState(0)
    dirs = rng.randn(2, 6)
    x = np.concatenate([rng.uniform(0.5, 3, (100, 1)) * dirs[0], rng.uniform(0.5, 3, (80, 1)) * dirs[1]])
    ratio = pca.kernel_explained_variance(x)
    assert ratio[0] == pytest.approx(1.0) and pca.num_dimensions(ratio, 0.99) == 1
    assert pca.num_dimensions(pca.explained_variance_ratio(x), 0.99) == 2  # linear PCA sees the scales
