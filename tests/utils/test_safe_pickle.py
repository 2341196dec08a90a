"""The plain-data unpickler admits numpy arrays and Python containers and refuses every other named type."""

import argparse
import collections
import os
import pickle

import numpy as np
import pytest

from utils.safe_pickle import NAMESPACE_GLOBALS, UnsafePickleError, load_plain_pickle, loads_plain_pickle

PLAIN = {
    "ints": np.arange(5, dtype=np.int32),
    "strings": np.array(["a", "bcd"], dtype="<U5"),
    "nested": [np.float32(1.5), (1, "x", None, True), {"k": 2.5}],
    "set": {1, 2},
    "ordered": collections.OrderedDict(a=1),
    "scalar": np.int64(3),
    "bytes": b"ab",
}


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_round_trips(protocol):
    out = loads_plain_pickle(pickle.dumps(PLAIN, protocol=protocol))
    assert np.array_equal(out["ints"], PLAIN["ints"]) and out["ints"].dtype == np.int32
    assert out["strings"].tolist() == ["a", "bcd"]
    assert out["nested"][1:] == PLAIN["nested"][1:] and out["nested"][0] == np.float32(1.5)
    assert out["set"] == {1, 2} and out["ordered"] == {"a": 1} and out["scalar"] == 3 and out["bytes"] == b"ab"


def test_code_is_refused_with_the_file_and_type_named(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps([1, _RunsCode()]))
    with pytest.raises(UnsafePickleError, match=r"evil\.pickle: refused to unpickle type posix\.system"):
        load_plain_pickle(path)


def test_namespace_only_where_admitted():
    data = pickle.dumps(argparse.Namespace(lr=0.1, arch="10,10"))
    with pytest.raises(UnsafePickleError, match="argparse.Namespace"):
        loads_plain_pickle(data, "config.pickle")
    assert vars(loads_plain_pickle(data, allowed=NAMESPACE_GLOBALS)) == {"lr": 0.1, "arch": "10,10"}
