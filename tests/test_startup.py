"""``--help`` and flag errors answer before torch is imported (the launchers parse first)."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

CHECK = """
import runpy, sys
sys.argv = [{script!r}, {flag!r}]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as exit_:
    print("exit", exit_.code, "torch loaded:", "torch" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("script", ["probabilistic/prob_gmm/train_gmm_bbb.py", "probabilistic/regression/train_bbb.py",
                                    "probabilistic/prob_cifar/train_resnet_ssge.py", "sequential/copy/train_copy.py",
                                    "sequential/pos_tagging/train_pos.py"])
@pytest.mark.parametrize("flag, code", [("--help", 0), ("--no_such_flag", 2)])
def test_help_and_flag_errors_do_not_import_torch(script, flag, code):
    out = subprocess.run([sys.executable, "-c", CHECK.format(script=str(REPO / script), flag=flag)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert f"exit {code} torch loaded: False" in out.stderr.splitlines()[-1], out.stderr[-500:]
