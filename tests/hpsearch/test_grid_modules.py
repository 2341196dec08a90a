"""Every shipped grid module (``hpsearch_config_*.py``) keeps the original contract and runs its own script.

For each module: the contract attributes exist, the summary keys are the ones its runner writes, the script exists
beside it and names the same parser mode, every flag of the grid (and every flag a condition can add) is a flag of
that script, and the commands the grid expands to parse.
"""

import importlib
import re
import warnings
from pathlib import Path

import pytest

from hpsearch.base_conditions import keep_if_above, keep_if_below
from hpsearch.grid import command_argv, expand_grid
from hpsearch.grid_module import load_grid_module

REPO = Path(__file__).resolve().parents[2]
#: 34 modules of Posterior Meta-Replay (regression 4, GMM 6, MNIST 14, CIFAR 10) and 13 of the RNN paper.
EXPECTED_COUNTS = {"probabilistic": 34, "sequential": 13}
CONTRACT = ("grid", "conditions", "_SCRIPT_NAME", "_SUMMARY_FILENAME", "_SUMMARY_KEYWORDS", "_OUT_ARG",
            "_SUMMARY_PARSER_HANDLE", "_PERFORMANCE_EVAL_HANDLE", "_PERFORMANCE_KEY", "_PERFORMANCE_SORT_ASC",
            "_ARGPARSE_HANDLE")
MAX_COMMANDS = 20  # parsed per module


def _module_names() -> list[str]:
    paths = [p for top in EXPECTED_COUNTS for p in sorted((REPO / top).glob("**/hpsearch_config_*.py"))]
    return [".".join(p.relative_to(REPO).with_suffix("").parts) for p in paths]


MODULES = _module_names()


def _commands(module) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # conditions on flags outside the grid are dropped with a warning
        return expand_grid(module.grid, module.conditions, deterministic=True)


def _parse(module, config: dict, capsys):
    argv = command_argv(config)
    try:
        return module._ARGPARSE_HANDLE(argv=argv)  # the original post-processing passed argv by keyword
    except SystemExit:
        pytest.fail(f"{module.__name__}: {argv} does not parse: {capsys.readouterr().err.strip()}")


def _args_module(name: str):
    return importlib.import_module("probabilistic.args" if name.startswith("probabilistic") else "sequential.args")


def test_every_original_grid_module_is_shipped():
    counts = {top: sum(name.startswith(top + ".") for name in MODULES) for top in EXPECTED_COUNTS}
    assert counts == EXPECTED_COUNTS


def test_the_template_has_the_contract():
    template = importlib.import_module("hpsearch.hpsearch_config_template")
    assert all(hasattr(template, attr) for attr in CONTRACT)
    assert "finished" in template._SUMMARY_KEYWORDS
    commands = _commands(template)
    assert len(commands) == 4  # 2 learning rates x Adam on/off
    assert [c.get("momentum") for c in commands] == [None, None, -1, -1]  # the condition moved Adam runs last


@pytest.mark.parametrize("name", MODULES)
def test_contract(name):
    module = importlib.import_module(name)
    missing = [attr for attr in CONTRACT if not hasattr(module, attr)]
    assert not missing
    assert "finished" in module._SUMMARY_KEYWORDS
    assert module._PERFORMANCE_KEY in module._SUMMARY_KEYWORDS
    assert module._SUMMARY_FILENAME == "performance_overview.txt"
    assert module._OUT_ARG == "out_dir" and "out_dir" not in module.grid
    assert module._SUMMARY_PARSER_HANDLE is None
    assert all(isinstance(v, list) and v for v in module.grid.values())
    assert all(isinstance(when, dict) and isinstance(then, dict) for when, then in module.conditions)
    loaded = load_grid_module(name)  # the sweep driver's own contract check
    assert loaded.summary_keywords == module._SUMMARY_KEYWORDS and loaded.performance_key == module._PERFORMANCE_KEY


@pytest.mark.parametrize("name", MODULES)
def test_performance_criterion_matches_the_sort_order(name):
    """Accuracies: keep above the criterion, sort descending; losses and MSEs: keep below, sort ascending."""
    module = importlib.import_module(name)
    key, keep = module._PERFORMANCE_KEY, module._PERFORMANCE_EVAL_HANDLE
    lower_is_better = "loss" in key or "mse" in key
    assert module._PERFORMANCE_SORT_ASC is lower_is_better
    # the original's parser gave one-element lists of strings, ours gives floats: both are read
    for summary in ({key: 0.5}, {key: ["0.5"]}):
        assert keep(summary, 1.0) is lower_is_better
        assert keep(summary, 0.25) is not lower_is_better


def test_keep_criteria():
    assert keep_if_above("acc")({"acc": 91.0}, 90) and not keep_if_above("acc")({"acc": [90.0]}, 90)
    assert keep_if_below("mse")({"mse": ["0.01"]}, 0.02) and not keep_if_below("mse")({"mse": 0.02}, 0.02)


@pytest.mark.parametrize("name", MODULES)
def test_summary_keys_are_the_runners(name, capsys):
    module = importlib.import_module(name)
    config = _parse(module, _commands(module)[0], capsys)
    if name.startswith("sequential"):
        from sequential.summary_keys import summary_keys

        expected = summary_keys(config.parser_mode, config.multitask)  # what sequential.runner writes
    elif name.startswith("probabilistic.regression"):
        from probabilistic.regression.summary_keys import summary_keys as regression_keys

        expected = regression_keys(config.parser_mode.removeprefix("regression_"))  # what the trainer writes
    else:
        from probabilistic.args import mode_of
        from probabilistic.classification.summary_keys import summary_keys

        expected = summary_keys(mode_of(config.parser_mode)[0])  # what classification.phases writes
    assert module._SUMMARY_KEYWORDS == expected
    assert module._SUMMARY_KEYWORDS[-1] == "finished"


@pytest.mark.parametrize("name", MODULES)
def test_script_exists_and_uses_the_same_parser_mode(name, capsys):
    module = importlib.import_module(name)
    script = Path(module.__file__).parent / module._SCRIPT_NAME
    rel = script.relative_to(REPO).as_posix()
    mode = _parse(module, _commands(module)[0], capsys).parser_mode
    if name.startswith("sequential"):
        from sequential.args import SCRIPTS

        assert SCRIPTS[mode] == rel
    assert script.is_file(), f"{name}: _SCRIPT_NAME {module._SCRIPT_NAME} is not beside the module"
    # the launcher names its parser mode as a string literal (launch("<mode>", ...) / parse_args("<mode>", ...))
    assert re.search(rf"[\"']{mode}[\"']", script.read_text()), f"{rel} does not use parser mode {mode}"


def test_zenke_avb_pf_runs_its_own_script():
    """The original pointed this module at train_resnet_avb_pf.py and the ResNet parser (spec §6.2 item 14)."""
    module = importlib.import_module("probabilistic.prob_cifar.hpsearch_config_zenke_avb_pf")
    assert module._SCRIPT_NAME == "train_zenke_avb_pf.py"
    assert module._ARGPARSE_HANDLE([]).parser_mode == "cifar_zenke_avb_pf"


@pytest.mark.parametrize("name", MODULES)
def test_grid_expands_and_every_command_parses(name, capsys):
    module = importlib.import_module(name)
    commands = _commands(module)
    assert len(commands) >= 1
    for config in commands[:MAX_COMMANDS]:
        _parse(module, config, capsys)


@pytest.mark.parametrize("name", MODULES)
def test_grid_and_condition_flags_exist(name, capsys):
    """Flags a condition can add (values other than False) must exist wherever its ``if`` flags exist."""
    module = importlib.import_module(name)
    mode = _parse(module, _commands(module)[0], capsys).parser_mode
    parser = _args_module(name).build_mode_parser(mode)
    flags = {opt[2:] for action in parser._actions for opt in action.option_strings if opt.startswith("--")}
    assert set(module.grid) <= flags
    for when, then in module.conditions:
        if set(when) <= flags:
            added = {k for k, values in then.items() if any(v is not False for v in values)}
            assert added <= flags, f"condition {when} -> {then} adds flags {added - flags} unknown to {mode}"


@pytest.mark.parametrize("name, exported", [
    ("probabilistic.prob_mnist.hpsearch_config_split_bbb", ("_BASE_CONDITIONS", "_BBB_CONDITIONS")),
    ("probabilistic.prob_mnist.hpsearch_config_split_avb", ("_AVB_CONDITIONS",)),
    ("probabilistic.prob_mnist.hpsearch_config_split_ssge", ("_SSGE_CONDITIONS",)),
    ("sequential.copy.hpsearch_config_copy", ("_BASE_CONDITIONS",)),
])
def test_original_condition_names_stay_importable(name, exported):
    """Original grid modules import the shared conditions from these modules; a ported one keeps working."""
    module = importlib.import_module(name)
    for attr in exported:
        conditions = getattr(module, attr)
        assert conditions and all(c in module.conditions for c in conditions)
