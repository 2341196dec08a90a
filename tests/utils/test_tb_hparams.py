"""Finished runs appear in TensorBoard's HParams view with their flags and summary."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

from utils.tb_hparams import log_final_hparams


def _session_start(log_dir):
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return data.session_start_info.hparams, acc


def test_finished_run_logs_flags_and_summary(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"lr": 0.01, "mlp_arch": "10,10", "use_adam": True,
                                                      "num_tasks": 5, "extra": None, "lst": [1, 2]}))
    (tmp_path / "summary.json").write_text(json.dumps({"acc_avg_final": 97.5, "acc_task_given": [1, 2],
                                                       "rnn_arch": "256", "finished": 1}))
    writer = SummaryWriter(log_dir=str(tmp_path / "summary"))
    assert log_final_hparams(writer, tmp_path)
    writer.close()
    hparams, acc = _session_start(tmp_path / "summary")
    assert hparams["lr"].number_value == 0.01 and hparams["mlp_arch"].string_value == "10,10"
    assert hparams["use_adam"].number_value == 1 and hparams["extra"].string_value == "None"
    assert acc.Scalars("hparams/acc_avg_final")[0].value == 97.5


def test_unfinished_run_logs_nothing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "summary.json").write_text(json.dumps({"finished": 0}))
    assert not log_final_hparams(SummaryWriter(log_dir=str(tmp_path / "s")), tmp_path)


def test_a_real_run_ends_in_the_hparams_view(tmp_path):
    from probabilistic.regression.train_bbb import main

    main(["--n_iter=5", "--val_iter=5", "--used_task_set=3", "--mlp_arch=5", "--hmlp_arch=5",
          f"--out_dir={tmp_path}", "--loglevel_info"])
    hparams, acc = _session_start(tmp_path / "summary")
    assert hparams["used_task_set"].number_value == 3 and hparams["parser_mode"].string_value == "regression_bbb"
    assert acc.Scalars("hparams/aa_mse_final_mean")[0].value >= 0
