"""Per-task weight posteriors of a main network: Dirac, diagonal Gaussian (BbB, optional LRT) or radial.

The posterior parameters either come from a hypernetwork (``h(e_t)``: PR-* methods, one posterior per task in a
shared meta-model) or live in the main network itself (``--mnet_only``: fine-tuning, VCL, separate networks).
Everything is batched over tasks N and weight samples K: :meth:`WeightPosterior.predict` returns
``[N, K, B, O]`` from one pass through the main network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hnets.hmlp import HMLP
from mnets.base import flatten_weights, unflatten_weights
from mnets.conv_base import init_layer_params_
from mnets.mlp import MLP
from probabilistic.gaussian import (
    kl_diag_gaussians,
    kl_to_prior,
    radial_prior_matching,
    sample_gaussian,
    sample_gaussian_per_tensor,
    sample_in_original_order,
    sample_radial,
    split_mean_rho,
    std_from_rho,
)
from probabilistic.lrt import lrt_mlp_forward

KINDS = ("dirac", "gaussian", "radial")


@torch.no_grad()
def custom_init_(params: Sequence[Tensor], meta: Sequence[dict], normal_init: bool = False,
                 std_normal_init: float = 0.02) -> None:
    """The original's ``custom_init`` of a main network, in place: layer weights Xavier-uniform (with
    ``--normal_init``: normal with std ``std_normal_init``), biases 0, batch-norm tensors untouched."""
    for w, m in zip(params, meta):
        if m["name"] == "weight":
            nn.init.normal_(w, 0.0, std_normal_init) if normal_init else nn.init.xavier_uniform_(w)
        elif m["name"] == "bias":
            w.zero_()


@torch.no_grad()
def deterministic_init(mnet: MLP, normal_init: bool = False, std_normal_init: float = 0.02) -> Tensor:
    """Flat ``[P]`` initial weights of the original's main networks, drawn in its order: the layers' own default
    init when the network is built, then :func:`custom_init_` on top (Xavier-uniform weights, zero biases;
    batch-norm scales 1 and shifts 0), before any Gaussian wrapping.

    Not PyTorch's layer default alone (Kaiming-uniform with a = √5, uniform biases), whose weight bounds for the
    784-100-100-10 MLP are 2.3x, 1.7x and 2.3x smaller, below the initial posterior std softplus(-2.5) ≈ 0.079.
    """
    init = [torch.empty(shape) for shape in mnet.param_shapes]
    init_layer_params_(init, mnet.param_shapes_meta)  # the draws of building the network with weights
    custom_init_(init, mnet.param_shapes_meta, normal_init, std_normal_init)
    return flatten_weights(init)


class WeightPosterior(nn.Module):
    """Posterior(s) over the weights of ``mnet`` (built with ``no_weights=True``).

    Args:
        mnet: The main network (architecture only).
        kind: ``dirac`` (``--mean_only``), ``gaussian`` (BbB) or ``radial`` (``--radial_bnn``).
        hnet: Hypernetwork producing the posterior parameters per task, or None (``--mnet_only``).
        use_logvar_enc: σ = exp(ρ/2) instead of softplus(ρ).
        keep_orig_init: ``--mnet_only`` Gaussian/radial: initialise the means with the original's deterministic
            main-network init (:func:`deterministic_init`) instead of U(-0.1, 0.1). A Dirac posterior
            (``--mean_only``) always gets that init: the original does not wrap a deterministic main network, so
            its weights keep that init whatever this flag says.
        normal_init, std_normal_init: ``--normal_init``: normal layer weights with std ``std_normal_init`` in
            that init.
    """

    def __init__(self, mnet: MLP, kind: str, hnet: HMLP | None = None, use_logvar_enc: bool = False,
                 keep_orig_init: bool = False, normal_init: bool = False, std_normal_init: float = 0.02) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown posterior kind {kind!r}; valid: {KINDS}")
        self.mnet, self.kind, self.hnet, self.use_logvar_enc = mnet, kind, hnet, use_logvar_enc
        self.num_weights = mnet.num_params
        if hnet is None:
            if keep_orig_init or kind == "dirac":
                mean = deterministic_init(mnet, normal_init, std_normal_init)
            else:
                # The original builds the main network with weights first (its default and custom init draws),
                # then overwrites the means: replay those draws so a seed gives the original's initial posterior.
                deterministic_init(mnet, normal_init, std_normal_init)
                mean = torch.empty(self.num_weights).uniform_(-0.1, 0.1)
            self.mean = nn.Parameter(mean)
            self.rho = None if kind == "dirac" else nn.Parameter(torch.empty(self.num_weights).uniform_(-0.5, 0.5))

    @property
    def num_outputs(self) -> int:
        """Number of posterior parameters per task (P for Dirac, 2P otherwise)."""
        return self.num_weights * (1 if self.kind == "dirac" else 2)

    def raw(self, task_ids: Sequence[int], keep_padding: bool = False) -> Tensor:
        """Raw posterior parameters ``[N, P]`` (Dirac) or ``[N, 2P]`` (means then raw ρ) for ``task_ids``; with
        ``keep_padding``, a chunked hypernetwork's uncut rows (:meth:`hnets.base.HyperNet.padded_outputs`)."""
        if self.hnet is not None:
            return self.hnet.padded_outputs(list(task_ids)) if keep_padding else self.hnet(cond_id=list(task_ids))
        flat = self.mean if self.rho is None else torch.cat([self.mean, self.rho])
        return flat.unsqueeze(0).expand(len(task_ids), -1)

    def mean_std(self, raw: Tensor) -> tuple[Tensor, Tensor | None]:
        """Means ``[N, P]`` and stds ``[N, P]`` (None for Dirac) from raw parameters."""
        if self.kind == "dirac":
            return raw, None
        mean, rho = split_mean_rho(raw)
        return mean, std_from_rho(rho, self.use_logvar_enc)

    def sample(self, raw: Tensor, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Weight samples ``[N, K, P]`` (Dirac: the mean repeated K times).

        With a ``generator`` (the deterministic test-phase noise) the noise is drawn in the original's order and
        shared by the N posteriors, as if each were evaluated with its own fresh generator in the same state
        (:func:`~probabilistic.gaussian.original_order_noise`); without one, in a single batched draw.
        """
        mean, std = self.mean_std(raw)
        if self.kind == "dirac":
            return mean.unsqueeze(1).expand(-1, num_samples, -1)
        if generator is not None:
            return sample_in_original_order(mean, std, num_samples, self.mnet.param_shapes, generator,
                                            self.kind == "radial")
        if self.kind == "radial":
            return sample_radial(mean, std, num_samples, self.mnet.param_shapes, generator)
        return sample_gaussian(mean, std, num_samples, generator)

    def predict(self, x: Tensor, raw: Tensor, num_samples: int, generator: torch.Generator | None = None,
                lrt: bool = False, condition: int | None = None) -> Tensor:
        """Predictions ``[N, K, B, O]`` of K weight samples of each of the N posteriors on inputs ``x [B, I]``.

        Args:
            condition: Task whose batch-norm statistics the main network uses (None = the newest set).
        """
        N = raw.shape[0]
        if lrt:
            mean, std = self.mean_std(raw)
            outs = []
            for n in range(N):  # LRT noise is per input; N (tasks) is small, K is batched inside
                means = unflatten_weights(mean[n], self.mnet.param_shapes)
                stds = unflatten_weights(std[n], self.mnet.param_shapes)
                outs.append(lrt_mlp_forward(self.mnet, x, means, stds, num_samples, generator))
            return torch.stack(outs)  # [N, K, B, O]
        if self.kind == "dirac":  # all K samples are identical: one forward, then expand
            out = self.mnet(x, unflatten_weights(raw, self.mnet.param_shapes), condition=condition)  # [N, B, O]
            return out.unsqueeze(1).expand(-1, num_samples, -1, -1)
        if self.kind == "gaussian" and generator is None:  # training: samples drawn per weight tensor
            mean, std = self.mean_std(raw)
            weights = sample_gaussian_per_tensor(mean, std, num_samples, self.mnet.param_shapes)
        else:
            samples = self.sample(raw, num_samples, generator).reshape(N * num_samples, -1)  # [N*K, P]
            weights = unflatten_weights(samples, self.mnet.param_shapes)
        out = self.mnet(x, weights, condition=condition)  # [N*K, B, O]
        return out.reshape(N, num_samples, *out.shape[1:])


def prior_matching(posterior: WeightPosterior, raw: Tensor, prior_variance: float, num_kl_samples: int = 1,
                   prior: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """The KL-like term of the posteriors ``raw [N, outputs]``, summed over N (spec §2.3, §2.4, §2.6).

    Analytic KL to N(0, ``prior_variance``·I) (Gaussian), to the previous posterior ``prior = (mean, std)``
    (VCL), the radial Monte-Carlo estimate with ``num_kl_samples`` samples, or 0 (Dirac).
    """
    if posterior.kind == "dirac":
        return raw.new_zeros(())
    mean, std = posterior.mean_std(raw)
    if posterior.kind == "radial":
        samples = posterior.sample(raw, num_kl_samples)
        return radial_prior_matching(std, samples, prior_variance).sum()
    if prior is not None:
        return kl_diag_gaussians(mean, std, prior[0], prior[1]).sum()
    return kl_to_prior(mean, std, prior_variance).sum()
