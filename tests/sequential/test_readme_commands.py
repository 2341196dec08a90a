"""Every Copy, Split-SMNIST and Seq-SMNIST README command parses and runs end to end at a tiny budget (spec §6).

Each command's own flags are kept; only the budget shrinks: ``--n_iter=2``, ``--batch_size=8``, ``--n_fisher=4`` (EWC),
``--val_set_size=16`` where the script has it, tiny generated datasets (Copy Task, Seq-SMNIST) and a tiny
Stroke-MNIST in de Jong's layout. All 66 commands run: the first command of every (script, method) pair unmarked,
the others marked ``slow`` (CI runs them too; ``-m "not slow"`` deselects them locally). The whole set takes about
half a minute of CPU with one intra-op thread (``conftest.py``). Every generative-replay and HNET+R command
(README 11, 34-37) is in the unmarked subset.
"""

import json
import math
import re
import shlex

import pytest

import sequential.families as families
from sequential.copy.train_copy import main as copy_main
from sequential.seq_smnist.train_seq_smnist import main as seq_smnist_main
from sequential.smnist.train_split_smnist import main as split_smnist_main
from tests.conftest import SHARED

MAINS = {
    "sequential/copy/train_copy.py": copy_main,
    "sequential/smnist/train_split_smnist.py": split_smnist_main,
    "sequential/seq_smnist/train_seq_smnist.py": seq_smnist_main,
}
GENERATIVE = {"generative_replay", "generative_replay(dec_pre_post_fc)", "hnet+r", "hnet+r(dec_pre_post_fc)"}


def _targets() -> list[dict]:
    path = SHARED / "spec" / "targets_cl_in_rnns.json"
    if not path.exists():
        return []
    return [t for t in json.loads(path.read_text()) if t["script"] in MAINS]


def _id(t: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_+.]+", "-", f"{t['id']:02d}-{t['experiment']}-{t['method']}")


@pytest.fixture
def tiny_data(stroke_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(stroke_root))
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(stroke_root / "cache"))
    monkeypatch.setattr(families, "COPY_SIZES", (64, 32, 32))
    monkeypatch.setattr(families, "SEQ_SMNIST_SIZES", (64, 32))


def test_all_readme_commands_of_the_three_families_are_listed():
    if not _targets():
        pytest.skip("shared/spec not present")
    counts = {s: sum(t["script"] == s for t in _targets()) for s in MAINS}
    assert list(counts.values()) == [18, 8, 40]


SEQ_SMNIST_RUN = {"hnet", "online_ewc", "masking+si"}  # the others share the runner paths checked on the copy task


def _representatives(targets: list[dict]) -> list[dict]:
    """The unmarked fast subset: the first command of every (script, method) pair (Seq-SMNIST: three methods)."""
    seen, picked = set(), []
    for t in targets:
        key = (t["script"], t["method"])
        if "seq_smnist" in t["script"] and t["method"] not in SEQ_SMNIST_RUN:
            continue
        if key not in seen:
            seen.add(key)
            picked.append(t)
    return picked


@pytest.mark.parametrize("target", _targets(), ids=_id)
def test_readme_command_parses(target):
    from sequential.args import SCRIPTS, parse_args

    mode = next(m for m, script in SCRIPTS.items() if script == target["script"])
    config = parse_args(mode, shlex.split(target["args"]))
    assert config.num_tasks >= 1


def _end_to_end(targets: list[dict]) -> list:
    """Every command as a test case; those outside :func:`_representatives` carry the ``slow`` marker."""
    fast = {t["id"] for t in _representatives(targets)}
    return [pytest.param(t, id=_id(t), marks=() if t["id"] in fast else pytest.mark.slow) for t in targets]


def test_every_readme_command_of_the_three_families_runs_end_to_end():
    if not _targets():
        pytest.skip("shared/spec not present")
    cases = _end_to_end(_targets())
    assert [c.values[0]["id"] for c in cases] == [t["id"] for t in _targets()]
    assert len(cases) == 66
    unmarked = [c for c in cases if not c.marks]
    assert len(unmarked) == len(_representatives(_targets())) == 24


@pytest.mark.parametrize("target", _end_to_end(_targets()))
def test_readme_command_runs(target, tiny_data, tmp_path):
    argv = shlex.split(target["args"]) + ["--n_iter=2", "--batch_size=8", f"--out_dir={tmp_path / 'run'}",
                                          "--loglevel_info"]
    if "--use_ewc" in argv:
        argv.append("--n_fisher=4")
    if "smnist" in target["script"]:
        argv.append("--val_set_size=16")
    summary = MAINS[target["script"]](argv)
    assert summary["finished"] == 1
    final = summary["final_accuracy"]
    assert len(final) == target_num_tasks(argv) and all(0.0 <= a <= 100.0 for a in final)
    assert summary["mean_final_accuracy"] == pytest.approx(sum(final) / len(final))
    if "--multitask" not in argv:
        assert len(summary["during_accuracy"]) == len(final)
    text = (tmp_path / "run" / "performance_overview.txt").read_text().splitlines()
    assert text[-1] == "finished 1"
    ratio = summary["compression_ratio"]
    assert math.isnan(ratio) == ("--hnet_all" not in argv)
    if target["method"] in GENERATIVE:  # replay terms and replay images went to TensorBoard
        assert _scalar_tags(tmp_path / "run") >= {"train/task_1/loss_vae_rec", "train/task_1/loss_vae_pm",
                                                  "train/task_1/loss_distill", "train/task_1/acc_replayed"}
        if "hnet_outputs" in target.get("derived", {}):  # HNET+R: the hypernetwork generates the decoder
            assert ratio == pytest.approx(target["derived"]["compression_ratio"], abs=1e-4)


def test_all_generative_replay_commands_run_end_to_end():
    picked = {(t["script"], t["method"]) for t in _representatives(_targets())}
    generative = [t for t in _targets() if "--use_replay" in t["args"] and "--coreset_size" not in t["args"]]
    if not generative:
        pytest.skip("shared/spec not present")
    assert [t["id"] for t in generative] == [11, 34, 35, 36, 37]
    assert all((t["script"], t["method"]) in picked for t in generative)


def _scalar_tags(run_dir) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in (run_dir / "summary").glob("events.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def target_num_tasks(argv: list[str]) -> int:
    return next(int(a.split("=")[1]) for a in argv if a.startswith("--num_tasks="))
