"""Coresets, their losses (max-entropy regulariser, experience-replay distillation), the final coreset fine-tuning
batches/targets and the epoch-wise LR schedulers (spec §2.1, §2.11)."""

import argparse
import math

import pytest
import torch

from data.dataset import Dataset
from probabilistic.classification.coreset_finetune import finetune_batch, finetune_iterations, finetune_targets
from probabilistic.classification.coresets import (
    Coresets,
    build_up_front,
    distillation,
    experience_replay_batch,
    max_entropy_loss,
)
from probabilistic.classification.schedulers import EpochSchedulers, keras_resnet_factor
from probabilistic.heads import Heads


def toy_task(task_id: int, n: int = 30, dim: int = 4) -> Dataset:
    g = torch.Generator().manual_seed(task_id)
    x = torch.randn(n, dim, generator=g) + 3 * task_id
    y = torch.arange(n) % 2
    return Dataset((x, y), (x[:6], y[:6]), name=f"toy{task_id}", in_shape=(dim,), num_classes=2,
                   transform=lambda x, augment, generator: x, seed=task_id)


def test_per_task_coresets_store_training_samples_and_sample_only_requested_tasks():
    tasks = [toy_task(t) for t in range(3)]
    cs = Coresets(3, 5, per_task=True, seed=0)
    ids = [cs.add_task(task, t) for t, task in enumerate(tasks)]
    for t, task in enumerate(tasks):
        assert len(set(ids[t].tolist())) == 5
        assert torch.equal(cs.inputs[t], task.inputs("train", ids[t]))
        assert torch.equal(cs.labels[t], task.targets("train", ids[t], one_hot=False))
    x, y, owner = cs.sample([0, 2], 200)
    assert x.shape == (200, 4) and set(owner.tolist()) == {0, 2}
    assert cs.total() == 15


def test_building_up_front_removes_coreset_samples_from_the_training_sets():
    tasks = [toy_task(t) for t in range(2)]
    cs = Coresets(2, 7, per_task=True, seed=1)
    build_up_front(cs, tasks, remove=True)
    for t, task in enumerate(tasks):
        assert task.num_train == 23
        remaining = {tuple(r.tolist()) for r in task.inputs("train")}
        assert not remaining & {tuple(r.tolist()) for r in cs.inputs[t]}
        assert task.next_train_batch(23).inputs.shape == (23, 4)


def test_shared_coreset_replaces_the_most_uncertain_samples_with_new_task_samples():
    tasks = [toy_task(t) for t in range(2)]
    cs = Coresets(2, 6, per_task=False, seed=0)
    cs.update_after_task(tasks[0], 0, entropy=None)
    old = cs.inputs[0].clone()
    cs.update_after_task(tasks[1], 1, entropy=lambda x: x[:, 0])  # "entropy" = first input dimension
    kept = old[old[:, 0].argsort()[:3]]  # 6 // 2 = 3 highest-entropy samples replaced
    assert sorted(cs.inputs[0][:, 0].tolist()) == sorted(kept[:, 0].tolist())
    assert cs.inputs[1].shape[0] == 3 and cs.total() == 6


def test_max_entropy_loss_is_log_width_at_uniform_logits_and_has_zero_gradient_there():
    logits = torch.zeros(3, 5, 4, requires_grad=True)
    loss = max_entropy_loss(logits)
    loss.backward()
    assert loss.item() == pytest.approx(math.log(4))
    assert torch.allclose(logits.grad, torch.zeros_like(logits.grad))
    assert max_entropy_loss(torch.tensor([[[5.0, 0, 0, 0]]])) > math.log(4)


def test_distillation_from_itself_is_the_tempered_entropy_and_stationary():
    teacher = torch.randn(8, 3)
    student = teacher.clone().requires_grad_(True)
    loss = distillation(student, teacher)
    loss.backward()
    p = (teacher / 2).softmax(-1)
    assert loss.item() == pytest.approx(4 * -(p * p.log()).sum(-1).mean().item(), rel=1e-5)
    assert student.grad.abs().max() < 1e-6


def test_experience_replay_splits_the_batch_with_fix_coreset_size_and_is_zero_loss_gradient_for_the_teacher():
    tasks = [toy_task(t) for t in range(3)]
    cs = Coresets(3, 5, per_task=True, seed=0)
    build_up_front(cs, tasks, remove=False)
    heads = Heads(3, 3, 2, shared_model=True)  # growing softmax
    net = torch.nn.Linear(4, 6)
    fixed = experience_replay_batch(cs, 2, heads, net, 8, fix_coreset_size=True)
    assert fixed.inputs.shape == (8, 4)  # 8 // 2 per old task
    full = experience_replay_batch(cs, 2, heads, net, 8, fix_coreset_size=False)
    assert full.inputs.shape == (16, 4)
    out = net(full.inputs).unsqueeze(0).detach().requires_grad_(True)
    full.loss(out).backward()
    assert out.grad.abs().max() < 1e-6  # student == teacher


def _ft_config(**kw):
    c = dict(coreset_batch_size=10, final_coresets_single_task=False, final_coresets_balance=-1,
             final_coresets_use_random_labels=False, final_coresets_n_iter=-1, final_coresets_epochs=-1, epochs=-1,
             n_iter=100)
    c.update(kw)
    return argparse.Namespace(**c)


def test_final_finetune_batches_balance_own_and_other_tasks():
    tasks = [toy_task(t) for t in range(3)]
    cs = Coresets(3, 5, per_task=True, seed=0)
    build_up_front(cs, tasks, remove=False)
    _, _, owner = finetune_batch(_ft_config(final_coresets_balance=0.25), cs, 1)
    assert (owner == 1).sum() == 3 and (owner != 1).sum() == 7  # ceil(0.25 * 10) own samples
    _, _, owner = finetune_batch(_ft_config(final_coresets_single_task=True), cs, 2)
    assert (owner == 2).all()
    assert finetune_iterations(_ft_config(final_coresets_epochs=2), 15) == 4
    assert finetune_iterations(_ft_config(), 15) == 100


def test_final_finetune_targets_one_hot_for_own_samples_and_uniform_or_random_for_others():
    heads = Heads(3, 3, 2, split_head=True)
    labels, owner = torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 2])
    gen = torch.Generator().manual_seed(0)
    target = finetune_targets(_ft_config(), heads, labels, owner, 1, 2, gen)
    assert torch.equal(target, torch.tensor([[1.0, 0], [0, 1], [0.5, 0.5], [0.5, 0.5]]))
    rnd = finetune_targets(_ft_config(final_coresets_use_random_labels=True), heads, labels, owner, 1, 2, gen)
    assert torch.equal(rnd[:2], target[:2]) and torch.equal(rnd.sum(-1), torch.ones(4)) and rnd.max() == 1


def test_keras_resnet_step_schedule():
    assert [keras_resnet_factor(e) for e in (0, 80, 81, 121, 161, 181)] == [1, 1, 0.1, 0.01, 0.001, 0.0005]


def test_epoch_schedulers_step_at_epoch_boundaries_only():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    config = argparse.Namespace(plateau_lr_scheduler=True, lambda_lr_scheduler=False)
    sched = EpochSchedulers(config, opt, iters_per_epoch=3, val_accuracy=lambda: 50.0)
    for it in range(3 * 6):  # 6 epochs: best at epoch 1, then 5 epochs without improvement -> still patient
        sched.after_step(it)
    assert opt.param_groups[0]["lr"] == 1.0
    for it in range(18, 21):  # 7th epoch without improvement: reduce by sqrt(0.1)
        sched.after_step(it)
    assert opt.param_groups[0]["lr"] == pytest.approx(math.sqrt(0.1))
    opt = torch.optim.SGD([param], lr=1.0)
    step = EpochSchedulers(argparse.Namespace(lambda_lr_scheduler=True), opt, 2, lambda: 0.0)
    for it in range(2 * 81):
        opt.step()
        step.after_step(it)
    assert step.step_lr.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
