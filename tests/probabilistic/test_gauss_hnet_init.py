"""``--hyper_gauss_init`` for chunked hypernetworks and ``--hyper_fan_init`` for chunked implicit hypernetworks:
the generated weights have the intended variances at initialisation. Linear hypernetworks (as the README's
``--hmlp_arch=""``): the Xavier-variant hidden layers of the original halve the variance at every ReLU."""

import torch

from hnets.chunked_hmlp import ChunkedHMLP
from hnets.implicit import ImplicitHnet
from mnets.mlp import MLP
from probabilistic.gauss_hnet_init import MEAN_INIT_VAR, RHO_INIT_VAR, gauss_chunked_hyperfan_init_
from probabilistic.implicit import imp_hyperfan_init_


def test_chunked_gauss_init_gives_mean_and_rho_outputs_the_wrappers_init_variances():
    torch.manual_seed(0)
    mnet = MLP(100, 10, [100, 100], no_weights=True)
    P = mnet.num_params
    hnet = ChunkedHMLP(mnet.param_shapes + mnet.param_shapes, chunk_size=2000, chunk_emb_size=32, cond_in_size=32,
                       layers=[], num_cond_embs=20)
    gauss_chunked_hyperfan_init_(hnet, mnet.param_shapes_meta, std_normal_temb=0.05)
    with torch.no_grad():
        out = hnet(cond_id=list(range(20)))  # [20, 2P]
    mean_var, rho_var = out[:, :P].var().item(), out[:, P:].var().item()
    assert 0.5 * MEAN_INIT_VAR < mean_var < 2 * MEAN_INIT_VAR
    assert 0.5 * RHO_INIT_VAR < rho_var < 2 * RHO_INIT_VAR


def test_chunked_implicit_hyperfan_init_gives_fan_in_weight_variances():
    torch.manual_seed(0)
    mnet = MLP(200, 10, [200], no_weights=True)
    imp = ImplicitHnet(mnet.param_shapes, latent_dim=16, layers=[], chunk_size=1000, chunk_emb_size=16)
    imp_hyperfan_init_(imp, mnet.param_shapes_meta, latent_std=0.05)
    with torch.no_grad():
        w = imp(imp.sample_noise(50, latent_std=0.05))  # [50, P]
    first = w[:, :200 * 200]  # the first layer's weights: Kaiming fan-in variance 2 / 200 ...
    # ... times 2: hypnettorch's chunked hyperfan also gives the (linear) output layer Kaiming gain 2
    assert 0.7 < first.var().item() / (2 * 2 / 200) < 1.3
