"""Choosing the dataset root: argument, then environment variable, then <repo>/datasets."""

from pathlib import Path

from data.paths import DEFAULT_DATA_DIR, data_root


def test_precedence(monkeypatch, tmp_path):
    assert DEFAULT_DATA_DIR == Path(__file__).resolve().parents[2] / "datasets"
    assert data_root() == DEFAULT_DATA_DIR
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root("") == tmp_path / "env"  # an empty --data_dir means "not given"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root("~/x") == Path.home() / "x"
