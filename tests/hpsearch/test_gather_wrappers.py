"""The ``gather_seeds_*.py`` wrappers: one per original wrapper, each pointing at its grid module with the original's
settings (spec_posterior_replay §4.5, spec_cl_in_rnns §5.3). ``hpsearch.gather_seeds.run`` is replaced by a recorder,
so no gathering starts."""

import importlib
from pathlib import Path

import pytest

from hpsearch import gather_seeds
from hpsearch.grid import command_argv

REPO = Path(__file__).resolve().parents[2]
#: 23 wrappers of Posterior Meta-Replay (regression 4, GMM 6, MNIST 9, CIFAR 4) and 6 of the RNN paper.
EXPECTED_COUNTS = {"probabilistic": 23, "sequential": 6}
PAPER_CLASSIFICATION_KEYS = [
    "acc_avg_task_given_during", "acc_avg_task_given", "acc_avg_task_inferred_ent_during",
    "acc_avg_task_inferred_ent", "acc_avg_task_inferred_conf", "acc_avg_task_inferred_agree",
]
#: RNN families whose original wrapper switched off the early stop on the during accuracy.
RNN_NO_EARLY_STOP = {"copy", "pos", "seq_smnist", "audioset"}


def _wrapper_names() -> list[str]:
    paths = [p for top in EXPECTED_COUNTS for p in sorted((REPO / top).glob("**/gather_seeds_*.py"))]
    return [".".join(p.relative_to(REPO).with_suffix("").parts) for p in paths]


WRAPPERS = _wrapper_names()


def _call(name: str, monkeypatch) -> tuple[object, str, dict]:
    """Import the wrapper, run its ``main`` against a recorder, return (module, grid module name, kwargs)."""
    calls = []
    monkeypatch.setattr(gather_seeds, "run", lambda grid_module, **kwargs: calls.append((grid_module, kwargs)))
    wrapper = importlib.import_module(name)
    wrapper.main(["--run_dir=somewhere"])
    assert len(calls) == 1
    return wrapper, calls[0][0], calls[0][1]


def test_every_original_wrapper_is_shipped():
    counts = {top: sum(name.startswith(top + ".") for name in WRAPPERS) for top in EXPECTED_COUNTS}
    assert counts == EXPECTED_COUNTS


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_points_at_a_grid_module_beside_it(name, monkeypatch):
    wrapper, grid_module, kwargs = _call(name, monkeypatch)
    assert callable(wrapper.main)
    assert grid_module == wrapper.GRID_MODULE
    package, module_name = grid_module.rsplit(".", 1)
    assert package == name.rsplit(".", 1)[0] and module_name.startswith("hpsearch_config_")
    module = importlib.import_module(grid_module)
    assert kwargs["argv"] == ["--run_dir=somewhere"]
    # every key to summarise is a line of the summary file
    assert set(kwargs["summary_keys"]) <= set(module._SUMMARY_KEYWORDS)
    assert kwargs["summary_sem"] is True


@pytest.mark.parametrize("name", WRAPPERS)
def test_forced_flags_parse_and_ignored_keys_are_not_flags(name, monkeypatch, capsys):
    """Forced flags must exist for the script; ignored keys are those its parser lacks (PF: beta, distill_iter)."""
    _, grid_module, kwargs = _call(name, monkeypatch)
    module = importlib.import_module(grid_module)
    argv = command_argv(kwargs["forced_params"])
    try:
        config = module._ARGPARSE_HANDLE(argv)
    except SystemExit:
        pytest.fail(f"{name}: forced flags {argv} do not parse: {capsys.readouterr().err.strip()}")
    args = importlib.import_module("probabilistic.args" if name.startswith("probabilistic") else "sequential.args")
    parser = args.build_mode_parser(config.parser_mode)
    flags = {opt[2:] for action in parser._actions for opt in action.option_strings}
    assert not set(kwargs.get("ignore_kwds", ())) & flags


@pytest.mark.parametrize("name", [n for n in WRAPPERS if n.startswith("probabilistic")])
def test_posterior_replay_settings(name, monkeypatch):
    _, grid_module, kwargs = _call(name, monkeypatch)
    if ".regression." in name:
        assert kwargs["forced_params"] == {"val_sample_size": "100", "store_final_model": True}
        assert kwargs["summary_keys"] == ["aa_mse_during_mean", "aa_mse_final_mean", "aa_mse_during_inferred_mean",
                                          "aa_mse_final_inferred_mean", "aa_task_inference_mean"]
        assert kwargs["summary_precs"] == [5, 5, 5, 5, 2]
        assert "ignore_kwds" not in kwargs
        return
    assert kwargs["forced_params"] == {"val_sample_size": "100", "store_final_model": True,
                                       "during_acc_criterion": "-1"}
    assert kwargs["summary_keys"] == PAPER_CLASSIFICATION_KEYS
    if grid_module.endswith("_pf"):
        assert set(kwargs["ignore_kwds"]) == {"distill_iter", "beta"}
    else:
        assert "ignore_kwds" not in kwargs


@pytest.mark.parametrize("name", [n for n in WRAPPERS if n.startswith("sequential")])
def test_rnn_settings(name, monkeypatch):
    _, grid_module, kwargs = _call(name, monkeypatch)
    family = name.rsplit(".", 1)[1].removeprefix("gather_seeds_")
    forced = kwargs["forced_params"]
    assert forced["store_during_models"] is True and forced["store_final_models"] is True
    assert ("during_acc_criterion" in forced) is (family in RNN_NO_EARLY_STOP)
    if family in RNN_NO_EARLY_STOP:
        assert forced["during_acc_criterion"] == "-1"
    kind = "loss" if family == "st" else "accuracy"
    assert kwargs["summary_keys"] == [f"mean_during_{kind}", f"mean_final_{kind}"]
    assert kwargs["summary_precs"] == 2
