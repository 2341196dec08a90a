"""Run folders that never lie (1D regression PR-BbB at a tiny budget stands in for every script of both papers):
a finished run is left alone, other flags are refused, one run per folder, unusable folders, full disks, NaN losses
and signals end in one line, and the run stays resumable."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probabilistic.regression.train_bbb import main
from utils.run_folder import flag_differences

REPO = Path(__file__).resolve().parents[2]
TINY = ["--used_task_set=3", "--mlp_arch=5", "--hmlp_arch=5", "--n_iter=4", "--val_iter=4", "--val_sample_size=2",
        "--loglevel_info"]


def _run(out_dir: Path, *extra: str) -> dict:
    return main([*TINY, *extra, f"--out_dir={out_dir}"])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_finished_run_is_left_alone(tmp_path, capsys):
    first = _run(tmp_path)
    files = lambda: {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lock"}  # noqa: E731
    before = files()
    again = _run(tmp_path)
    assert again == json.loads(json.dumps(first)) and "holds a finished run" in capsys.readouterr().out
    assert files() == before


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "half-done"])
def test_other_flags_are_refused_naming_them(tmp_path, capsys, finished):
    _run(tmp_path)
    if not finished:
        (tmp_path / "summary.json").write_text(json.dumps({"finished": 0}))
    config = (tmp_path / "config.json").read_text()
    capsys.readouterr()
    stored_lr = json.loads(config)["lr"]
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path, "--lr=0.0123")
    line = _one_error_line(capsys)
    assert exc.value.code == 2 and f"--lr: {stored_lr} there, 0.0123 now" in line and "with other flags" in line
    assert (tmp_path / "config.json").read_text() == config


def test_allowed_differences():
    assert flag_differences({"lr": 0.1, "loglevel_info": False, "a": 1}, {"lr": 0.1, "loglevel_info": True}) == []
    assert flag_differences({"lr": 0.1}, {"lr": 0.2}) == ["--lr: 0.1 there, 0.2 now"]


def test_second_run_on_a_locked_folder_names_the_holder(tmp_path, capsys):
    tmp_path.mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, f'{os.getpid()}\\n'.encode()); print('locked', flush=True)\n"
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SystemExit) as exc:
            _run(tmp_path)
        line = _one_error_line(capsys)
        assert exc.value.code == 2 and f"is in use by another run (PID {holder.pid})" in line
    finally:
        holder.kill()
        holder.wait()
    assert _run(tmp_path)["finished"] == 1  # the lock died with its holder


def test_a_file_in_the_way(tmp_path, capsys):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path / "out")
    line = _one_error_line(capsys)
    assert exc.value.code == 2 and f"--out_dir={tmp_path / 'out'} cannot be used: a file of that name is in the way" \
        in line


def test_read_only_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root ignores permissions: fake the check
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path / "ro")
    assert exc.value.code == 2 and "cannot be used: permission denied" in _one_error_line(capsys)


def test_full_disk_mid_run_keeps_the_finished_task_and_resumes(tmp_path, capsys, monkeypatch):
    import utils.summary

    real = utils.summary.atomic_write_text
    calls = {"n": 0}

    def fill_up(path, text):
        calls["n"] += 1
        if calls["n"] > 2:  # the summary after task 1 (text + JSON) is written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, text)

    monkeypatch.setattr(utils.summary, "atomic_write_text", fill_up)
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path)
    line = _one_error_line(capsys)
    assert exc.value.code == 1 and "No space left on device" in line and "rerun the same command to resume" in line
    assert "No space left on device" in (tmp_path / "logfile.txt").read_text().splitlines()[-1]
    assert json.loads((tmp_path / "summary.json").read_text())["finished"] == 0
    assert list((tmp_path / "checkpoints").glob("task_0.*"))  # task 1 stays checkpointed
    monkeypatch.setattr(utils.summary, "atomic_write_text", real)
    assert _run(tmp_path)["finished"] == 1


def test_non_finite_loss_is_one_line(tmp_path, capsys, monkeypatch):
    import probabilistic.methods.explicit as runner

    monkeypatch.setattr(runner, "gaussian_regularizer", lambda *a, **k: __import__("torch").tensor(float("nan")))
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path, "--beta=1", "--regularizer=rkl")
    line = _one_error_line(capsys)
    assert exc.value.code == 1 and "non-finite loss in task" in line
    assert "non-finite loss" in (tmp_path / "logfile.txt").read_text().splitlines()[-1]


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signals_end_in_one_line_and_the_run_resumes(tmp_path, sig, code, word):
    argv = [sys.executable, str(REPO / "probabilistic/regression/train_bbb.py"), *TINY[:-3], "--n_iter=100000",
            "--val_iter=100000", "--val_sample_size=2", f"--out_dir={tmp_path}"]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "logfile.txt").exists():
        time.sleep(0.1)
    time.sleep(1.0)  # inside the training loop
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == code and len(lines) == 1 and f"({word})" in lines[0], err[-2000:]
    assert f"({word})" in (tmp_path / "logfile.txt").read_text().splitlines()[-1]
    assert not (tmp_path / "summary.json").exists() or json.loads((tmp_path / "summary.json").read_text())[
        "finished"] == 0
