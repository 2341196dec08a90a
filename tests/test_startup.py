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


FIRST_STEP = """
import runpy, sys
import utils.optim

eager = utils.optim.eager


class FirstStep(Exception):
    pass


def stop_after_first_step(cls):
    class Stop(eager(cls)):
        def step(self, *args, **kwargs):
            super().step(*args, **kwargs)
            raise FirstStep
    return Stop


utils.optim.eager = stop_after_first_step
sys.argv = {argv!r}
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except FirstStep:
    print("loaded:", *(m for m in ("torch._dynamo", "scipy.stats", "matplotlib.pyplot") if m in sys.modules))
"""


@pytest.mark.parametrize("argv", [
    ["probabilistic/prob_gmm/train_gmm_bbb.py", "--n_iter=2"],
    ["probabilistic/regression/train_bbb.py", "--n_iter=2"],
    ["sequential/copy/train_copy.py", "--n_iter=2", "--num_tasks=2", "--use_ewc"],
], ids=["gmm", "regression", "copy"])
def test_first_step_imports_no_compiler_stack(argv, tmp_path):
    """What made start-up slow stays out of the way to the first training step: ``torch._dynamo`` (imported by
    ``torch.optim``'s compile guards), ``scipy.stats`` and ``matplotlib.pyplot`` (seconds each on 2 cores)."""
    argv = [str(REPO / argv[0]), *argv[1:], f"--out_dir={tmp_path / 'run'}"]
    out = subprocess.run([sys.executable, "-c", FIRST_STEP.format(argv=argv)], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert out.stdout.strip().splitlines()[-1:] == ["loaded:"], out.stdout[-500:] + out.stderr[-2000:]
