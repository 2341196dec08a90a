"""Fixtures of the regression launcher tests: shrunk in-process runs and the checks of their outputs."""

import json
import math
import shlex
from pathlib import Path

import pytest

from utils.summary import read_summary


def _shrunk_run(main, args: str | list[str], out_dir: Path, n_iter: int | None = 20) -> dict:
    """``main(argv)`` in-process with a tmp out_dir; ``n_iter`` iterations per task, validation only at it 0."""
    argv = shlex.split(args) if isinstance(args, str) else list(args)
    if n_iter is not None:
        argv += [f"--n_iter={n_iter}", "--val_iter=1000"]
    return main(argv + [f"--out_dir={out_dir}", "--loglevel_info"])


def _check_outputs(summary: dict, out_dir: Path, keys: list[str], mode: str, num_tasks: int = 3,
                  figures_after: tuple[int, ...] = (1, 2, 3)) -> None:
    """Summary keys in the original order, sane values, summary file, config, figures, TensorBoard events."""
    assert list(summary) == keys and summary["finished"] == 1
    assert len(summary["aa_mse_final"]) == num_tasks
    assert all(math.isfinite(m) and m >= 0 for m in summary["aa_mse_final"] + summary["aa_mse_during"])
    assert all(0 <= a <= 100 for a in summary["aa_task_inference"])
    assert summary["aa_mse_final_mean"] == pytest.approx(sum(summary["aa_mse_final"]) / num_tasks, rel=1e-5)
    assert summary["aa_num_weights_main"] == 141 or summary["aa_num_weights_main"] > 0
    on_disk = read_summary(out_dir / "performance_overview.txt")
    assert list(on_disk) == keys
    assert on_disk["aa_mse_final_mean"] == pytest.approx(summary["aa_mse_final_mean"], rel=1e-5)
    config = json.loads((out_dir / "config.json").read_text())
    assert config["parser_mode"] == mode and config["out_dir"] == str(out_dir)
    for n in figures_after:
        for fig in ("pred_dists", "val_predictions", "mse"):
            assert (out_dir / f"{fig}_{n}.png").stat().st_size > 1000
    assert any((out_dir / "summary").iterdir())  # TensorBoard events


@pytest.fixture
def shrunk_run():
    """``shrunk_run(main, args, out_dir, n_iter=20) -> summary``."""
    return _shrunk_run


@pytest.fixture
def check_outputs():
    """``check_outputs(summary, out_dir, keys, mode, num_tasks=3, figures_after=(1, 2, 3))``."""
    return _check_outputs
