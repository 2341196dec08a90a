"""Implicit hypernetwork: HMLP / ChunkedHMLP layouts with an unconditional input, full-support perturbation
(hypnettorch's ``HPerturbWrapper``), K weight samples from K noise vectors in one call."""

import pytest
import torch

from hnets.implicit import ImplicitHnet

TARGET = [[10, 1], [10], [10, 10], [10], [1, 10], [1]]  # the regression MLP 1-10-10-1: 141 weights


@pytest.mark.parametrize("chunk_size", [None, 40], ids=["hmlp", "chunked"])
@pytest.mark.parametrize("sigma", [-1, 0.02], ids=["no-perturbation", "full-support"])
def test_matches_hypnettorch(hht, chunk_size, sigma):
    from hypnettorch.hnets.hnet_perturbation_wrapper import HPerturbWrapper

    torch.manual_seed(6)
    ours = ImplicitHnet(TARGET, latent_dim=8, layers=(20, 20), chunk_size=chunk_size, chunk_emb_size=4,
                        full_support_perturbation=sigma)
    torch.manual_seed(6)
    common = dict(uncond_in_size=8, cond_in_size=0, num_cond_embs=0, layers=(20, 20), verbose=False)
    theirs = hht.HMLP(TARGET, **common) if chunk_size is None else \
        hht.ChunkedHMLP(TARGET, chunk_size=chunk_size, chunk_emb_size=4, **common)
    assert ours.param_shapes == theirs.param_shapes
    for a, b in zip(ours.internal_params, theirs.internal_params, strict=True):
        assert torch.equal(a, b)
    z = ours.sample_noise(5)
    assert z.shape == (5, 141 if sigma != -1 else 8)
    if sigma != -1:
        theirs = HPerturbWrapper(theirs, hnet_uncond_in_size=8, sigma_noise=sigma, verbose=False)
    expected = theirs(uncond_input=z, ret_format="flattened")
    torch.testing.assert_close(ours(z), expected, atol=1e-6, rtol=0)


def test_external_weights_and_k_samples():
    imp = ImplicitHnet(TARGET, latent_dim=141, layers=(141, 141), no_weights=True)
    assert len(imp.internal_params) == 0
    theta = [0.1 * torch.randn(s) for s in imp.param_shapes]
    z = imp.sample_noise(4, latent_std=1.0)
    w = imp(z, theta)
    assert w.shape == (4, 141)
    torch.testing.assert_close(w[2], imp(z[2:3], theta)[0])
