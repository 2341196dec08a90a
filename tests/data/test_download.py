"""The download registry and its guards: bad files fail in one line; fetch; extract."""

import functools
import http.server
import re
import shutil
import tarfile
import threading

import pytest

from data import download
from data.download import REGISTRY, RegisteredFile, md5sum, require
from data.errors import DatasetError
from data.mnist import load_mnist


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_registry_holds_the_official_checksums_and_sizes():
    mnist = {k: (v.md5, v.size) for k, v in REGISTRY.items() if k.startswith("mnist/")}
    assert mnist == {
        "mnist/train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        "mnist/train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
        "mnist/t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
        "mnist/t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
    }
    assert REGISTRY["cifar-10-python.tar.gz"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert REGISTRY["cifar-100-python.tar.gz"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert REGISTRY["cifar-10-batches-py/batches.meta"].md5 == "5ff9c542aee3614f3951f8cda6e48888"
    for key, spec in REGISTRY.items():
        assert re.fullmatch(r"[0-9a-f]{32}", spec.md5), key
        assert (spec.archive is None) == bool(spec.urls), key  # either downloadable or inside an archive
        assert spec.archive is None or REGISTRY[spec.archive].archive is None
    assert sum(spec.archive == "cifar-10-python.tar.gz" for spec in REGISTRY.values()) == 7
    assert sum(spec.archive == "cifar-100-python.tar.gz" for spec in REGISTRY.values()) == 3


def test_real_mnist_files_match_the_registry(mnist_root):
    for key, spec in REGISTRY.items():
        if key.startswith("mnist/"):
            assert md5sum(require(key, mnist_root)) == spec.md5


def test_missing_file_fails_with_one_line_naming_file_md5_and_place(tmp_path, isolated_env):
    root = tmp_path / "empty_root"
    with pytest.raises(DatasetError) as err:
        load_mnist(root)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(root / "mnist" / "train-images-idx3-ubyte.gz") in msg
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg and "9912422 bytes" in msg
    assert "HYPERCL_DATA_DIR" in msg and "--data_dir" in msg and "HYPERCL_DOWNLOAD=1" in msg
    assert files_under(tmp_path) == []  # nothing written: no data, no cache


def test_missing_archive_member_names_the_archive(tmp_path):
    with pytest.raises(DatasetError) as err:
        require("cifar-100-python/train", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "cifar-100-python/train" in msg and "16019d7e3df5f24257cddd939b257f8d" in msg
    assert "cifar-100-python.tar.gz" in msg and "eb9058c3a382ffc7106e4002c42a8d85" in msg


def test_wrong_md5_fails_and_writes_no_cache(tiny_mnist, isolated_env):
    root, _ = tiny_mnist
    path = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as err:
        load_mnist(root)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    assert f"md5 {md5sum(path)}, expected {REGISTRY['mnist/t10k-labels-idx1-ubyte.gz'].md5}" in msg
    assert files_under(isolated_env) == []


def test_truncated_gz_is_caught_by_its_size(tiny_mnist, isolated_env):
    root, _ = tiny_mnist
    path = root / "mnist" / "train-images-idx3-ubyte.gz"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    with pytest.raises(DatasetError) as err:
        load_mnist(root)
    msg = str(err.value)
    assert "\n" not in msg and f"{size // 2} bytes, expected {size} (truncated or corrupt)" in msg
    assert files_under(isolated_env) == []


def test_truncated_gz_without_known_size_is_caught_by_the_parser(tiny_mnist, register_file, isolated_env):
    root, _ = tiny_mnist
    path = root / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    register_file(root, "mnist/train-images-idx3-ubyte.gz", with_size=False)  # md5 fits, size unknown
    with pytest.raises(DatasetError, match="unreadable gzip") as err:
        load_mnist(root)
    assert "\n" not in str(err.value) and files_under(isolated_env) == []


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server for the download tests (no internet needed)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_fetches_and_checks_the_md5(tiny_mnist, http_server, monkeypatch, tmp_path):
    source_root, _ = tiny_mnist
    served, url = http_server
    key = "mnist/t10k-labels-idx1-ubyte.gz"
    shutil.copy(source_root / key, served / "labels.gz")
    spec = REGISTRY[key]
    monkeypatch.setitem(REGISTRY, key, RegisteredFile(spec.md5, spec.size, (url + "missing.gz", url + "labels.gz")))
    root = tmp_path / "fresh"
    with pytest.raises(DatasetError):
        require(key, root)  # downloads are off by default
    monkeypatch.setenv("HYPERCL_DOWNLOAD", "1")
    path = require(key, root)  # the first URL 404s, the mirror works
    assert md5sum(path) == spec.md5


def test_download_with_wrong_md5_leaves_nothing(tiny_mnist, http_server, monkeypatch, tmp_path):
    source_root, _ = tiny_mnist
    served, url = http_server
    key = "mnist/t10k-labels-idx1-ubyte.gz"
    shutil.copy(source_root / key, served / "labels.gz")
    spec = REGISTRY[key]
    monkeypatch.setitem(REGISTRY, key, RegisteredFile("0" * 32, spec.size, (url + "labels.gz",)))
    root = tmp_path / "fresh"
    with pytest.raises(DatasetError) as err:
        require(key, root, download=True)
    assert "\n" not in str(err.value) and "could not download" in str(err.value)
    assert not (root / key).exists() and files_under(root) == []


def test_members_are_extracted_from_the_official_archive(tiny_cifar, register_file, tmp_path):
    source_root, _ = tiny_cifar
    root = tmp_path / "archive_only"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(source_root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    register_file(root, "cifar-10-python.tar.gz")
    path = require("cifar-10-batches-py/data_batch_3", root)
    assert path.read_bytes() == (source_root / "cifar-10-batches-py" / "data_batch_3").read_bytes()
    extracted = files_under(root / "cifar-10-batches-py")
    assert extracted == sorted(["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)])


def test_corrupt_archive_is_not_extracted(tiny_cifar, monkeypatch, tmp_path):
    root = tmp_path / "archive_only"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(b"not a tarball")
    monkeypatch.setitem(REGISTRY, "cifar-10-python.tar.gz", RegisteredFile("0" * 32, 13, ()))
    with pytest.raises(DatasetError, match="md5"):
        require("cifar-10-batches-py/test_batch", root)
    assert files_under(root) == ["cifar-10-python.tar.gz"]


def test_download_switch(monkeypatch):
    assert download._download_allowed(True) and not download._download_allowed(False)
    assert not download._download_allowed(None)
    monkeypatch.setenv("HYPERCL_DOWNLOAD", "yes")
    assert download._download_allowed(None)
