"""Implicit hypernetwork: maps noise ``z`` to main-network weights, so that ``q(w)`` is an implicit distribution
(the AVB/SSGE posteriors of the posterior-replay paper).

The network has an unconditional input only (no task embeddings): an MLP with hypnettorch ``HMLP``'s layout
(``uncond_in_size=latent_dim, cond_in_size=0``), or a chunked one (``ChunkedHMLP`` layout) with ``chunk_size``.
A batch of K noise vectors gives K weight samples in one call.

Full-support perturbation (``full_support_perturbation = sigma != -1``, hypnettorch's ``HPerturbWrapper``):
``z`` has the dimension P of the weights, its first ``latent_dim`` entries feed the network and
``w = h(z[:latent_dim]) + sigma * z``, so that q has support on all of R^P (note: sigma, not sigma^2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hnets.base import HyperNet
from hnets.chunked_hmlp import ChunkedHMLP
from mnets.mlp import MLP


class ImplicitHnet(HyperNet):
    """``z [K, noise_dim] -> w [K, P]``.

    Args:
        target_shapes: ``param_shapes`` of the main network.
        latent_dim: Number of noise entries the network reads.
        layers, activation_fn, use_bias, dropout_rate: The MLP's hidden layers and options.
        chunk_size: Produce the weights in chunks of this size (None = one output layer for all P weights).
        chunk_emb_size: Chunk-embedding size (with ``chunk_size``).
        full_support_perturbation: sigma of the perturbation ``sigma * z`` (-1 = off).
        no_weights: The network's parameters are passed to :meth:`forward` (e.g. generated per task by a
            hyper-hypernetwork from :attr:`param_shapes`).
    """

    def __init__(self, target_shapes: Sequence[Sequence[int]], latent_dim: int,
                 layers: Sequence[int] = (100, 100), activation_fn: str = "relu", use_bias: bool = True,
                 chunk_size: int | None = None, chunk_emb_size: int = 8, full_support_perturbation: float = -1,
                 no_weights: bool = False, dropout_rate: float = -1) -> None:
        super().__init__(target_shapes)
        self.latent_dim, self.sigma = latent_dim, full_support_perturbation
        if self.sigma != -1 and latent_dim > self.num_outputs:
            raise ValueError("latent_dim may not exceed the number of weights with full-support perturbation")
        if chunk_size is None:
            core = MLP(latent_dim, self.num_outputs, layers, activation_fn, use_bias, no_weights, dropout_rate)
            meta = [{"name": m["name"], "layer": 2 * m["layer"] + 1} for m in core.param_shapes_meta]
        else:
            core = ChunkedHMLP(self.target_shapes, chunk_size, chunk_emb_size, uncond_in_size=latent_dim,
                               cond_in_size=0, layers=layers, activation_fn=activation_fn, use_bias=use_bias,
                               no_uncond_weights=no_weights, num_cond_embs=0, dropout_rate=dropout_rate)
            meta = core.param_shapes_meta
        self.param_shapes = [list(s) for s in core.param_shapes]
        self.param_shapes_meta = [dict(m) for m in meta]
        # This module owns the parameters (created in hypnettorch's order by the core); the core runs with
        # the weights passed in.
        if not no_weights:
            self.internal_params = nn.ParameterList(list(core.internal_params))
        core.internal_params = None
        self.core = core

    @property
    def noise_dim(self) -> int:
        """Size of ``z``: P with full-support perturbation, else ``latent_dim``."""
        return self.num_outputs if self.sigma != -1 else self.latent_dim

    def sample_noise(self, K: int, latent_std: float = 1.0, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> Tensor:
        """``z ~ N(0, latent_std^2 I)`` of shape ``[K, noise_dim]``."""
        return latent_std * torch.randn(K, self.noise_dim, generator=generator, device=device)

    def forward(self, z: Tensor, weights: Sequence[Tensor] | None = None) -> Tensor:
        """K weight samples ``[K, P]`` for noise ``z`` ``[K, noise_dim]``.

        Args:
            weights: The network's parameters in :attr:`param_shapes` order (default: internal).
        """
        if weights is None:
            if len(self.internal_params) == 0:
                raise ValueError("ImplicitHnet was built with no_weights=True; pass `weights`")
            weights = list(self.internal_params)
        latent = z[:, :self.latent_dim]
        if isinstance(self.core, MLP):
            w = self.core(latent, weights)
        else:
            w = self.core(uncond_input=latent, weights=weights)
        return w if self.sigma == -1 else w + self.sigma * z
