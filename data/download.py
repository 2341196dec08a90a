"""One registry of every dataset file we read (URLs, md5, size) and the checks that guard it.

Keys are paths relative to the dataset root (:func:`data.paths.data_root`), in the layout of the public
originals. A file inside an archive names that archive (``archive=``): when the file is missing but the
archive is present (or may be downloaded), the file is extracted from it.

Nothing is downloaded unless asked for (``download=True`` or ``HYPERCL_DOWNLOAD=1``): offline, a missing
file fails at once with one line that names the file, its md5 and where to put it. Every file is checked
against its size on each start and against its md5 whenever it is parsed (see :mod:`data.cache`), so a
truncated or corrupt file is never used silently.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from data.errors import DatasetError
from data.paths import DATA_DIR_ENV
from utils.atomic import atomic_write

DOWNLOAD_ENV = "HYPERCL_DOWNLOAD"

# yann.lecun.com is often unreachable; the S3 mirror (used by torchvision) holds byte-identical files.
_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"


@dataclass(frozen=True)
class RegisteredFile:
    """What we know about one dataset file.

    Args:
        md5: Official md5 hex digest.
        size: Size in bytes, or ``None`` where only the md5 is known.
        urls: Download locations, tried in order (empty for files that come inside an archive).
        archive: Registry key of the archive holding this file, if any.
    """

    md5: str
    size: int | None
    urls: tuple[str, ...] = ()
    archive: str | None = None


def _mnist(name: str, md5: str, size: int) -> RegisteredFile:
    return RegisteredFile(md5, size, tuple(base + name for base in _MNIST_URLS))


def _in_archive(archive: str, md5: str) -> RegisteredFile:
    return RegisteredFile(md5, None, archive=archive)


_C10 = "cifar-10-python.tar.gz"
_C100 = "cifar-100-python.tar.gz"

REGISTRY: dict[str, RegisteredFile] = {
    "mnist/train-images-idx3-ubyte.gz": _mnist(
        "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422
    ),
    "mnist/train-labels-idx1-ubyte.gz": _mnist("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "mnist/t10k-images-idx3-ubyte.gz": _mnist("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
    "mnist/t10k-labels-idx1-ubyte.gz": _mnist("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
    _C10: RegisteredFile("c58f30108f718f92721af3b95e74349a", 170498071, (_CIFAR_URL + _C10,)),
    "cifar-10-batches-py/data_batch_1": _in_archive(_C10, "c99cafc152244af753f735de768cd75f"),
    "cifar-10-batches-py/data_batch_2": _in_archive(_C10, "d4bba439e000b95fd0a9bffe97cbabec"),
    "cifar-10-batches-py/data_batch_3": _in_archive(_C10, "54ebc095f3ab1f0389bbae665268c751"),
    "cifar-10-batches-py/data_batch_4": _in_archive(_C10, "634d18415352ddfa80567beed471001a"),
    "cifar-10-batches-py/data_batch_5": _in_archive(_C10, "482c414d41f54cd18b22e5b47cb7c3cb"),
    "cifar-10-batches-py/test_batch": _in_archive(_C10, "40351d587109b95175f43aff81a1287e"),
    "cifar-10-batches-py/batches.meta": _in_archive(_C10, "5ff9c542aee3614f3951f8cda6e48888"),
    _C100: RegisteredFile("eb9058c3a382ffc7106e4002c42a8d85", 169001437, (_CIFAR_URL + _C100,)),
    "cifar-100-python/train": _in_archive(_C100, "16019d7e3df5f24257cddd939b257f8d"),
    "cifar-100-python/test": _in_archive(_C100, "f0ef6b0ae62326f3e7ffdfab6717acfc"),
    "cifar-100-python/meta": _in_archive(_C100, "7973b15100ade9c7d40fb424638fde48"),
}


def require(key: str, root: Path, *, check_md5: bool = True, download: bool | None = None) -> Path:
    """Return the checked path of registered file ``key`` under ``root``; extract or download it if needed.

    Args:
        key: A key of :data:`REGISTRY`, e.g. ``"mnist/train-labels-idx1-ubyte.gz"``.
        root: Dataset root (see :func:`data.paths.data_root`).
        check_md5: Also compare the md5 (always compares the size where it is known).
        download: Allow downloading; ``None`` reads ``$HYPERCL_DOWNLOAD`` (``1``/``true``/``yes``).

    Raises:
        DatasetError: The file is missing and may not be fetched, or it fails a check.
    """
    spec = REGISTRY[key]
    path = Path(root) / key
    if not path.is_file():
        if spec.archive is not None:
            _extract_from_archive(key, Path(root), download)
            if not path.is_file():
                archive = Path(root) / spec.archive
                raise DatasetError(f"{archive} lacks {key}; replace it with the official file")
        elif _download_allowed(download):
            _download(key, path)
        else:
            raise DatasetError(_missing_message(key, Path(root)))
    verify(key, path, check_md5=check_md5)
    return path


def verify(key: str, path: Path, *, check_md5: bool = True) -> None:
    """Raise :class:`DatasetError` unless ``path`` has the registered size (and md5) of ``key``."""
    spec = REGISTRY[key]
    size = path.stat().st_size
    fix = f"delete it and put the official file (md5 {spec.md5}) there, or set {DOWNLOAD_ENV}=1 to fetch it"
    if spec.size is not None and size != spec.size:
        raise DatasetError(f"{path}: {size} bytes, expected {spec.size} (truncated or corrupt); {fix}")
    if check_md5:
        actual = md5sum(path)
        if actual != spec.md5:
            why = "corrupt or not the official file"
            raise DatasetError(f"{path}: md5 {actual}, expected {spec.md5} ({why}); {fix}")


def md5sum(path: Path) -> str:
    """Return the md5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def _missing_message(key: str, root: Path) -> str:
    spec, path = REGISTRY[key], root / key
    where = f"the dataset root {root} (chosen by --data_dir, else ${DATA_DIR_ENV}, else <repo>/datasets)"
    size = f", {spec.size} bytes" if spec.size is not None else ""
    if spec.archive is None:
        return (
            f"missing dataset file {path} (md5 {spec.md5}{size}): put the official {Path(key).name} into "
            f"{Path(key).parent}/ under {where}, or set {DOWNLOAD_ENV}=1 to download it"
        )
    archive = REGISTRY[spec.archive]
    return (
        f"missing dataset file {path} (md5 {spec.md5}): put the official {spec.archive} (md5 {archive.md5}, "
        f"{archive.size} bytes) or its extracted {Path(key).parent}/ folder into {where}, "
        f"or set {DOWNLOAD_ENV}=1 to download it"
    )


def _download(key: str, path: Path) -> None:
    """Fetch ``key`` with pooch (which checks the md5 and writes atomically) from the first URL that works."""
    import pooch  # only needed online; keeps ``import data.download`` cheap

    spec = REGISTRY[key]
    failures = []
    for url in spec.urls:
        try:
            pooch.retrieve(url, f"md5:{spec.md5}", fname=path.name, path=path.parent, progressbar=False)
            return
        except Exception as err:  # network and HTTP errors and hash mismatches all mean "try the next URL"
            failures.append(f"{url}: {' '.join(str(err).split())}")
    tried = "; ".join(failures)
    raise DatasetError(f"could not download {path} (md5 {spec.md5}) [{tried}]; put the official file there")


def _extract_from_archive(key: str, root: Path, download: bool | None) -> None:
    """Extract every missing registered member of ``key``'s archive, each file written atomically."""
    archive_key = REGISTRY[key].archive
    archive_path = root / archive_key
    if not archive_path.is_file() and not _download_allowed(download):
        raise DatasetError(_missing_message(key, root))
    archive_path = require(archive_key, root, check_md5=True, download=download)
    members = {k for k, spec in REGISTRY.items() if spec.archive == archive_key and not (root / k).is_file()}
    with tarfile.open(archive_path, "r:*") as tar:
        for member in tar.getmembers():
            if member.name not in members or not member.isfile():
                continue
            target = root / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, lambda tmp, member=member: _copy_member(tar, member, tmp))


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, tmp: str) -> None:
    with tar.extractfile(member) as source, open(tmp, "wb") as f:
        shutil.copyfileobj(source, f)
    os.chmod(tmp, 0o644)  # temporary files are created private; dataset files are for everyone
