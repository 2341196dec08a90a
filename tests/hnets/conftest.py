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
def _small_tensor_cpu_settings():
    """One thread and PyTorch's plain CPU convolutions for the tiny networks of these tests: oneDNN builds a
    primitive per new convolution shape (about a second each on 2 cores), and OpenMP barriers make tiny ops
    orders of magnitude slower when the cores are oversubscribed (``pytest -n 2`` on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's TF32 notice when toggling the backend
        flags = torch.backends.mkldnn.flags(enabled=False)
        flags.__enter__()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flags.__exit__(None, None, None)
    torch.set_num_threads(threads)
