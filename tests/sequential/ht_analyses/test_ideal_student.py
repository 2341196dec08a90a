"""The ideal multi-task student: its hidden dimensionality is the sum of the teachers' hidden sizes."""

import pytest

from sequential.student_teacher import hidden_dim_ideal_student as ideal


def test_dimensionality_equals_sum_of_teacher_hidden_sizes(tmp_path):
    res = ideal.main(["--num_tasks=3", "--p_var=1", "--rnn_arch=30", "--n_samples=200", "--n_fisher=20",
                      f"--out_dir={tmp_path}"])
    assert res["dim_h"] == [7, 14, 21] and res["dim_y"] == [7, 14, 21]
    assert max(max(m) for m in res["test_mse"]) < 1e-10  # exact solution
    assert all(f < 1e-12 for f in res["fisher_hh"])  # empirical Fisher at a zero-error solution
    assert (tmp_path / "ideal_student.json").exists() and (tmp_path / "ideal_student.png").exists()


def test_identical_teachers_keep_the_dimensionality():
    """Identical teachers give identical blocks: the states do not leave a 7-dimensional subspace."""
    opts = ideal.build_parser().parse_args(["--scenario=identical", "--num_tasks=2", "--n_samples=100",
                                            "--n_fisher=10"])
    tasks, teachers = ideal.make_teachers(opts)
    res = ideal.analyse(tasks, teachers, 20, 0.999999, 100, 10)
    assert res["dim_h"] == [7, 7]


def test_sampled_fisher_is_positive_where_the_empirical_one_vanishes():
    opts = ideal.build_parser().parse_args(["--num_tasks=2", "--n_samples=50", "--n_fisher=20"])
    tasks, teachers = ideal.make_teachers(opts)
    res = ideal.analyse(tasks, teachers, 14, 0.75, 50, 20, fisher_targets="sampled")
    assert min(res["fisher_hh"] + res["fisher_ho"]) > 1e-8


def test_too_small_student_is_rejected(capsys):
    with pytest.raises(SystemExit) as err:
        ideal.main(["--num_tasks=3", "--rnn_arch=10"])
    assert err.value.code == 2 and "--rnn_arch=10" in capsys.readouterr().err
