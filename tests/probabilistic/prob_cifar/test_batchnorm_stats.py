"""Per-task batch-norm statistics (:mod:`probabilistic.classification.batchnorm_stats`): after task t its running
statistics are kept, and at test time model j normalises with task j's set."""

import argparse

import pytest
import torch
from torch import nn

from mnets.base import unflatten_weights
from mnets.resnet import ResNet
from probabilistic.args import parse_args
from probabilistic.classification.batchnorm_stats import (
    checkpoint_task_stats,
    checkpoints_stats,
    num_stats_sets,
    with_task_stats,
)
from probabilistic.classification.families import build_main_net, load_tasks
from probabilistic.heads import Heads
from probabilistic.methods.explicit import build_posterior
from probabilistic.posterior import WeightPosterior
from probabilistic.prob_cifar import train_resnet_bbb
from utils.task_state import load_task_state


def bn_config(**flags) -> argparse.Namespace:
    return argparse.Namespace(**{"bn_no_running_stats": False, "bn_no_stats_checkpointing": False,
                                 "train_from_scratch": False, **flags})


def tiny_resnet() -> ResNet:
    return ResNet(num_classes=4, num_feature_maps=(4, 4, 8, 16), block_depth=1, no_weights=True)


def train_two_tasks(config: argparse.Namespace) -> tuple[WeightPosterior, torch.Tensor]:
    """A deterministic posterior whose BN statistics see task 0 inputs (bright), then task 1 inputs (dark)."""
    torch.manual_seed(0)
    post = WeightPosterior(tiny_resnet(), "dirac", keep_orig_init=True)
    x0, x1 = torch.rand(16, 3072) + 2, torch.rand(16, 3072) - 2
    post.train()
    for task_id, x in enumerate((x0, x1)):
        for _ in range(3):
            post.predict(x, post.raw([task_id]), 1)  # training-mode passes update the newest set
        checkpoint_task_stats(config, post.mnet, task_id)
    post.eval()
    return post, x0


def test_test_phase_model_j_uses_task_j_statistics():
    config = bn_config()
    post, x0 = train_two_tasks(config)
    mnet = post.mnet
    assert num_stats_sets(mnet) == 3  # task 0, task 1, and the fresh set of the next task
    mean0, _ = mnet.batchnorm_layers[0].stats(0)
    mean1, _ = mnet.batchnorm_layers[0].stats(1)
    assert (mean0 - mean1).abs().max() > 0.1  # bright vs dark inputs

    def unused(*args):
        raise AssertionError("with per-task statistics every task is evaluated on its own")

    out = with_task_stats(unused, config, mnet)(post, x0, [0, 1], 1, torch.Generator().manual_seed(3))  # [2, 1, B, O]
    w = unflatten_weights(post.raw([0]), mnet.param_shapes)
    with torch.no_grad():
        ref = [mnet(x0, w, condition=j)[0] for j in (0, 1)] + [mnet(x0, w)[0]]  # task 0, task 1, newest (fresh)
    assert torch.allclose(out[0, 0], ref[0], atol=1e-5) and torch.allclose(out[1, 0], ref[1], atol=1e-5)
    assert (ref[0] - ref[1]).abs().max() > 1e-2 and (ref[0] - ref[2]).abs().max() > 1e-2


@pytest.mark.parametrize("flag", ["bn_no_stats_checkpointing", "bn_no_running_stats", "train_from_scratch"])
def test_no_checkpointing_keeps_one_set(flag):
    config = bn_config(**{flag: True})
    post, _ = train_two_tasks(config)
    assert not checkpoints_stats(config, post.mnet)
    assert num_stats_sets(post.mnet) == 1

    def predict(*args):
        return "unchanged"

    assert with_task_stats(predict, config, post.mnet) is predict


def test_run_tests_each_task_with_its_own_statistics(tiny_cifar_root, tmp_path):
    """A frozen network (lr 0) so that only the BN statistics change between tasks: the test-phase accuracies in
    the summary are those of model j with task j's statistics, not with the newest set. Large N(0, 2²) initial
    weights: with the original's Xavier init and zero biases this tiny ResNet predicts one class whatever the
    statistics."""
    argv = ["--mnet_only", "--mean_only", "--kl_scale=0", "--kl_schedule=0", "--train_sample_size=1",
            "--val_sample_size=1", "--lr=0", "--normal_init", "--std_normal_init=2.0", "--keep_orig_init",
            "--num_tasks=3", "--num_classes_per_task=2",
            "--cl_scenario=1", "--resnet_block_depth=1", "--resnet_channel_sizes=4,4,8,16", "--epochs=2",
            "--batch_size=4", "--val_iter=1000", "--loglevel_info", f"--data_dir={tiny_cifar_root}"]
    summary = train_resnet_bbb.main(argv + [f"--out_dir={tmp_path / 'run'}"])
    config = parse_args("cifar_resnet_bbb", argv)
    cpu = torch.device("cpu")
    tasks = load_tasks("resnet", config, cpu)
    heads = Heads(1, 3, 2)
    post = build_posterior(config, build_main_net("resnet", config, tasks[0].in_dim, heads.num_outputs), 3, cpu)
    load_task_state(tmp_path / "run", 2, nn.ModuleList([post]), cpu)
    post.eval()
    mnet = post.mnet
    assert num_stats_sets(mnet) == 4  # tasks 0, 1, 2 and the fresh set after the last task
    w = unflatten_weights(post.raw([0]), mnet.param_shapes)

    def accuracies(own_stats: bool) -> list[float]:
        accs = []
        for j, task in enumerate(tasks):
            with torch.no_grad():
                out = mnet(task.inputs("test"), w, condition=j if own_stats else None)[0]  # [B, O]
            pred = heads.logits(out, j).argmax(-1)
            accs.append((pred == task.targets("test", one_hot=False)).float().mean().item() * 100)
        return accs

    assert summary["acc_task_given"] == pytest.approx(accuracies(own_stats=True), abs=1e-4)
    assert summary["acc_task_given"] != pytest.approx(accuracies(own_stats=False), abs=1e-4)
    means = [mnet.batchnorm_layers[0].stats(j)[0] for j in range(4)]
    assert all((means[j] - means[k]).abs().max() > 0 for j in range(3) for k in range(j + 1, 4))
