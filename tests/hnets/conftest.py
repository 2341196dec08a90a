"""hypnettorch 0.0.4 hypernetworks as the oracle."""

import warnings
from types import SimpleNamespace

import pytest
import torch


@pytest.fixture
def hht():
    """``hypnettorch.hnets`` (HMLP, ChunkedHMLP, StructuredHMLP, structured chunking examples) and mnets."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import hypnettorch.hnets as hnets
        import hypnettorch.hnets.structured_hmlp_examples as examples
        import hypnettorch.mnets as mnets
    return SimpleNamespace(HMLP=hnets.HMLP, ChunkedHMLP=hnets.ChunkedHMLP, StructuredHMLP=hnets.StructuredHMLP,
                           resnet_chunking=examples.resnet_chunking, wrn_chunking=examples.wrn_chunking,
                           mnets=mnets)


@pytest.fixture(autouse=True)
def _plain_cpu_convolutions():
    """oneDNN builds a primitive per new convolution shape (about a second each on 2 cores); the many tiny
    network configurations of these tests run several times faster on PyTorch's plain CPU kernels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's TF32 notice when toggling the backend
        flags = torch.backends.mkldnn.flags(enabled=False)
        flags.__enter__()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flags.__exit__(None, None, None)
