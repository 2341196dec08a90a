"""RNN runs resume after their last finished task and end with the numbers of an uninterrupted run (copy task, one
README command per method family at a tiny budget)."""

import json
import shlex

import numpy as np
import pytest

import sequential.families as families
from sequential.copy.train_copy import main
from tests.conftest import SHARED, simulate_crash_in_task_3

METHODS = ("hnet", "online_ewc", "si", "masking+si", "coresets_100", "from_scratch", "generative_replay")
#: HNET+R (the hypernetwork generates the replay decoder; its snapshot is a view of the targets): the generative
#: replay command with ``--hnet_all``.
HNET_R = "hnet+r"


def _copy_commands() -> dict[str, str]:
    path = SHARED / "spec" / "targets_cl_in_rnns.json"
    if not path.exists():
        return {}
    picked = {}
    for t in json.loads(path.read_text()):
        if t["script"].endswith("train_copy.py") and t["method"] in METHODS and t["method"] not in picked:
            picked[t["method"]] = t["args"]
    if "generative_replay" in picked:
        picked[HNET_R] = picked["generative_replay"] + " --hnet_all"
    return picked


@pytest.fixture
def tiny_copy(monkeypatch):
    monkeypatch.setattr(families, "COPY_SIZES", (64, 32, 32))


@pytest.mark.parametrize("method", [*METHODS, HNET_R])
def test_resume_after_a_crash_equals_the_uninterrupted_run(method, tiny_copy, tmp_path):
    commands = _copy_commands()
    if not commands:
        pytest.skip("shared/spec not present")
    argv = shlex.split(commands[method]) + ["--n_iter=6", "--batch_size=8", "--num_tasks=3", "--loglevel_info"]
    if "--use_ewc" in argv:
        argv.append("--n_fisher=4")
    if "--coreset_size=100" in argv:
        argv.append("--coreset_size=8")
    full = main(argv + [f"--out_dir={tmp_path / 'full'}"])
    main(argv + [f"--out_dir={tmp_path / 'cut'}"])
    simulate_crash_in_task_3(tmp_path / "cut", task_index=2)  # the rerun resumes after task 2 of 3
    resumed = main(argv + [f"--out_dir={tmp_path / 'cut'}"])
    assert json.dumps(resumed) == json.dumps(full)  # every key equal, NaN compression ratios included
    acc = [np.load(tmp_path / run / "test_acc.npy") for run in ("cut", "full")]
    np.testing.assert_array_equal(*acc)
    assert "Resuming after task 2" in (tmp_path / "cut" / "logfile.txt").read_text()


def test_fused_kernel_templates_leave_the_global_rng_alone(monkeypatch):
    import torch

    import sequential.networks as networks

    monkeypatch.setattr(networks, "_KERNELS", {})
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    networks._kernel(True, 7, 11, "tanh")  # first use in this process: builds the template
    assert torch.equal(torch.rand(3), expected)

