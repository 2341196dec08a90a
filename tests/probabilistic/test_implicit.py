"""Implicit posteriors: batched sampling over tasks and samples, hyper-hypernetwork θ, init, prior matching."""

import math

import pytest
import torch

from hnets.hmlp import HMLP
from hnets.hyperfan import hyperfan_in_init_
from hnets.implicit import ImplicitHnet
from mnets.base import unflatten_weights
from mnets.mlp import MLP
from probabilistic.implicit import (
    ImplicitPosterior,
    build_implicit_posterior,
    explicit_prior_cross_entropy,
    imp_hyperfan_init_,
    ssge_kl_surrogate,
)

IMP = dict(latent_dim=4, layers=(12,), activation_fn="relu", full_support_perturbation=0.02)
HH = dict(type="hmlp", cond_in_size=2, layers=(10,), activation_fn="relu")


def _mnet():
    return MLP(1, 1, (10, 10), "relu", no_weights=True)


def test_samples_of_several_tasks_in_one_call_equal_per_task_calls():
    torch.manual_seed(0)
    post = build_implicit_posterior(_mnet(), 3, IMP, HH)
    raw = post.raw([0, 1, 2])
    assert raw.shape == (3, post.imp_hnet.num_params)
    torch.testing.assert_close(raw[1], post.hh_net(cond_id=[1])[0])
    batched = post.sample(raw, 5, torch.Generator().manual_seed(1))  # [N, K, P]
    assert batched.shape == (3, 5, 141)
    z = post.noise(3, 5, torch.Generator().manual_seed(1))
    theta = post.imp_hnet.param_shapes
    for n in range(3):
        params = [t[n] for t in torch.split(raw, [math.prod(s) for s in theta], dim=1)]
        params = [p.reshape(s) for p, s in zip(params, theta)]
        torch.testing.assert_close(batched[n], post.imp_hnet(z[n], params))
    x = torch.linspace(-1, 1, 7).unsqueeze(1)
    pred = post.predict(x, raw, 5, torch.Generator().manual_seed(1))
    assert pred.shape == (3, 5, 7, 1)
    torch.testing.assert_close(pred[2, 3], post.mnet(x, unflatten_weights(batched[2, 3], post.mnet.param_shapes)))


def test_own_weights_posterior_optimises_theta_and_gets_gradients():
    post = build_implicit_posterior(_mnet(), 3, IMP, None)
    assert post.hh_net is None and len(post.optimized_parameters()) == 4
    raw = post.raw([0, 1])
    assert torch.equal(raw[0], raw[1])
    post.sample(raw[:1], 3).sum().backward()
    assert all(p.grad is not None for p in post.optimized_parameters())


def test_hyper_hypernetwork_parameters_are_optimised():
    post = build_implicit_posterior(_mnet(), 2, IMP, HH)
    assert len(post.imp_hnet.internal_params) == 0
    assert {id(p) for p in post.optimized_parameters()} == {id(p) for p in post.hh_net.parameters()}


def test_imp_hyperfan_init_equals_the_hmlp_hyperfan_init():
    """Same values as the HMLP hyperfan init from the same RNG state: building the init template draws nothing
    (the original initialises the implicit hypernetwork in place right after constructing it)."""
    mnet = _mnet()
    imp = ImplicitHnet(mnet.param_shapes, latent_dim=4, layers=(12,))
    ref = HMLP(mnet.param_shapes, uncond_in_size=4, cond_in_size=0, layers=(12,), num_cond_embs=0)
    torch.manual_seed(3)
    imp_hyperfan_init_(imp, mnet.param_shapes_meta, latent_std=0.5)
    torch.manual_seed(3)
    hyperfan_in_init_(ref, mnet.param_shapes_meta, uncond_var=0.25)
    for a, b in zip(imp.internal_params, ref.internal_params, strict=True):
        assert torch.equal(a, b)


def test_explicit_prior_cross_entropy_closed_form():
    w = torch.randn(6, 5)
    expected = (0.5 * (w**2).sum(1) / 2.0 + 0.5 * 5 * math.log(2 * math.pi * 2.0)).mean()
    torch.testing.assert_close(explicit_prior_cross_entropy(w, 2.0), expected)


def test_pf_ssge_sign_fix_cancels_the_prior_score_of_an_identical_prior():
    """With the previous posterior equal to the current one, KL = 0: the corrected surrogate's gradient is
    (nearly) zero, while the original's sign doubles the entropy gradient."""
    torch.manual_seed(4)
    mnet = MLP(1, 1, (), no_weights=True)  # 2 weights: the score estimates are accurate in 2-D
    post = build_implicit_posterior(mnet, 1, dict(IMP, latent_dim=2, full_support_perturbation=0.3), None)
    raw = post.raw([0])
    prior = raw.detach().clone()
    grads = {}
    for fix in (False, True):
        s = ssge_kl_surrogate(post, raw, 100, 400, None, num_eigenvals=8, prior_raw=prior, pf_sign_fix=fix,
                              generator=torch.Generator().manual_seed(5))
        grads[fix] = torch.cat([g.flatten() for g in torch.autograd.grad(s, post.optimized_parameters(),
                                                                          retain_graph=True)])
    no_prior = ssge_kl_surrogate(post, raw, 100, 400, None, num_eigenvals=8, generator=torch.Generator().manual_seed(5))
    g0 = torch.cat([g.flatten() for g in torch.autograd.grad(no_prior, post.optimized_parameters())])
    assert grads[True].norm() < 0.5 * g0.norm()
    assert grads[False].norm() > 1.5 * g0.norm()


def test_mismatched_networks_are_rejected():
    mnet = _mnet()
    with pytest.raises(ValueError):
        ImplicitPosterior(mnet, ImplicitHnet(mnet.param_shapes, 4, no_weights=True))
