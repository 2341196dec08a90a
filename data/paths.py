"""Where datasets live: the ``data_dir`` argument, else ``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``.

Inside that root every dataset keeps the layout of its public original: ``mnist/*-ubyte.gz``,
``cifar-10-batches-py/``, ``cifar-100-python/`` (see ``docs/datasets.rst``).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "HYPERCL_DATA_DIR"
# The original scripts read and downloaded ``../../datasets`` relative to their folder, i.e. <repo>/datasets.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "datasets"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the dataset root: ``data_dir``, else ``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``.

    Launchers pass ``--data_dir`` here.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_DATA_DIR
