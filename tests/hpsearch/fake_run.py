"""A stand-in training script for driver tests: writes a summary derived from its flags, in a fraction of a second.

``score = 10 * lr + len(arch) + 0.1 * random_seed`` (+1 with ``--flag``); ``neg = -3``; ``tiny = 1e-05 * lr``;
``per_task`` a list.
Every start appends a line to ``<out_dir>/starts.txt``; ``--crash`` exits 1 before the summary is finished;
``--sleep`` waits before finishing; ``CUDA_VISIBLE_DEVICES`` is recorded in ``<out_dir>/gpu.txt``.
"""

import argparse
import json
import os
import time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--out_dir", required=True)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--arch", type=str, default="10")
p.add_argument("--flag", action="store_true")
p.add_argument("--crash", action="store_true")
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--random_seed", type=int, default=0)
p.add_argument("--data_random_seed", type=int, default=-1)
p.add_argument("--val_sample_size", type=int, default=10)
a = p.parse_args()
out = Path(a.out_dir)
out.mkdir(parents=True, exist_ok=True)
with open(out / "starts.txt", "a") as f:
    f.write("start\n")
(out / "gpu.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", ""))
(out / "config.json").write_text(json.dumps(vars(a)))
score = 10 * a.lr + len(a.arch) + (1 if a.flag else 0) + 0.1 * a.random_seed
lines = [f"score {score:f}", "neg -3", f"tiny {1e-05 * a.lr:e}", f"per_task {score:f},-1,2.5e-3"]
(out / "performance_overview.txt").write_text("\n".join(lines + ["finished 0"]) + "\n")
time.sleep(a.sleep)
if a.crash:
    raise SystemExit(1)
(out / "performance_overview.txt").write_text("\n".join(lines + ["finished 1"]) + "\n")
