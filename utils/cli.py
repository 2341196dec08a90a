"""Command-line parsing shared by every launcher: flags declared once, defaults per parser mode.

A *parser mode* names one script of the original code (``regression_bbb``, ``split_mnist_ewc``, ``copy``...)
and is written as a pair ``(method, family)``. Each :class:`Flag` says in which modes it exists and what its
default is there, using the compact notation of the specs: ``"bbb:reg,gmm avb:all"`` means "present for method
``bbb`` in families ``reg`` and ``gmm``, and for method ``avb`` in every family"; ``"all"`` means every mode.
A default may be a plain value or a dict ``{pattern: value}`` (first matching pattern wins).

Parsing is done once, by :func:`parse_flags`, which also accepts an explicit ``argv`` list so that tests and the
hpsearch driver never touch ``sys.argv``. Invalid input ends the program with exit code 2 and one line on stderr
that names the offending flag (:class:`ConfigError`).
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

Mode = tuple[str, str]  # (method, family), e.g. ("bbb", "reg")
#: Errors of writing run files that end a run with one line (a bug's OSError keeps its traceback).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO})


class ConfigError(ValueError):
    """An invalid flag value or flag combination; the message names the flag and how to fix it."""


@dataclass(frozen=True)
class Flag:
    """One command-line flag, declared exactly once.

    Args:
        name: Flag name without the leading dashes (also the config attribute).
        type: ``int``/``float``/``str``, or ``bool`` for a ``store_true`` switch.
        default: A value, or ``{mode pattern: value}`` for mode-dependent defaults.
        modes: Mode pattern of the scripts that have this flag (see module docstring).
        help: One-sentence help text; ``--help`` appends the script's default.
        group: Title of the argument group in ``--help`` and in the docs.
        choices: Allowed values, if restricted.
    """

    name: str
    type: type
    default: Any
    modes: str
    help: str
    choices: tuple | None = None
    group: str = ""

    def default_for(self, mode: Mode) -> Any:
        if not isinstance(self.default, dict):
            return self.default
        for pattern, value in self.default.items():
            if pattern_matches(pattern, mode):
                return value
        raise KeyError(f"flag --{self.name} has no default for mode {mode}")


def pattern_matches(pattern: str, mode: Mode) -> bool:
    """Whether ``mode = (method, family)`` is covered by a pattern like ``"bbb:reg,gmm avb:all"``."""
    method, family = mode
    for token in pattern.split():
        if token == "all":
            return True
        tok_method, _, families = token.partition(":")
        if tok_method == method and (families == "all" or family in families.split(",")):
            return True
    return False


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports bad input in one line (exit code 2) instead of usage + message."""

    def error(self, message: str):  # noqa: D102 (argparse API)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(flags: Sequence[Flag], mode: Mode, prog: str | None = None,
                 description: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` holding the flags of ``mode`` with that mode's defaults, grouped as in the original."""
    parser = _OneLineErrorParser(prog=prog, description=description,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag in flags:
        if not pattern_matches(flag.modes, mode):
            continue
        group = groups.get(flag.group) or groups.setdefault(flag.group, parser.add_argument_group(flag.group))
        default = flag.default_for(mode)
        if flag.type is bool:
            group.add_argument(f"--{flag.name}", action="store_true", help=flag.help)
        else:
            group.add_argument(f"--{flag.name}", type=flag.type, default=default, choices=flag.choices,
                               help=flag.help)
    return parser


def parse_flags(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                check: Callable[[argparse.Namespace], None] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (``sys.argv[1:]`` if None), run the validity ``check``, exit 2 with one line on error."""
    config = parser.parse_args(None if argv is None else list(argv))
    if check is not None:
        try:
            check(config)
        except ConfigError as err:
            parser.exit(2, f"{parser.prog}: error: {err}\n")
    return config


class Terminated(BaseException):
    """The process received SIGTERM (raised by the handler :func:`run_or_exit` installs)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _fail(config: argparse.Namespace, code: int, message: str) -> NoReturn:
    """End the run with one line on stderr and in the run's ``logfile.txt``."""
    line = f"{script_name()}: error: {message}"
    sys.stderr.write(line + "\n")
    logfile = Path(str(getattr(config, "out_dir", ""))) / "logfile.txt"
    if logfile.is_file():
        with open(logfile, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} - ERROR - {message}\n")
    raise SystemExit(code) from None


def run_or_exit(run: Callable, config: argparse.Namespace, **kwargs):
    """Call ``run(config, **kwargs)`` and turn every way a run can stop early into one line and an exit code.

    Bad flags or an unusable ``out_dir`` (:class:`ConfigError`): exit 2. A non-finite loss: exit 1. SIGINT / SIGTERM:
    exit 130 / 143. A full disk or another write error: exit 1 naming the file. The summary then keeps the finished
    tasks with ``finished 0``, and rerunning the same command resumes after the last finished task. A folder that
    holds the same finished run is left as it is and its stored summary returned.
    """
    from utils.run_folder import RunFinished
    from utils.training import NonFiniteLossError

    resume = "; the summary keeps the finished tasks, rerun the same command to resume after the last one"
    previous = signal.signal(signal.SIGTERM, _raise_terminated) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        return run(config, **kwargs)
    except RunFinished as done:
        print(f"{script_name()}: {done}")
        return done.summary
    except ConfigError as err:
        _fail(config, 2, str(err))
    except NonFiniteLossError as err:
        _fail(config, 1, f"{err}{resume}")
    except KeyboardInterrupt:
        _fail(config, 130, f"interrupted (SIGINT){resume}")
    except Terminated:
        _fail(config, 143, f"terminated (SIGTERM){resume}")
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        _fail(config, 1, f"cannot write {err.filename or 'a run file'}: {err.strerror}{resume}")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def parse_int_list(value: str | int, flag: str) -> list[int]:
    """Parse a comma-separated list such as ``--mlp_arch="10,10"`` (empty string = empty list)."""
    text = str(value).strip().strip('"').strip("'")
    if text == "":
        return []
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"--{flag}={value!r} must be a comma-separated list of integers, e.g. '10,10'") from None


def script_name() -> str:
    """Name of the running script, for ``prog`` in messages."""
    return sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "python"
