#!/usr/bin/env python3
"""Similarity of the output heads' input subspaces of a multi-head Copy Task run (the original's script of the same
name crashed: it built the networks without the data they need).

Loads the final checkpoint (``--store_final_models``) and writes ``pca_analyses/out_head_similarity.json`` and the
heat map ``out_head_similarity.png``/``.pdf`` (see :mod:`sequential.ht_analyses.head_similarity`)::

    python3 out_head_subspace_similarity.py path/to/copy_run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import numpy as np  # noqa: E402

from sequential.ht_analyses import plots  # noqa: E402
from sequential.ht_analyses.head_similarity import head_similarity  # noqa: E402
from sequential.stored_models import load_config, load_run  # noqa: E402
from utils.atomic import atomic_write_text  # noqa: E402


def main(argv: list[str] | None = None) -> np.ndarray:
    parser = argparse.ArgumentParser(description="Subspace similarity of the output heads of a multi-head run.")
    parser.add_argument("out_dir", help="A run folder with a final checkpoint.")
    opts = parser.parse_args(argv)
    try:
        config = load_config(opts.out_dir)
        if not config.multi_head or config.hnet_all:
            parser.error(f"{opts.out_dir}: needs a --multi_head run whose heads are its own weights (not --hnet_all)")
        run = load_run(opts.out_dir)
    except FileNotFoundError as err:
        parser.error(str(err))
    out_weight = run.model.mnet.resolve_weights(run.model.task_weights(config.num_tasks - 1))[0][-2]
    sim = head_similarity(out_weight, config.num_tasks, run.fam.head_dim)
    folder = Path(opts.out_dir) / "pca_analyses"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "out_head_similarity.json", json.dumps(sim.tolist()))
    plots.head_similarity(sim, folder / "out_head_similarity")
    print(np.array2string(sim, precision=3))
    return sim


if __name__ == "__main__":
    main()
