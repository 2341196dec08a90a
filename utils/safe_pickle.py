"""Load the originals' pickle files without running the code a pickle can name.

Unpickling calls whatever callable the file names, so a downloaded pickle is as dangerous as a downloaded script.
The original formats (preprocessed PoS and AudioSet pickles, hpsearch grid overrides, ``config.pickle``) hold only
plain data: numpy arrays and dtypes, lists, tuples, dicts, sets, str, bytes, int, float, bool and None. Those are
built by the pickle machine itself, except numpy objects, which need a few named constructors. This module admits
exactly those names; any other raises :class:`UnsafePickleError` with one line naming the file and the refused type.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
from collections.abc import Iterable

# (module, name) pairs a plain-data pickle may reference. numpy 1.x pickles name ``numpy.core``, numpy 2.x
# pickles ``numpy._core``; both resolve to the same functions.
NUMPY_GLOBALS = frozenset(
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
BUILTIN_GLOBALS = frozenset(
    ("builtins", name) for name in ("set", "frozenset", "complex", "bytearray", "slice", "range")
) | {("collections", "OrderedDict"), ("_codecs", "encode")}
PLAIN_DATA_GLOBALS = NUMPY_GLOBALS | BUILTIN_GLOBALS
# The originals pickle their resolved flags as an ``argparse.Namespace``: plain data behind one more class.
NAMESPACE_GLOBALS = PLAIN_DATA_GLOBALS | {("argparse", "Namespace")}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a type outside the admitted plain-data set."""


class _PlainDataUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str, allowed: frozenset, **kwargs):
        super().__init__(file, **kwargs)
        self._source = source
        self._allowed = allowed

    def find_class(self, module: str, name: str):
        # Protocol < 3 pickles name Python 2 modules (``__builtin__``); check the Python 3 names they map to.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in self._allowed:
            raise UnsafePickleError(
                f"{self._source}: refused to unpickle type {module}.{name} (only numpy arrays and plain Python data "
                "are admitted); re-create the file with the documented preprocessing script"
            )
        return super().find_class(module, name)


def load_plain_pickle(
    path: str | os.PathLike, allowed: Iterable[tuple[str, str]] = PLAIN_DATA_GLOBALS, encoding: str = "ASCII"
) -> object:
    """Unpickle ``path`` admitting only the ``(module, name)`` globals in ``allowed``.

    Args:
        encoding: as :class:`pickle.Unpickler`; ``"latin1"`` reads numpy arrays pickled by Python 2.
    """
    with open(path, "rb") as f:
        return _PlainDataUnpickler(f, str(path), frozenset(allowed), encoding=encoding).load()


def loads_plain_pickle(
    data: bytes, source: str = "<bytes>", allowed: Iterable[tuple[str, str]] = PLAIN_DATA_GLOBALS
) -> object:
    """Unpickle ``data`` (named ``source`` in errors) admitting only the globals in ``allowed``."""
    return _PlainDataUnpickler(io.BytesIO(data), source, frozenset(allowed)).load()
