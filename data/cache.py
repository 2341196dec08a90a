"""Parsed datasets cached as ``.npz`` so that a second start does not parse the raw files again.

A cache entry is keyed on the name, size and modification time of every raw file it was built from (plus a
format version): replacing or touching a raw file invalidates it. Entries are written atomically.

Where an entry goes, first match wins:

1. ``$HYPERCL_CACHE_DIR/<name>-<hash of the raw folder>.npz`` if that variable is set;
2. ``<raw folder>/.hypercl_cache/<name>.npz`` if the raw folder is writable (its permission bits are
   honoured even for root, so a folder marked read-only is never written to);
3. ``${XDG_CACHE_HOME:-~/.cache}/hypercl/<name>-<hash of the raw folder>.npz``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from utils.atomic import atomic_write

CACHE_DIR_ENV = "HYPERCL_CACHE_DIR"
FORMAT_VERSION = 1
_KEY_ENTRY = "__cache_key__"


def load_or_build(
    name: str, raw_files: Sequence[Path], build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Return the arrays cached for ``raw_files``, or ``build()`` them and cache the result.

    Args:
        name: Cache entry name, e.g. ``"mnist"``.
        raw_files: The raw files the arrays are parsed from (they must exist).
        build: Parses the raw files; called only when no valid cache entry exists.
    """
    key = cache_key(name, raw_files)
    candidates = cache_locations(name, Path(raw_files[0]).parent)
    for path in candidates:
        arrays = _read(path, key)
        if arrays is not None:
            return arrays
    arrays = build()
    for path in candidates:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: _write_npz(tmp, key, arrays))
            break
        except OSError:
            continue  # read-only or full: try the next location
    else:
        warnings.warn(
            f"could not write a dataset cache for {name} to any of {[str(p) for p in candidates]}; "
            "the next start will parse the raw files again",
            stacklevel=2,
        )
    return arrays


def _write_npz(tmp: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
        np.savez(f, **{_KEY_ENTRY: np.array(key)}, **arrays)
    os.chmod(tmp, 0o644)  # temporary files are created private; a cache beside shared data should be readable


def cache_key(name: str, raw_files: Sequence[Path]) -> str:
    """Return the key of a cache entry: name, format version, size and mtime of each raw file."""
    files = []
    for p in raw_files:
        st = os.stat(p)
        files.append([Path(p).name, st.st_size, st.st_mtime_ns])
    return json.dumps({"name": name, "version": FORMAT_VERSION, "files": files}, sort_keys=True)


def cache_locations(name: str, raw_dir: Path) -> list[Path]:
    """Return the candidate cache files for raw files in ``raw_dir``, in order of preference."""
    tag = hashlib.sha1(str(Path(raw_dir).resolve()).encode()).hexdigest()[:12]
    from_env = os.environ.get(CACHE_DIR_ENV, "")
    if from_env:
        return [Path(from_env).expanduser() / f"{name}-{tag}.npz"]
    locations = []
    if _is_writable_dir(raw_dir):
        locations.append(Path(raw_dir) / ".hypercl_cache" / f"{name}.npz")
    user_cache = Path(os.environ.get("XDG_CACHE_HOME", "") or Path.home() / ".cache").expanduser()
    locations.append(user_cache / "hypercl" / f"{name}-{tag}.npz")
    return locations


def _is_writable_dir(path: Path) -> bool:
    # os.access alone says yes to root for a folder marked r-x; the mode bits say what the owner intended.
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(stat.S_IMODE(mode) & 0o222)


def _read(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """Return the arrays of a cache file if it exists, is readable and carries ``key``; else ``None``."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _KEY_ENTRY not in npz.files or str(npz[_KEY_ENTRY]) != key:
                return None
            return {k: npz[k] for k in npz.files if k != _KEY_ENTRY}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # unreadable entry: rebuild and overwrite it
