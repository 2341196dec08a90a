"""Split MNIST on the real MNIST files (own module: the README-command tests patch the dataset registry)."""

import pytest

from tests.probabilistic.prob_mnist.test_readme_commands import TARGETS, run_mnist


@pytest.mark.slow
def test_real_split_mnist_pr_dirac_small_mlp(real_mnist_root, tmp_path):
    """README PR-Dirac small MLP (line 33; paper CL1 99.72 %) at 200 instead of 5000 iterations per task.
    Measured (seed 42, 2 CPU threads): CL1 ≈ 97.6 % in ~15 s, see docs/experiments/split_mnist.rst."""
    target = next(t for t in TARGETS if t["readme_line"] == 33 and t["parser_mode"] == "split_mnist_bbb")
    summary = run_mnist("split_mnist_bbb", target["args"], tmp_path / "run", real_mnist_root,
                        extra=["--n_iter=200", "--val_iter=1000", "--loglevel_info"])
    assert summary["finished"] == 1 and summary["acc_avg_task_given"] > 90
