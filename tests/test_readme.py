"""The README's two commands stay true: CI runs exactly the test command; the demo command parses."""

import re
import shlex
from pathlib import Path

from probabilistic.args import parse_args

REPO = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_cmd = _bash_blocks()[1].strip()
    assert "pytest" in test_cmd
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert test_cmd in ci_lines


def test_readme_main_job_parses_and_uses_pinned_install():
    main_cmd = _bash_blocks()[0].strip()
    assert "-c requirements/constraints.txt" in main_cmd
    script_and_args = main_cmd.split("train_bbb.py", 1)[1]
    config = parse_args("regression_bbb", shlex.split(script_and_args))
    assert config.used_task_set == 3 and config.n_iter == 5001


def test_constraints_pin_cpu_torch():
    pins = (REPO / "requirements" / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in pins
