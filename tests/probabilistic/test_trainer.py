"""The one trainer: what merging the per-method runners fixed on purpose (docs/architecture.rst), and that a
method's hooks run in the documented order."""

import importlib

import pytest
import torch

from probabilistic.args import parse_args
from probabilistic.families.classification import ClassificationFamily
from probabilistic.methods.implicit import ImplicitMethod
from probabilistic.registry import METHODS, family_and_method
from probabilistic.trainer import run_with


def test_registry_covers_every_parser_mode():
    from probabilistic.args import MODES

    for mode, (method, experiment) in MODES.items():
        family, m = family_and_method(parse_args(mode, []))
        assert isinstance(m, METHODS[method]) and family.name == ("regression" if experiment == "reg"
                                                                    else "classification")


def test_acc_dis_is_the_last_evaluations_discriminator_accuracy(tmp_path):
    """Fraction of the V = 4 validation samples the discriminator calls fake, in % (multiples of 25; was: of the
    last update's ``dis_batch_size`` = 3 samples, multiples of 33.3)."""
    launcher = importlib.import_module("probabilistic.prob_gmm.train_gmm_avb")
    s = launcher.main(["--cl_scenario=1", "--use_adam", "--lr=0.001", "--train_sample_size=10", "--num_kl_samples=10",
                       "--imp_hmlp_arch=10,10", "--latent_dim=8", "--full_support_perturbation=0.02",
                       "--dis_batch_size=3", "--n_iter=40", "--val_iter=20", "--val_sample_size=4",
                       f"--out_dir={tmp_path}", "--loglevel_info"])
    assert len(s["acc_dis"]) == 3
    for acc in s["acc_dis"]:
        assert 0 <= acc <= 100 and acc / 25 == pytest.approx(round(acc / 25))
    assert s["acc_avg_dis"] == pytest.approx(sum(s["acc_dis"]) / 3)


def test_implicit_classification_honours_init_with_prev_emb(tmp_path):
    config = parse_args("gmm_avb", ["--init_with_prev_emb", f"--out_dir={tmp_path}", "--loglevel_info"])
    family, method = ClassificationFamily(config), ImplicitMethod(config, "avb")
    ctx = family.setup(config, method, None, None)
    method.build(ctx, family)
    embs = method.current.hh_net.conditional_params
    assert not torch.equal(embs[1], embs[0])
    method.before_task(1)
    assert torch.equal(embs[1], embs[0])
    ctx.env.close()


class Recorder(ImplicitMethod):
    """An implicit method that records the order in which the trainer calls its hooks."""

    calls: list[str] = []

    def before_task(self, task_id):
        self.calls.append(f"before_task {task_id}")
        super().before_task(task_id)

    def after_task(self, task_id):
        self.calls.append(f"after_task {task_id}")
        super().after_task(task_id)

    def train_step(self, batch, task_id, it, n_iter):
        self.calls.append(f"step {task_id}.{it}")
        return super().train_step(batch, task_id, it, n_iter)


def test_trainer_calls_the_hooks_in_order(tmp_path):
    config = parse_args("gmm_ssge", ["--use_adam", "--lr=0.001", "--clip_grad_norm=1.0", "--imp_hmlp_arch=10,10",
                                     "--full_support_perturbation=0.02", "--ssge_sample_size=20", "--n_iter=2",
                                     "--val_iter=100", f"--out_dir={tmp_path}", "--loglevel_info"])
    Recorder.calls = []
    summary = run_with(config, ClassificationFamily(config), Recorder(config, "ssge"))
    assert summary["finished"] == 1
    assert Recorder.calls == [c for t in range(3) for c in
                              (f"before_task {t}", f"step {t}.0", f"step {t}.1", f"after_task {t}")]
