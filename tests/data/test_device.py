"""On a GPU the handlers hold their tensors there and give the same batches as on the CPU (same seeds)."""

import pytest
import torch

from data.special.permuted_mnist import get_permuted_mnist_handlers
from data.special.split_cifar import get_split_cifar_handlers

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_permuted_mnist_on_cuda_matches_cpu(tiny_mnist):
    root, _ = tiny_mnist
    cpu = get_permuted_mnist_handlers(root, num_tasks=3, seed=4)
    gpu = get_permuted_mnist_handlers(root, num_tasks=3, seed=4, device="cuda")
    assert all(t.device.type == "cuda" for d in gpu for t in d.tensors())
    for c, g in zip(cpu, gpu):
        bc, bg = c.next_train_batch(64), g.next_train_batch(64)
        assert bg.inputs.is_cuda and torch.equal(bc.ids, bg.ids.cpu())
        assert torch.equal(bc.inputs, bg.inputs.cpu()) and torch.equal(bc.targets, bg.targets.cpu())


@cuda
def test_cifar_augmentation_on_cuda_matches_cpu(tiny_cifar):
    root, _ = tiny_cifar
    cpu = get_split_cifar_handlers(root, num_tasks=2, num_classes_per_task=2, seed=1)
    gpu = get_split_cifar_handlers(root, num_tasks=2, num_classes_per_task=2, seed=1, device="cuda")
    for c, g in zip(cpu, gpu):
        bc, bg = c.next_train_batch(32), g.next_train_batch(32)
        torch.testing.assert_close(bc.inputs, bg.inputs.cpu(), rtol=0, atol=1e-6)
        torch.testing.assert_close(c.inputs("test"), g.inputs("test").cpu(), rtol=0, atol=1e-6)
