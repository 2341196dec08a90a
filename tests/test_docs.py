"""The Sphinx documentation builds without a single warning (``-W``)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_warning_free(tmp_path):
    sphinx_build = pytest.importorskip("sphinx.cmd.build", reason="install the [docs] extra")
    status = sphinx_build.build_main(["-W", "--keep-going", "-q", "-b", "html", str(REPO / "docs"),
                                      str(tmp_path / "html")])
    assert status == 0
    assert (tmp_path / "html" / "index.html").exists()
