"""A finished run's resolved flags and final summary in TensorBoard's HParams view.

Every run of both papers writes ``config.json`` (all resolved flags) and ``summary.json`` (the summary keys). When the
run ends with ``finished 1``, :func:`log_final_hparams` turns them into one HParams session in ``out_dir/summary``, so
a sweep folder opened with ``tensorboard --logdir <search folder>`` can be filtered and sorted by any flag and
compared on any summary key (shown as ``hparams/<key>``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def hparam_value(value: object) -> bool | int | float | str:
    """A flag value as the HParams plugin accepts it (lists and ``None`` become strings)."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def log_final_hparams(writer, out_dir: str | Path) -> bool:
    """Log flags and final summary of the run in ``out_dir`` if it finished; returns whether it logged."""
    out_dir = Path(out_dir)
    config_path, summary_path = out_dir / "config.json", out_dir / "summary.json"
    if not (config_path.is_file() and summary_path.is_file()):
        return False
    summary = json.loads(summary_path.read_text())
    if summary.get("finished") != 1:
        return False
    hparams = {k: hparam_value(v) for k, v in json.loads(config_path.read_text()).items()}
    metrics = {f"hparams/{k}": float(v) for k, v in summary.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    writer.add_hparams(hparams, metrics, run_name=".")  # "." keeps the session in the run's own event folder
    return True
