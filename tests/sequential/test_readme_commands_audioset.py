"""Every Split AudioSet README command parses and runs end to end at a tiny budget (spec §6, rows 78-95), plus the
family's loss and accuracy at step 10 and ``--use_best_models``.

Each command's own flags are kept; only the budget shrinks: ``--n_iter=2``, ``--batch_size=8``, ``--n_fisher=4``
(EWC), ``--val_set_size=20``, and a stand-in data set in the original pickle format (100 classes x 8 training and
2 test clips of random uint8 frames), so a task has 60 training, 20 validation and 20 test clips and every
accuracy is a multiple of 5%. The three commands with ``--during_acc_criterion`` (HNET 60, masking 25,
masking+SI 25) may stop early on such data; the test checks that they stop exactly where the criterion says.
"""

import math
import pickle
import shlex

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import sequential.runner as runner
from data.timeseries.audioset import random_audioset_arrays
from data.timeseries.sequence_task import to_batch
from sequential.args import parse_args
from sequential.audioset.train_split_audioset import main
from sequential.families import build_family
from tests.conftest import load_targets
from utils.checkpoints import load_checkpoint

SCRIPT = "sequential/audioset/train_split_audioset.py"
TINY = ["--n_iter=2", "--batch_size=8", "--val_set_size=20"]


def _targets() -> list[dict]:
    try:
        return [t for t in load_targets("targets_cl_in_rnns.json") if t["script"] == SCRIPT]
    except pytest.skip.Exception:
        return []


def _id(t: dict) -> str:
    return f"{t['id']:02d}-{t['method']}"


@pytest.fixture(scope="module")
def audioset_root(tmp_path_factory):
    """Data root holding ``audioset/audioset_data_balanced.pickle`` in the original format."""
    root = tmp_path_factory.mktemp("audioset_data")
    arrays = random_audioset_arrays((8, 2), np.random.RandomState(0))
    (root / "audioset").mkdir()
    with open(root / "audioset" / "audioset_data_balanced.pickle", "wb") as f:
        pickle.dump([arrays["x"], arrays["y"], arrays["train_ind"], arrays["test_ind"]], f)
    return root


@pytest.fixture
def tiny_data(audioset_root, monkeypatch):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(audioset_root))
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(audioset_root / "cache"))


def test_all_18_audioset_readme_commands_are_listed():
    if not _targets():
        pytest.skip("shared/spec not present")
    assert [t["id"] for t in _targets()] == list(range(78, 96))


@pytest.mark.parametrize("target", _targets(), ids=_id)
def test_readme_command_parses(target):
    config = parse_args("split_audioset", shlex.split(target["args"]))
    assert (config.num_tasks, config.num_classes_per_task, config.val_set_size) == (10, 10, 500)
    assert config.ts_weighting == "last" and config.data_random_seed == 42


@pytest.mark.parametrize("target", _targets(), ids=_id)
def test_readme_command_runs(target, tiny_data, tmp_path):
    argv = shlex.split(target["args"]) + TINY + [f"--out_dir={tmp_path / 'run'}"]
    if "--use_ewc" in argv:
        argv.append("--n_fisher=4")
    summary = main(argv)
    text = (tmp_path / "run" / "performance_overview.txt").read_text().splitlines()
    assert text[-1] == f"finished {summary['finished']}" and summary["num_train_iter"] == 2
    final = summary["final_accuracy"]
    # 20 test clips per task: every accuracy is a multiple of 5%
    assert all(0.0 <= a <= 100.0 and a % 5 == 0 for a in final)
    assert summary["mean_final_accuracy"] == pytest.approx(sum(final) / len(final))
    if "--multitask" in argv:
        assert len(final) == 10 and "mean_during_accuracy" not in summary
    else:
        during = summary["during_accuracy"]
        criterion = float(next((a.split("=")[1] for a in argv if a.startswith("--during_acc_criterion=")), -1))
        # the run stops after the first task whose during accuracy is below the criterion
        stopped = [a < criterion for a in during]
        assert stopped == [False] * (len(during) - 1) + [summary["finished"] == 0]
        assert len(final) == len(during) == (10 if summary["finished"] else len(during))
        assert all(a % 5 == 0 for a in during)
    ratio = summary["compression_ratio"]
    assert math.isnan(ratio) == ("--hnet_all" not in argv)
    if "--hnet_all" in argv:  # README: 0.98; counted on the original networks: 23,496 / 24,036
        assert ratio == pytest.approx(target["derived"]["compression_ratio"], abs=1e-4)


# ------------------------------------------------------------------------------------------------ the family
def test_loss_and_accuracy_read_step_10(tiny_data):
    config = parse_args("split_audioset", ["--num_tasks=2", "--val_set_size=20"])
    fam = build_family(config, torch.device("cpu"))
    assert [t.name for t in fam.tasks] == ["SplitAudioSet-0", "SplitAudioSet-1"] and fam.head_dim == 10
    batch = to_batch(fam.tasks[1].splits["test"], 1)
    assert batch.inputs.shape == (10, 20, 128) and batch.inputs.max() > 1  # raw 0..255 values, not normalised
    logits = torch.randn(10, 20, 10, generator=torch.Generator().manual_seed(0))
    expected = F.cross_entropy(logits[9], batch.targets, reduction="none")
    torch.testing.assert_close(fam.loss(logits, batch), expected)
    changed = logits.clone()
    changed[:9] = torch.randn(9, 20, 10)
    torch.testing.assert_close(fam.loss(changed, batch), expected)  # steps 1-9 do not count
    hits, count = fam.correct(logits, batch)
    assert count == 20 and hits == float((logits[9].argmax(-1) == batch.targets).sum())

    discount = build_family(parse_args("split_audioset", ["--num_tasks=1", "--val_set_size=20",
                                                          "--ts_weighting=discount"]), torch.device("cpu"))
    w = 0.9 ** torch.arange(9, -1, -1.0)
    nll = torch.stack([F.cross_entropy(logits[t], batch.targets, reduction="none") for t in range(10)])  # [T, B]
    torch.testing.assert_close(discount.loss(logits, batch), (w[:, None] * nll).sum(0) / w.sum())


def test_use_best_models_restores_the_last_improvement(tiny_data, tmp_path, monkeypatch):
    """Scripted validation accuracies: the first only sets the bar; the weights of the last strict improvement
    are restored after the task (task 0: 50% at the 3rd validation), or the final weights kept (task 1)."""
    scripted = {0: [30.0, 20.0, 50.0, 40.0, 45.0], 1: [60.0, 10.0, 20.0, 30.0, 40.0]}
    snapshots: dict[int, list[dict]] = {0: [], 1: []}
    real_evaluate = runner.evaluate

    def scripted_evaluate(config, model, fam, task_id, split="test", **kw):
        if split != "val":
            return real_evaluate(config, model, fam, task_id, split, **kw)
        snapshots[task_id].append({k: v.clone() for k, v in model.mnet.state_dict().items()})
        return scripted[task_id][len(snapshots[task_id]) - 1], 0.0

    monkeypatch.setattr(runner, "evaluate", scripted_evaluate)
    main(["--multi_head", "--num_tasks=2", "--n_iter=5", "--val_iter=1", "--batch_size=8", "--val_set_size=20",
          "--rnn_arch=8", "--lr=0.01", "--use_best_models", "--store_during_models", f"--out_dir={tmp_path}"])
    assert [len(s) for s in snapshots.values()] == [5, 5]  # one validation after each of the 5 steps
    for task, best in ((0, 2), (1, 4)):
        tensors, _ = load_checkpoint(tmp_path / "checkpoints" / f"models_task_{task}")
        restored = {k[len("mnet."):]: v for k, v in tensors.items() if k.startswith("mnet.")}
        assert restored.keys() == snapshots[task][best].keys()
        for k, v in restored.items():
            torch.testing.assert_close(v, snapshots[task][best][k], rtol=0, atol=0)
        others = [i for i in range(5) if not all(torch.equal(v, snapshots[task][i][k]) for k, v in restored.items())]
        assert others == [i for i in range(5) if i != best]  # every step changed the weights


@pytest.mark.parametrize("target", [t for t in _targets() if "--during_acc_criterion" in t["args"]], ids=_id)
def test_readme_commands_with_a_criterion_run_all_tasks_without_it(target, tiny_data, tmp_path):
    """HNET, masking and masking+SI through all 10 tasks (the criterion switched off), so their regularisers and
    per-task masks run on AudioSet too."""
    argv = shlex.split(target["args"]) + TINY + ["--during_acc_criterion=-1", f"--out_dir={tmp_path}"]
    summary = main(argv)
    assert summary["finished"] == 1 and len(summary["during_accuracy"]) == len(summary["final_accuracy"]) == 10


def test_missing_data_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as err:
        main(TINY + [f"--out_dir={tmp_path / 'run'}"])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{tmp_path}/empty/audioset/audioset_data_balanced.pickle" in lines[0]
    assert "python -m data.timeseries.preprocess_audioset" in lines[0]


def test_too_large_validation_set_exits_2_naming_the_flag(tiny_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["--n_iter=1", f"--out_dir={tmp_path}"])  # the default --val_set_size=500 > 80 training clips
    assert err.value.code == 2
    assert "--val_set_size=500 must be smaller than the 80 training clips of task 0" in capsys.readouterr().err


def test_generative_replay_distills_at_the_last_step():
    """AudioSet has no end-of-digit flag: generated clips are read at step 10 whatever their last channel holds."""
    from sequential.generative_replay import ReplayedData, replay_distillation

    T, R, O = 10, 6, 10
    g = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(T, R, O, generator=g), torch.randn(T, R, O, generator=g)
    inputs = torch.zeros(T, R, 128)
    inputs[3, :, -1] = 200.0  # would be an end-of-digit flag at step 4 for the SMNIST families
    replay = ReplayedData(inputs, torch.zeros(R, dtype=torch.long), torch.ones(T, R, dtype=torch.bool))
    kd, hits, count = replay_distillation("last_step", student, teacher, replay)
    expected, _, _ = replay_distillation("last_step", student[-1:].expand(T, R, O), teacher[-1:].expand(T, R, O),
                                         replay)
    torch.testing.assert_close(kd, expected)
    assert count == R and hits == float((student[-1].argmax(-1) == teacher[-1].argmax(-1)).sum())
    kd_eod, _, _ = replay_distillation("class", student, teacher, replay)
    assert not torch.allclose(kd_eod, kd)  # the SMNIST rule reads step 5 here


def test_generative_replay_and_hnet_r_run_on_audioset(tiny_data, tmp_path):
    for i, extra in enumerate(([], ["--hnet_all", "--use_new_hnet", "--nh_hnet_type=chunked_hmlp",
                                    "--nh_chmlp_chunk_size=2000"])):
        summary = main(["--multi_head", "--num_tasks=3", "--use_replay", "--latent_dim=4",
                        f"--out_dir={tmp_path / str(i)}", *TINY, *extra])
        assert summary["finished"] == 1 and len(summary["final_accuracy"]) == 3
        assert all(a % 5 == 0 for a in summary["final_accuracy"])
