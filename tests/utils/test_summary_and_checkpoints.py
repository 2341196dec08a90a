"""Summary file format, atomic writes, checkpoints, run directories."""

import json
import re
from argparse import Namespace

import pytest
import torch

from utils.atomic import atomic_write_text
from utils.checkpoints import checkpoint_exists, load_checkpoint, save_checkpoint
from utils.progress import itstime
from utils.run_env import resolve_out_dir, select_device, setup_environment
from utils.summary import init_summary, read_summary, write_summary


def test_summary_file_format_and_order(tmp_path):
    summary = init_summary(["aa_mse_during", "aa_mse_final_mean", "aa_num_weights_main", "finished"],
                           list_keys=["aa_mse_during"], list_len=3)
    assert summary == {"aa_mse_during": [-1, -1, -1], "aa_mse_final_mean": -1, "aa_num_weights_main": -1,
                       "finished": -1}
    summary.update(aa_mse_during=[0.5, 0.25, -1], aa_mse_final_mean=0.125, aa_num_weights_main=282, finished=0)
    write_summary(tmp_path, summary)
    lines = (tmp_path / "performance_overview.txt").read_text().splitlines()
    assert lines == ["aa_mse_during 0.500000 0.250000 -1", "aa_mse_final_mean 0.125000",
                     "aa_num_weights_main 282", "finished 0"]
    assert read_summary(tmp_path / "performance_overview.txt")["aa_mse_during"] == [0.5, 0.25, -1]
    assert json.loads((tmp_path / "summary.json").read_text())["aa_num_weights_main"] == 282


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    class Boom(Exception):
        pass

    from utils.atomic import atomic_write

    def failing(tmp):
        open(tmp, "w").write("partial")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_checkpoint_roundtrip(tmp_path):
    tensors = {"a": torch.randn(3, 2), "b": torch.arange(4)}
    save_checkpoint(tmp_path / "ck" / "task_0", tensors, {"task": 0, "acc": [1.5]})
    assert checkpoint_exists(tmp_path / "ck" / "task_0")
    loaded, meta = load_checkpoint(tmp_path / "ck" / "task_0")
    assert torch.equal(loaded["a"], tensors["a"]) and torch.equal(loaded["b"], tensors["b"])
    assert meta == {"task": 0, "acc": [1.5]}
    assert not checkpoint_exists(tmp_path / "ck" / "task_1")


def test_default_out_dir_naming(tmp_path):
    path = resolve_out_dir("./out_bbb/run_<timestamp>", script_dir=tmp_path)
    assert path.parent == tmp_path / "out_bbb"
    assert re.fullmatch(r"run_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", path.name)
    assert resolve_out_dir("explicit/dir", script_dir=tmp_path) == type(path)("explicit/dir")


def test_device_flags():
    assert select_device(Namespace(use_cuda=False)).type == "cpu"
    assert select_device(Namespace(no_cuda=True)).type == "cpu"


def test_setup_environment_writes_config_and_seeds(tmp_path):
    config = Namespace(out_dir=str(tmp_path / "run"), random_seed=7, loglevel_info=True, use_cuda=False)
    env = setup_environment(config, argv=["--random_seed=7"], tensorboard=False)
    a = torch.rand(3)
    env.close()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["random_seed"] == 7
    assert (tmp_path / "run" / "cli_call.sh").read_text().strip().endswith("--random_seed=7")
    torch.manual_seed(7)
    assert torch.equal(a, torch.rand(3))


def test_itstime():
    assert [s for s in range(10) if itstime(s, 4)] == [0, 4, 8]
    assert [s for s in range(10) if itstime(s, 4, total=10)] == [0, 4, 8, 9]
    assert not any(itstime(s, -1) for s in range(5))
