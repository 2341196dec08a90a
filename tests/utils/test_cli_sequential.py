"""The flag table of the RNN scripts is well-formed (utils/cli_sequential.py)."""

import argparse
import re

import pytest

import sequential.args as sargs
from utils.cli import pattern_matches
from utils.cli_sequential import FAMILIES, FLAGS, any_string_is_true

METHODS = {"rnn"}


def _tokens(pattern: str) -> list[tuple[str, list[str]]]:
    """(method, families) of each token of a mode pattern; ``all`` -> ("all", [])."""
    out = []
    for token in pattern.split():
        method, _, families = token.partition(":")
        out.append((method, [] if token == "all" else families.split(",")))
    return out


def _patterns():
    for flag in FLAGS:
        yield flag.name, "modes", flag.modes
        if isinstance(flag.default, dict):
            for key in flag.default:
                yield flag.name, "default", key


@pytest.mark.parametrize(("name", "where", "pattern"), list(_patterns()))
def test_patterns_use_known_names(name, where, pattern):
    for method, families in _tokens(pattern):
        if method == "all":
            continue
        assert method in METHODS, f"--{name} {where}: unknown method {method!r}"
        assert families == ["all"] or set(families) <= set(FAMILIES), f"--{name} {where}: {families}"


def test_modes_cover_the_six_families():
    assert sorted(sargs.MODES.values()) == sorted(("rnn", f) for f in FAMILIES)
    assert set(sargs.SCRIPTS) == set(sargs.MODES)


@pytest.mark.parametrize("mode", sorted(sargs.MODES))
def test_every_flag_has_a_default_in_every_mode_it_exists(mode):
    for flag in FLAGS:
        if pattern_matches(flag.modes, sargs.MODES[mode]):
            flag.default_for(sargs.MODES[mode])  # raises KeyError if no pattern matches


def test_flags_are_declared_once_and_exist_somewhere():
    names = [f.name for f in FLAGS]
    assert len(names) == len(set(names))
    assert len(names) == 156  # 150 of the original + 4 PoS embedding/masking flags, --data_dir, --fix_online_ewc
    for flag in FLAGS:
        assert any(pattern_matches(flag.modes, mode) for mode in sargs.MODES.values()), flag.name


def test_default_dicts_do_not_name_modes_without_the_flag():
    for flag in FLAGS:
        if isinstance(flag.default, dict):
            for key in flag.default:
                hits = [m for m in sargs.MODES.values() if pattern_matches(key, m)]
                assert all(pattern_matches(flag.modes, m) for m in hits), flag.name


def test_help_is_one_sentence_and_group_set():
    for flag in FLAGS:
        assert flag.group, flag.name
        assert re.fullmatch(r"[A-Z(].*\.", flag.help) and "\n" not in flag.help, flag.name
        assert "%" not in flag.help, flag.name  # argparse would try to format it


def test_bool_defaults_are_false():
    # store_true switches ignore ``default``; a True default would be a silent lie in the table.
    for flag in FLAGS:
        if flag.type is bool:
            assert flag.default is False, flag.name


@pytest.mark.parametrize(("text", "value"), [("True", True), ("False", True), ("0", True), ("", False)])
def test_any_string_is_true(text, value):
    assert any_string_is_true(text) is value


@pytest.mark.parametrize(
    "builder",
    [
        sargs.copy_parser,
        sargs.pos_parser,
        sargs.split_smnist_parser,
        sargs.seq_smnist_parser,
        sargs.split_audioset_parser,
        sargs.student_teacher_parser,
    ],
)
def test_doc_parsers(builder):
    parser = builder()
    assert isinstance(parser, argparse.ArgumentParser)
    assert parser.prog.startswith("train_") and parser.prog.endswith(".py")
    assert "--num_tasks" in parser.format_help()


def test_unknown_mode_lists_valid_ones():
    with pytest.raises(KeyError, match="split_smnist"):
        sargs.mode_of("smnist")
