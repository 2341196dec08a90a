"""Seed gathering: the seeds' grid from a reference run, reuse of the reference run, mean +/- SEM files."""

import json
import math

import numpy as np
import pytest

from hpsearch.gather_seeds import argv_to_flags, run, seed_statistics
from hpsearch.hpsearch import main
from tests.hpsearch.test_local_search import write_grid_module


@pytest.fixture
def reference(tmp_path):
    """A one-run search of the fake script (seed 0, score 1 + len("5 5") = 4)."""
    module = write_grid_module(tmp_path, {"lr": [0.1], "arch": ['"5 5"']})
    search = main([f"--grid_module={module}", f"--out_dir={tmp_path / 'search'}", "--force_out_dir",
                   "--visible_gpus=-1"])
    return module, search


def test_statistics_are_mean_and_population_sem():
    mean, sem = seed_statistics([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3) and sem == pytest.approx(np.std([1, 2, 4]) / math.sqrt(3))
    assert seed_statistics([1.0, 3.0], sem=False) == (2.0, 1.0)


def test_argv_to_flags():
    assert argv_to_flags(["--lr=0.1", "--flag", "--arch", "10,10", "--x=-1"]) == {
        "lr": "0.1", "flag": True, "arch": "10,10", "x": "-1"}


def test_gathering_with_forced_flags_reruns_every_seed(reference, tmp_path):
    module, search = reference
    out = run(module, forced_params={"val_sample_size": "100"}, summary_keys=["score", "neg"], summary_precs=[3, 1],
              argv=[f"--run_dir={search}", "--num_seeds=3", "--start_gathering", "--visible_gpus=-1",
                    f"--out_dir={tmp_path / 'seeds'}"])
    text = (out / "seeds_summary_text.txt").read_text().splitlines()
    # arch "5 5" has length 3: scores 1 + 3 + 0.1 * seed for seeds 0, 1, 2
    assert text[0] == "score (mean +/- sem): 4.100 +- %.3f" % (np.std([4.0, 4.1, 4.2]) / math.sqrt(3))
    assert text[1] == "neg (mean +/- sem): -3.0 +- 0.0"
    assert text[2] == "Number of seeds: 3" and text[-1].startswith("LaTeX row: 4.100 $\\pm$ 0.047 & -3.0 $\\pm$ 0.0")
    summary = json.loads((out / "seeds_summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2] and summary["keys"]["score"]["values"] == [4.0, 4.1, 4.2]
    configs = [json.loads(p.read_text()) for p in sorted(out.glob("sim_*/config.json"))]
    assert [c["val_sample_size"] for c in configs] == [100] * 3 and [c["arch"] for c in configs] == ["5 5"] * 3


def test_reference_run_is_reused_when_its_flags_are_the_forced_ones(reference, tmp_path):
    module, search = reference
    out = run(module, summary_keys=["score"], argv=[f"--run_dir={search}", "--seeds_list=0,5",
                                                    "--start_gathering", "--visible_gpus=-1", "--vary_data_seed",
                                                    f"--out_dir={tmp_path / 'seeds'}"])
    sims = sorted(out.glob("sim_*"))
    assert len(sims) == 2  # the copied reference run (seed 0) and one new run (seed 5)
    seeds = sorted(json.loads((s / "config.json").read_text())["random_seed"] for s in sims)
    assert seeds == [0, 5]
    data_seeds = {json.loads((s / "config.json").read_text())["data_random_seed"] for s in sims}
    assert 5 in data_seeds  # --vary_data_seed ties data_random_seed to random_seed in the new run
    assert json.loads((out / "seeds_summary.json").read_text())["keys"]["score"]["mean"] == pytest.approx(4.25)


def test_aggregate_only_and_errors(reference, tmp_path, capsys):
    module, search = reference
    run(module, summary_keys=["score"], argv=[f"--seeds_dir={search}"])
    assert (search / "seeds_summary_text.txt").read_text().startswith("score (mean +/- sem): 4.00 +- 0.00")
    with pytest.raises(SystemExit) as exc:
        run(module, argv=[f"--seeds_dir={tmp_path / 'empty'}"])
    assert exc.value.code == 2 and "no finished run found" in capsys.readouterr().err


def test_report_puts_our_mean_next_to_the_target(reference, tmp_path):
    from hpsearch.report import main as report

    module, search = reference
    out = run(module, summary_keys=["score"], argv=[f"--run_dir={search}", "--seeds_list=0,1,2", "--start_gathering",
                                                    "--visible_gpus=-1", f"--out_dir={tmp_path / 'seeds'}"])
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps([
        {"script": "probabilistic/other/fake_run.py", "args": "--lr=0.1", "metrics": {"CL1": 1.0},
         "metric_summary_keys": {"CL1": "score"}, "readme_line": 3},
        {"script": "x/fake_run.py", "args": '--lr=0.1 --arch="5 5"', "metrics": {"CL1": 4.0, "T": None},
         "metric_summary_keys": {"CL1": "score", "T": "neg"}, "readme_line": 7, "experiment": "fake"}]))
    path = report([str(out), f"--targets={targets}"])
    text = path.read_text()
    sem = np.std([4.0, 4.1, 4.2]) / math.sqrt(3)
    assert "line 7" in text and "differ from the target command: none" in text
    assert f"| CL1 | score | 4 | 4.1 +/- {sem:.2g} | 3 | +0.1 | {0.1 / sem:+.1f} |" in text
    assert "| neg | -3 +/- 0 | 3 |" in text
    assert path.with_suffix(".png").stat().st_size > 1000
    assert "line 3" in report([str(out), f"--targets={targets}", "--target_line=3"]).read_text()
