"""The summary parser reads signs, exponents, NaN and lists whole (the original dropped ``-`` of integers and split
``1e-05``), and refuses a file whose keys are out of place."""

import math

import pytest

from hpsearch.summary_parser import SummaryError, csv_cell, is_finished, parse_summary, parse_value


@pytest.mark.parametrize("text, expected", [
    ("-1", -1.0), ("+3", 3.0), ("42", 42.0), ("0.250000", 0.25), ("-0.5", -0.5), (".5", 0.5),
    ("1e-05", 1e-05), ("-2.5E+03", -2500.0), ("3.0e2", 300.0),
    ("1,-2,3.5", [1.0, -2.0, 3.5]), ("99.5 -1 1e-3", [99.5, -1.0, 0.001]),
], ids=str)
def test_numbers_are_read_whole(text, expected):
    assert parse_value(text) == expected


@pytest.mark.parametrize("text", ["nan", "NaN", "-nan"])
def test_nan(text):
    assert math.isnan(parse_value(text))


def test_parse_checks_key_positions(tmp_path):
    f = tmp_path / "performance_overview.txt"
    f.write_text("acc -1\nlosses 1e-05,-2\nfinished 1\nextra 5\n")
    assert parse_summary(f, ["acc", "losses", "finished"]) == {"acc": -1.0, "losses": [1e-05, -2.0], "finished": 1.0}
    with pytest.raises(SummaryError, match="line 2 holds 'losses' where the grid module expects 'loss'"):
        parse_summary(f, ["acc", "loss", "finished"])
    with pytest.raises(SummaryError, match="no summary file"):
        parse_summary(tmp_path / "missing.txt", ["acc"])


def test_finished_and_cells():
    assert is_finished({"finished": 1.0}) and not is_finished({"finished": 0.0}) and not is_finished({})
    assert csv_cell(-1.0) == "-1" and csv_cell(0.25) == "0.25" and csv_cell([1.0, -2.5]) == "1,-2.5"
    assert csv_cell(1e-05) == "1e-05" and csv_cell(math.nan) == "nan"


def test_an_original_custom_parser_result_is_normalised():
    from hpsearch.summary_parser import normalize_summary

    original = {"acc": ["97.5"], "accs": ['"97.5,-1"'], "finished": ["1"], "n": 3}
    assert normalize_summary(original) == {"acc": 97.5, "accs": [97.5, -1.0], "finished": 1.0, "n": 3.0}
    assert is_finished(normalize_summary(original))
