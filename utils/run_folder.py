"""Run folders that never lie: one run per folder at a time, resume only with the same flags, finished runs left alone.

Every script of both papers goes through :func:`claim_out_dir` before it writes anything into its ``out_dir``:

* **Unusable folder** (a file in the way, read-only, disk full): :class:`~utils.cli.ConfigError` naming the path and
  the cause; nothing already in the folder is touched.
* **Exclusive lock** (``out_dir/.lock``, ``flock``) for the lifetime of the run; a second run on the same folder
  stops with the holder's PID. The operating system drops the lock when the holder dies, however it dies.
* **Resume only with the same flags:** the resolved flags are compared with the folder's ``config.json``; any
  difference outside :data:`RESUME_MAY_DIFFER` stops the run naming the flags and both values. (Without this, a
  rerun with ``--lr=0.01`` trained the remaining tasks at the new rate and ``config.json`` claimed it for all.)
* **Finished runs change nothing:** a folder whose summary says ``finished 1`` raises :class:`RunFinished`, which the
  launcher reports in one line before returning the stored summary.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
from pathlib import Path

from utils.cli import ConfigError

#: Flags that may change between a run and its resumption: they do not change what is computed.
RESUME_MAY_DIFFER = frozenset({"out_dir", "loglevel_info", "no_cuda", "use_cuda", "show_plots", "no_plots"})
LOCK_FILENAME = ".lock"

# out_dir -> file descriptor holding its lock in this process (released by RunEnv.close)
_HELD: dict[Path, int] = {}


class RunFinished(Exception):
    """The run folder holds a finished run with the same flags; ``summary`` is its stored summary."""

    def __init__(self, out_dir: Path, summary: dict):
        super().__init__(f"{out_dir} holds a finished run with these flags; nothing to do (rerun into another "
                         "--out_dir to train again)")
        self.out_dir, self.summary = out_dir, summary


def config_as_json(config: argparse.Namespace) -> dict:
    """The resolved flags as ``config.json`` stores them (JSON types)."""
    return json.loads(json.dumps(vars(config), default=str))


def flag_differences(stored: dict, new: dict) -> list[str]:
    """``--flag: <stored> there, <new> now`` for every shared key that differs outside the allow-list."""
    keys = sorted(k for k in set(stored) & set(new) if k not in RESUME_MAY_DIFFER and stored[k] != new[k])
    return [f"--{k}: {stored[k]!r} there, {new[k]!r} now" for k in keys]


def check_resume(config: argparse.Namespace, out_dir: Path) -> None:
    """Refuse to resume a run with other flags; raise :class:`RunFinished` for a finished one."""
    stored_path = out_dir / "config.json"
    if not stored_path.is_file():
        return
    try:
        stored = json.loads(stored_path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"--out_dir={out_dir}: its config.json is unreadable ({e}); choose another --out_dir") \
            from None
    diffs = flag_differences(stored, config_as_json(config))
    if diffs:
        shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        raise ConfigError(f"--out_dir={out_dir} holds a run with other flags ({shown}); rerun with its flags to "
                          "resume it, or choose another --out_dir")
    summary_path = out_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary.get("finished") == 1:
            raise RunFinished(out_dir, summary)


def lock_out_dir(out_dir: Path) -> None:
    """Take the folder's exclusive lock or raise :class:`~utils.cli.ConfigError` naming the holder's PID."""
    out_dir = out_dir.resolve()
    if out_dir in _HELD:  # an earlier run of this process on the folder ended without closing (an exception)
        release_out_dir(out_dir)
    fd = os.open(out_dir / LOCK_FILENAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(f"--out_dir={out_dir} is in use by another run (PID {holder}); wait for it to end or "
                          "choose another --out_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[out_dir] = fd


def release_out_dir(out_dir: Path) -> None:
    """Drop the lock this process holds on ``out_dir`` (no-op if none)."""
    fd = _HELD.pop(Path(out_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def folder_error(path: Path, err: OSError) -> ConfigError:
    """One line naming the path and the cause of an unusable output folder."""
    cause = {errno.EEXIST: "a file of that name is in the way", errno.ENOTDIR: "a file of that name is in the way",
             errno.EACCES: "permission denied", errno.EROFS: "read-only file system",
             errno.ENOSPC: "no space left on the device"}.get(err.errno, err.strerror or str(err))
    return ConfigError(f"--out_dir={path} cannot be used: {cause}; choose another --out_dir")


def claim_out_dir(config: argparse.Namespace, out_dir: Path) -> None:
    """Create ``out_dir``, lock it, and check that resuming it is safe (see the module docstring)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(out_dir))
        lock_out_dir(out_dir)
    except OSError as e:
        raise folder_error(out_dir, e) from None
    try:
        check_resume(config, out_dir)
    except BaseException:
        release_out_dir(out_dir)
        raise
