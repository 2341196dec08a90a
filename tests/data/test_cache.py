"""The dataset cache: warm starts skip parsing, raw changes invalidate, atomic writes, read-only fallback."""

import os
import stat

import numpy as np
import pytest

from data import cache, mnist
from data.cache import cache_locations, load_or_build


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) if path.exists() else []


@pytest.fixture
def count_parses(monkeypatch):
    """Counts calls of the idx parser (one per raw file and parse)."""
    calls = []
    original = mnist.read_idx
    monkeypatch.setattr(mnist, "read_idx", lambda path: calls.append(path) or original(path))
    return calls


def test_second_start_reads_the_cache_not_the_raw_files(tiny_mnist, count_parses, isolated_env):
    root, arrays = tiny_mnist
    first = mnist.load_mnist(root)
    assert len(count_parses) == 4 and len(files_under(isolated_env)) == 1
    second = mnist.load_mnist(root)
    assert len(count_parses) == 4  # no re-parse
    for name, expected in arrays.items():
        np.testing.assert_array_equal(first[name], expected)
        np.testing.assert_array_equal(second[name], expected)


def test_changing_a_raw_file_invalidates_the_cache(tiny_mnist, count_parses):
    root, _ = tiny_mnist
    mnist.load_mnist(root)
    path = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, new mtime
    mnist.load_mnist(root)
    assert len(count_parses) == 8


def test_a_corrupt_cache_file_is_rebuilt(tiny_mnist, count_parses, isolated_env):
    root, arrays = tiny_mnist
    mnist.load_mnist(root)
    (entry,) = isolated_env.iterdir()
    entry.write_bytes(b"garbage")
    np.testing.assert_array_equal(mnist.load_mnist(root)["test_labels"], arrays["test_labels"])
    assert len(count_parses) == 8 and entry.stat().st_size > 1000


def test_a_failed_cache_write_leaves_nothing_half_written(tiny_mnist, monkeypatch, isolated_env):
    root, arrays = tiny_mnist

    def savez_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half of a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.np, "savez", savez_then_fail)
    with pytest.warns(UserWarning, match="could not write a dataset cache"):
        loaded = mnist.load_mnist(root)
    np.testing.assert_array_equal(loaded["train_images"], arrays["train_images"])  # the run goes on
    assert files_under(isolated_env) == []  # no cache file, no temporary file


def test_cache_goes_beside_writable_raw_files(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERCL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.bin").write_bytes(b"1234")
    load_or_build("toy", [raw / "a.bin"], lambda: {"x": np.arange(3)})
    assert files_under(raw) == [".hypercl_cache/toy.npz", "a.bin"]
    assert files_under(tmp_path / "xdg") == []


def test_read_only_raw_folder_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERCL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.bin").write_bytes(b"1234")
    raw.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        built = []
        for _ in range(2):
            out = load_or_build("toy", [raw / "a.bin"], lambda: built.append(1) or {"x": np.arange(3)})
            assert out["x"].tolist() == [0, 1, 2]
        assert built == [1]  # the second call was served from the fallback cache
        assert files_under(raw) == ["a.bin"]  # honoured even when running as root
        (entry,) = files_under(tmp_path / "xdg")
        assert entry.startswith("hypercl/toy-") and entry.endswith(".npz")
    finally:
        raw.chmod(0o755)


def test_cache_dir_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(tmp_path / "mine"))
    (path,) = cache_locations("mnist", tmp_path)
    assert path.parent == tmp_path / "mine" and path.name.startswith("mnist-")
    # different raw folders never share an entry
    assert cache_locations("mnist", tmp_path / "other")[0] != path
