"""Implicit weight posteriors (PR-/PF-AVB and -SSGE, spec §2.7): q(w) is the push-forward of Gaussian noise through
an implicit hypernetwork, ``w = h(z; θ)``, z ~ N(0, latent_std² I).

Dimension letters: N posteriors (tasks), K weight samples, B batch, O outputs, P main-network weights, Q implicit-
hypernetwork parameters (the size of θ).

* **PR** (posterior replay): θ_t = h_hh(e_t; ψ) is generated per task by a task-conditioned *hyper-hypernetwork*
  (``hh_*`` flags), whose outputs for old tasks are protected by the hypernetwork output regulariser.
* ``--no_hhnet`` / **PF** (``--prior_focused``): the implicit hypernetwork owns θ (one distribution for all tasks;
  in PF the previous posterior, a frozen copy θ*, is the prior of the next task).

:class:`ImplicitPosterior` has the duck-typed interface of :class:`~probabilistic.posterior.WeightPosterior`
(``raw(task_ids)``, ``sample``, ``predict``), so evaluation code works for both. "Raw" parameters here are the
flat θ vectors ``[N, Q]``; all N×K weight samples come from one batched call of the implicit hypernetwork.
Prior-matching helpers (explicit-prior cross-entropy, the SSGE surrogate) live here as plain functions;
the AVB discriminator is in :mod:`probabilistic.avb`, the score estimator in :mod:`probabilistic.ssge`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hnets.base import HyperNet
from hnets.chunked_hmlp import ChunkedHMLP
from hnets.chunked_hyperfan import chunked_hyperfan_init_
from hnets.hmlp import HMLP
from hnets.hyperfan import hyperfan_in_init_
from hnets.implicit import ImplicitHnet
from hnets.init import custom_hnet_init_, init_task_embeddings_
from mnets.base import MainNet, flatten_weights, unflatten_weights
from mnets.mlp import MLP
from probabilistic.avb import log_prob_diag_gaussian
from probabilistic.ssge import ssge_score, stein_surrogate
from utils.cli import ConfigError, parse_int_list

SUPPORTED_HNET_TYPES = ("hmlp", "chunked_hmlp")


class ImplicitPosterior(nn.Module):
    """Implicit posterior(s) over the weights of ``mnet`` (built with ``no_weights=True``).

    Args:
        mnet: The main network (architecture only).
        imp_hnet: The implicit hypernetwork ``z -> w``; built with ``no_weights=True`` iff ``hh_net`` is given.
        hh_net: Task-conditioned hyper-hypernetwork producing θ_t (target shapes = ``imp_hnet.param_shapes``),
            or None (the implicit hypernetwork owns θ).
        latent_std: Std of the noise z.
    """

    kind = "implicit"

    def __init__(self, mnet: MainNet, imp_hnet: ImplicitHnet, hh_net: HyperNet | None = None,
                 latent_std: float = 1.0) -> None:
        super().__init__()
        if (hh_net is None) == (len(imp_hnet.internal_params) == 0):
            raise ValueError("the implicit hypernetwork must own its weights iff there is no hyper-hypernetwork")
        if hh_net is not None and hh_net.target_shapes != imp_hnet.param_shapes:
            raise ValueError("the hyper-hypernetwork must target the implicit hypernetwork's param_shapes")
        self.mnet, self.imp_hnet, self.hh_net, self.latent_std = mnet, imp_hnet, hh_net, latent_std
        self.num_weights = mnet.num_params

    @property
    def num_outputs(self) -> int:
        """Q, the size of θ (one row of :meth:`raw`)."""
        return self.imp_hnet.num_params

    def raw(self, task_ids: Sequence[int]) -> Tensor:
        """θ ``[N, Q]`` for ``task_ids`` (one batched hyper-hypernetwork call, or the own θ repeated)."""
        if self.hh_net is not None:
            return self.hh_net(cond_id=list(task_ids))
        return flatten_weights(list(self.imp_hnet.internal_params)).unsqueeze(0).expand(len(task_ids), -1)

    def noise(self, N: int, K: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``z ~ N(0, latent_std² I)`` of shape ``[N, K, noise_dim]`` (drawn on the generator's device).

        With a ``generator`` (the deterministic test-phase noise) the draws follow the original's order: one
        ``[1, noise_dim]`` draw per weight sample, the same K vectors for all N posteriors (the original evaluates
        every model with its own fresh generator seeded 2147483647). torch's CPU normal sampler fills tensors of 16
        or more entries in blocks, so a single ``randn(N, K, D)`` call gives other numbers.
        """
        D = self.imp_hnet.noise_dim
        if generator is not None:
            z = torch.cat([torch.randn(1, D, generator=generator, device=generator.device) for _ in range(K)])
            return (self.latent_std * z.to(device)).unsqueeze(0).expand(N, K, D)
        z = torch.randn(N, K, D, device=device)
        return self.latent_std * z

    def sample(self, raw: Tensor, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Weight samples ``[N, K, P]``: K noise vectors through the implicit hypernetwork with each θ_n."""
        N = raw.shape[0]
        z = self.noise(N, num_samples, generator, raw.device)  # [N, K, noise_dim]
        theta = unflatten_weights(raw, self.imp_hnet.param_shapes)  # each [N, *shape]
        if N == 1:
            return self.imp_hnet(z[0], [t[0] for t in theta]).unsqueeze(0)  # [1, K, P]
        return torch.func.vmap(lambda z_n, *th: self.imp_hnet(z_n, list(th)))(z, *theta)  # [N, K, P]

    def predict(self, x: Tensor, raw: Tensor, num_samples: int, generator: torch.Generator | None = None,
                lrt: bool = False, condition=None) -> Tensor:
        """Predictions ``[N, K, B, O]`` of K weight samples of each of the N posteriors on inputs ``x [B, ...]``.

        ``lrt`` is accepted for interface compatibility and must be False.
        """
        if lrt:
            raise ValueError("the local reparametrisation trick does not apply to implicit posteriors")
        w = self.sample(raw, num_samples, generator)  # [N, K, P]
        return predict_with_samples(self.mnet, x, w, condition)

    def optimized_parameters(self) -> list[nn.Parameter]:
        """What the optimizer updates: ψ (hyper-hypernetwork) if present, else θ (spec §2.1)."""
        return list((self.hh_net if self.hh_net is not None else self.imp_hnet).parameters())


def predict_with_samples(mnet: MainNet, x: Tensor, w: Tensor, condition=None) -> Tensor:
    """Main-network outputs ``[N, K, B, O]`` for flat weight samples ``w [N, K, P]`` (one pass over N·K)."""
    N, K, _ = w.shape
    weights = unflatten_weights(w.reshape(N * K, -1), mnet.param_shapes)  # each [N*K, *shape]
    out = mnet(x, weights) if condition is None else mnet(x, weights, condition=condition)  # [N*K, B, O]
    return out.reshape(N, K, *out.shape[1:])


# ---------------------------------------------------------------------------------------------------------------
# Construction and initialisation
# ---------------------------------------------------------------------------------------------------------------
def _check_hnet_type(name: str, flag: str) -> None:
    if name not in SUPPORTED_HNET_TYPES:
        raise ConfigError(f"--{flag}={name} is not supported; use one of {', '.join(SUPPORTED_HNET_TYPES)}")


def imp_hnet_kwargs(config: argparse.Namespace) -> dict:
    """Constructor arguments of :class:`~hnets.implicit.ImplicitHnet` from the ``imp_*`` flags."""
    _check_hnet_type(config.imp_hnet_type, "imp_hnet_type")
    if config.imp_hnet_specnorm:
        raise ConfigError("--imp_hnet_specnorm is not implemented (nor in the original)")
    chunked = config.imp_hnet_type == "chunked_hmlp"
    return dict(latent_dim=config.latent_dim, layers=parse_int_list(config.imp_hmlp_arch, "imp_hmlp_arch"),
                activation_fn=config.imp_hnet_net_act, use_bias=not config.imp_hnet_no_bias,
                chunk_size=config.imp_chmlp_chunk_size if chunked else None,
                chunk_emb_size=parse_int_list(config.imp_chunk_emb_size, "imp_chunk_emb_size")[0],
                full_support_perturbation=config.full_support_perturbation,
                dropout_rate=config.imp_hnet_dropout_rate)


def hh_net_kwargs(config: argparse.Namespace) -> dict:
    """``(type name, constructor arguments)`` of the hyper-hypernetwork from the ``hh_*`` flags (as a dict with
    key ``type``)."""
    _check_hnet_type(config.hh_hnet_type, "hh_hnet_type")
    if config.hh_hnet_specnorm:
        raise ConfigError("--hh_hnet_specnorm is not implemented (nor in the original)")
    kwargs = dict(type=config.hh_hnet_type, cond_in_size=config.hh_cond_emb_size,
                  layers=parse_int_list(config.hh_hmlp_arch, "hh_hmlp_arch"), activation_fn=config.hh_hnet_net_act,
                  use_bias=not config.hh_hnet_no_bias, dropout_rate=config.hh_hnet_dropout_rate)
    if config.hh_hnet_type == "chunked_hmlp":
        kwargs.update(chunk_size=config.hh_chmlp_chunk_size, cond_chunk_embs=config.hh_use_cond_chunk_embs,
                      chunk_emb_size=parse_int_list(config.hh_chunk_emb_size, "hh_chunk_emb_size")[0])
    return kwargs


def build_implicit_posterior(mnet: MainNet, num_tasks: int, imp_kwargs: dict, hh_kwargs: dict | None = None,
                             latent_std: float = 1.0, hyper_fan_init: bool = False, std_normal_temb: float = 1.0,
                             std_normal_emb: float = 1.0, normal_init: bool = False,
                             std_normal_init: float = 0.02) -> ImplicitPosterior:
    """Implicit hypernetwork (+ hyper-hypernetwork with ``num_tasks`` embeddings), initialised as the original.

    Init (spec §2.7): default Xavier-uniform layers, zero biases, task embeddings N(0, ``std_normal_temb``²), chunk
    embeddings N(0, ``std_normal_emb``²); ``hyper_fan_init``: the implicit hypernetwork gets hyperfan-in init
    (Kaiming variant) for input variance ``latent_std``², the hyper-hypernetwork (task embeddings first, chunk
    embeddings only by the chunked hyperfan init itself) hyperfan-in with ``cond_var = std_normal_temb²`` and the
    implicit hypernetwork as target. The RNG draws follow the original's order, so a seed gives its weights.

    Args:
        imp_kwargs: From :func:`imp_hnet_kwargs`.
        hh_kwargs: From :func:`hh_net_kwargs`, or None for an implicit hypernetwork with own θ.
    """
    imp = ImplicitHnet(mnet.param_shapes, no_weights=hh_kwargs is not None, **imp_kwargs)
    hh = None
    if hh_kwargs is None:
        if hyper_fan_init:
            imp_hyperfan_init_(imp, mnet.param_shapes_meta, latent_std)
        else:
            custom_hnet_init_(imp, std_normal_temb, std_normal_emb, normal_init, std_normal_init)
    else:
        kwargs = dict(hh_kwargs)
        cls = HMLP if kwargs.pop("type") == "hmlp" else ChunkedHMLP
        hh = cls(imp.param_shapes, num_cond_embs=num_tasks, **kwargs)
        if hyper_fan_init:
            # Task embeddings only: the hyperfan init draws the chunk embeddings (original's RNG order).
            init_task_embeddings_(hh, std_normal_temb)
            if isinstance(hh, HMLP):
                hyperfan_in_init_(hh, imp.param_shapes_meta, cond_var=std_normal_temb**2)
            else:
                chunked_hyperfan_init_(hh, imp.param_shapes_meta, cond_var=std_normal_temb**2)
        else:
            custom_hnet_init_(hh, std_normal_temb, std_normal_emb, normal_init, std_normal_init)
    return ImplicitPosterior(mnet, imp, hh, latent_std)


@torch.no_grad()
def imp_hyperfan_init_(imp: ImplicitHnet, mnet_meta: Sequence[dict], latent_std: float = 1.0) -> None:
    """Hyperfan-in init (Kaiming variant) of an implicit hypernetwork that owns its weights, for input variance
    ``latent_std²``.

    A template with the same layout (an ``HMLP`` with only an unconditional input, or a ``ChunkedHMLP``) is
    initialised with :func:`~hnets.hyperfan.hyperfan_in_init_` or
    :func:`~hnets.chunked_hyperfan.chunked_hyperfan_init_` and its parameters are copied over. The template is
    built with the global RNG state saved and restored (its construction-time init is overwritten anyway), so
    that only the hyperfan init draws, right after the implicit hypernetwork's own construction, as in the
    original (same seed, same weights).
    """
    core = imp.core
    with torch.random.fork_rng(devices=[]):
        if isinstance(core, MLP):
            template = HMLP(imp.target_shapes, uncond_in_size=imp.latent_dim, cond_in_size=0,
                            layers=core.hidden_layers, use_bias=core.has_bias, num_cond_embs=0)
        else:
            template = ChunkedHMLP(imp.target_shapes, core.chunk_size, core.chunk_emb_size,
                                   uncond_in_size=imp.latent_dim, cond_in_size=0, layers=core.layers,
                                   use_bias=core.mlp.has_bias, num_cond_embs=0)
    if isinstance(template, HMLP):
        hyperfan_in_init_(template, mnet_meta, uncond_var=latent_std**2)
    else:
        chunked_hyperfan_init_(template, mnet_meta, uncond_var=latent_std**2)
    for dst, src in zip(imp.internal_params, template.internal_params, strict=True):
        dst.copy_(src)


# ---------------------------------------------------------------------------------------------------------------
# Prior matching
# ---------------------------------------------------------------------------------------------------------------
def explicit_prior_cross_entropy(w: Tensor, prior_variance: float) -> Tensor:
    """:math:`-\\frac{1}{K} \\sum_k \\log \\mathcal{N}(w_k; 0, \\sigma_p^2 I)` for samples ``w [K, P]`` (the SSGE
    cross-entropy term with the explicit prior; PR, and PF on the first task)."""
    return -log_prob_diag_gaussian(w, 0.0, math.sqrt(prior_variance)).mean()


def ssge_kl_surrogate(posterior: ImplicitPosterior, raw: Tensor, num_samples: int, ssge_sample_size: int,
                      width: float | None, num_eigenvals: int = -1, thr_eigenvals: float = 1.0,
                      prior_raw: Tensor | None = None, pf_sign_fix: bool = False,
                      generator: torch.Generator | None = None) -> Tensor:
    """Scalar whose gradient is the SSGE estimate of the KL gradient's implicit parts (spec §2.9).

    .. math::
        g_\\theta = \\frac{1}{N} \\sum_n J_\\theta(w_n)^\\top \\big[\\hat{s}_q(w_n) \\pm \\hat{s}_{p}(w_n)\\big]

    :math:`\\hat{s}_q` estimates :math:`\\nabla_w \\log q` from M = ``ssge_sample_size`` samples (the
    N = ``num_samples`` evaluation samples plus M − N extra ones if M > N, else the first M of them). With an
    implicit prior (PF, ``prior_raw`` = θ* of the previous task) :math:`\\hat{s}_p` is estimated from M prior
    samples. The original *adds* it (``+``; quirk §6.2 #4), the KL gradient needs ``−`` (``pf_sign_fix``).

    Args:
        raw: ``[1, Q]`` θ of the current task (differentiable w.r.t. the optimised parameters).
        width: RBF bandwidth, None = median heuristic.
        prior_raw: ``[1, Q]`` θ* of the implicit prior, or None.
    """
    w = posterior.sample(raw, max(num_samples, ssge_sample_size), generator)[0]  # [max(N, M), P]
    w_eval = w[:num_samples]  # [N, P]
    score = ssge_score(w[:ssge_sample_size], w_eval, width, num_eigenvals, thr_eigenvals)  # [N, P]
    if prior_raw is not None:
        with torch.no_grad():
            w_prior = posterior.sample(prior_raw, ssge_sample_size, generator)[0]  # [M, P]
        score_prior = ssge_score(w_prior, w_eval, width, num_eigenvals, thr_eigenvals)  # [N, P]
        score = score - score_prior if pf_sign_fix else score + score_prior
    return stein_surrogate(w_eval, score)
