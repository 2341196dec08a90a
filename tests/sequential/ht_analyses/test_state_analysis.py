"""A tiny Copy Task EWC run with stored models -> the copy analysis script writes its figures and results."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sequential.families as families
from sequential.copy.train_copy import main as train_copy
from sequential.ht_analyses import state_analysis
from sequential.ht_analyses.out_head_subspace_similarity import main as head_similarity_main

ARGS = ("--num_tasks=2 --multi_head --use_vanilla_rnn --rnn_arch=16 --n_iter=30 --first_task_input_len=3 "
        "--input_len_step=0 --input_len_variability=0 --permute_time --use_ewc --ewc_lambda=100 "
        "--store_during_models --store_final_models --val_iter=1000 --loglevel_info").split()
FIGURES = ("importance_vs_task", "dimension_per_task", "dimension_per_ts", "dimension_onto_task1",
           "acc_vs_bptt_steps", "supervised_dims", "out_head_similarity")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep folder with two runs of different pattern lengths."""
    mp = pytest.MonkeyPatch()
    mp.setattr(families, "COPY_SIZES", (300, 100, 50))
    root = tmp_path_factory.mktemp("copy_sweep")
    for p in (2, 3):
        train_copy([*ARGS, f"--first_task_input_len={p}", f"--out_dir={root / f'sim_p{p}'}"])
    yield root
    mp.undo()


def test_copy_analysis_writes_results_and_figures(sweep, monkeypatch):
    monkeypatch.setattr(families, "COPY_SIZES", (300, 100, 50))
    results = state_analysis.main("copy", [str(sweep), "--overlap_step=4", "--do_kernel_pca", "--do_supervised_dimred",
                                           "--sdr_n_iter=3", "--sdr_max_dims=2"])
    assert [r["complexity"] for r in results] == [2, 3]
    run = sweep / "sim_p3"
    res = json.loads((run / "pca_analyses" / "results.json").read_text())
    assert res["stop_step"] == 3 and res["timesteps"] == "output" and res["importance_name"] == "Fisher"
    assert len(res["dim_h"]) == 2 and all(1 <= d <= 16 for d in res["dim_h"])
    assert res["overlap_k"] == [0, 4, 8, 12, 16] and res["overlap_with_task1"][0][-1] == pytest.approx(1.0)
    assert len(res["kdim_h"]) == 2 and 1 <= res["kdim_all_tasks_h"] <= 16
    assert res["mean_importance"][0] > 0  # the Fisher after task 1 travels with the checkpoint
    assert sorted(res["permutation"][0]) == [0, 1, 2]
    assert len(res["acc_per_output_step"][0]) == 3 and len(res["accu_n_dim_supervised"][0]) == 2
    assert np.allclose(np.diag(res["head_similarity"]), 1)
    for name in FIGURES:
        assert (run / "pca_analyses" / f"{name}.png").stat().st_size > 0
        assert (run / "pca_analyses" / f"{name}.pdf").stat().st_size > 0
    groups = json.loads((sweep / "pca_analyses" / "seed_groups.json").read_text())
    assert [g["complexity"] for g in groups] == [2, 3]
    for name in ("complexity_effects", "dimension_per_ts_by_complexity"):
        assert (sweep / "pca_analyses" / f"{name}.png").stat().st_size > 0
    sim = head_similarity_main([str(run)])
    assert sim.shape == (2, 2)
    # the launcher, run from its own folder, reuses the stored results
    script = Path(__file__).resolve().parents[3] / "sequential" / "copy" / "copy_state_analysis.py"
    done = subprocess.run([sys.executable, script.name, str(sweep)], cwd=script.parent, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and f"all tasks {res['dim_all_tasks_h']}," in done.stdout


def test_bad_input_exits_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        state_analysis.main("copy", [str(tmp_path)])
    assert err.value.code == 2 and "sim_*" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        state_analysis.main("copy", [str(tmp_path), "--p_var=75"])
    assert err.value.code == 2 and "--p_var" in capsys.readouterr().err


def test_fine_tuning_run_is_rejected(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(families, "COPY_SIZES", (100, 50, 20))
    args = [a for a in ARGS if a not in ("--use_ewc", "--ewc_lambda=100")]
    train_copy([*args, "--n_iter=2", f"--out_dir={tmp_path / 'ft'}"])
    with pytest.raises(SystemExit) as err:
        state_analysis.main("copy", [str(tmp_path / "ft")])
    assert err.value.code == 2 and "--use_ewc or --use_si" in capsys.readouterr().err


def test_student_teacher_analysis_reports_losses(tmp_path, monkeypatch):
    """Regression runs: losses in place of accuracies, all timesteps pooled (no stop flag)."""
    import sequential.student_teacher.family as st_family
    from sequential.student_teacher.train_student import main as train_student

    monkeypatch.setattr(st_family, "ST_SIZES", (64, 40))
    train_student(["--num_tasks=2", "--multi_head", "--use_vanilla_rnn", "--rnn_arch=8", "--n_iter=5", "--use_si",
                   "--store_during_models", "--store_final_models", "--loglevel_info", f"--out_dir={tmp_path}"])
    (res,) = state_analysis.main("student_teacher", [str(tmp_path), "--overlap_step=4", "--p_var=1"])
    assert res["timesteps"] == "all" and res["stop_step"] is None and res["final_acc"] == [None, None]
    assert len(res["final_loss"]) == 2 and res["importance_name"] == "Omega" and res["complexity"] == 7
    assert res["dim_all_tasks_h"] == 8  # all variance: every unit of a tanh layer carries some
    with pytest.raises(SystemExit) as err:
        state_analysis.main("copy", [str(tmp_path)])
    assert err.value.code == 2
