"""SupSup entropy-gradient task inference (spec §2.13): forward-mode Jacobian = the original's per-sample reverse
mode gradients; summary keys appended after ``finished``."""

import importlib
import math

import pytest
import torch

from probabilistic.args import parse_args
from probabilistic.classification.families import build_main_net
from probabilistic.classification.supsup import entropy_gradients, infer_tasks
from probabilistic.heads import Heads
from probabilistic.methods.explicit import build_posterior


@pytest.mark.parametrize("hnet", ["hmlp", "chunked_hmlp"])
def test_forward_mode_jacobian_equals_per_sample_autograd(hnet):
    torch.manual_seed(0)
    config = parse_args("gmm_bbb", ["--mean_only", "--kl_scale=0", "--kl_schedule=0", f"--hnet_type={hnet}",
                                    "--chmlp_chunk_size=50", "--cl_scenario=3"])
    heads = Heads(3, 3, 2)
    post = build_posterior(config, build_main_net("gmm", config, 2, heads.num_outputs), 3, torch.device("cpu"))
    x = torch.randn(6, 2) * 3
    alpha = torch.full((3,), 1 / 3)
    with torch.no_grad():
        jac = entropy_gradients(post, x, alpha, heads, 1, lrt=False)
    a = alpha.clone().requires_grad_(True)
    emb = torch.stack([post.hnet.conditional_params[k] for k in range(3)]).detach()
    out = post.predict(x, post.hnet(cond_input=(a[:, None] * emb).sum(0, keepdim=True)), 1)[0, 0, :, :6]
    p = out.softmax(-1)
    ent = -(p * p.log()).sum(-1) / math.log(2)
    rows = torch.stack([torch.autograd.grad(ent[b], a, retain_graph=True)[0] for b in range(6)])
    assert torch.allclose(jac, rows, atol=1e-5)
    inferred = infer_tasks(post, x, 3, heads, steps=3, lr=0.01, num_samples=1, batch_size=4)
    assert inferred.shape == (6,) and inferred.max() < 3


def test_supsup_summary_keys_follow_finished(tmp_path):
    launcher = importlib.import_module("probabilistic.prob_gmm.train_gmm_bbb")
    s = launcher.main(["--mean_only", "--kl_scale=0", "--kl_schedule=0", "--cl_scenario=3", "--use_adam",
                       "--lr=0.005", "--beta=0.05", "--n_iter=100", "--supsup_task_inference", "--supsup_grad_steps=3",
                       f"--out_dir={tmp_path}", "--loglevel_info"])
    keys = list(s)
    assert keys[-3:] == ["finished", "avg_task_inference_acc_ent_grad", "task_inference_acc_ent_grad"]
    assert len(s["task_inference_acc_ent_grad"]) == 3 and 0 <= s["avg_task_inference_acc_ent_grad"] <= 100
    text = (tmp_path / "performance_overview.txt").read_text()
    assert text.index("finished") < text.index("avg_task_inference_acc_ent_grad")


def test_supsup_rejects_conditional_chunk_embeddings(tmp_path, capsys):
    launcher = importlib.import_module("probabilistic.prob_gmm.train_gmm_bbb")
    with pytest.raises(SystemExit) as exc:
        launcher.main(["--mean_only", "--kl_scale=0", "--kl_schedule=0", "--hnet_type=chunked_hmlp",
                       "--use_cond_chunk_embs", "--supsup_task_inference", "--n_iter=1", f"--out_dir={tmp_path}"])
    assert exc.value.code == 2 and "--use_cond_chunk_embs" in capsys.readouterr().err
