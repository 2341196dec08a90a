"""The SplitCIFAR launchers without README commands (ZenkeNet BbB/AVB/PF-AVB, ResNet AVB/PF-AVB/PF-SSGE/multitask)
run end to end at a tiny budget: two SplitCIFAR-10 tasks, one batch each, small (chunked) hypernetworks."""

import pytest

from probabilistic.args import mode_of
from probabilistic.classification.summary_keys import summary_keys
from probabilistic.prob_cifar import (
    train_resnet_avb,
    train_resnet_avb_pf,
    train_resnet_mt,
    train_resnet_ssge_pf,
    train_zenke_avb,
    train_zenke_avb_pf,
    train_zenke_bbb,
)

TINY = ["--num_tasks=2", "--num_classes_per_task=2", "--epochs=1", "--val_iter=1000", "--loglevel_info"]
SMALL_RESNET = ["--resnet_block_depth=1", "--resnet_channel_sizes=4,4,8,16"]
#: Implicit hypernetworks producing all main-network weights in chunks (the defaults 125,250,500 would be huge).
#: Sigmoid units: with 8 ReLUs all can be dead, a weight then has zero spread and the AC Gaussian r degenerates.
IMP = ["--val_sample_size=2", "--imp_hnet_type=chunked_hmlp", "--imp_hmlp_arch=8", "--imp_hnet_net_act=sigmoid",
       "--imp_chmlp_chunk_size=20000", "--imp_chunk_emb_size=4", "--latent_dim=4", "--train_sample_size=2",
       "--num_kl_samples=2"]
HH = ["--hh_hnet_type=chunked_hmlp", "--hh_hmlp_arch=8", "--hh_chmlp_chunk_size=2000", "--hh_chunk_emb_size=4",
      "--hh_cond_emb_size=4"]

#: ZenkeNet main-network weights with 2 tasks x 2 classes (CL1: 4 outputs), and ResNet-8 with channels 4,4,8,16.
ZENKE_4 = 1_250_858 - 6 * (512 + 1)  # 10-class ZenkeNet (1,250,858) minus 6 output units = 1,247,780
CASES = {
    "zenke_bbb": (train_zenke_bbb, ["--hnet_type=chunked_hmlp", "--hmlp_arch=8", "--chmlp_chunk_size=20000",
                                    "--chunk_emb_size=4", "--cond_emb_size=4", "--train_sample_size=2",
                                    "--val_sample_size=2"], 2 * ZENKE_4),
    # (adaptive contrast off: with this tiny hyper-hypernetwork some generated ZenkeNet weights of task 2 have no
    # spread over the AC samples, r = N(m, s²) then has s = 0 and the loss is NaN)
    "zenke_avb": (train_zenke_avb, IMP + HH + ["--dis_mlp_arch=8", "--no_adaptive_contrast"], ZENKE_4),
    "zenke_avb_pf": (train_zenke_avb_pf, IMP + ["--dis_mlp_arch=8"], ZENKE_4),
    "resnet_avb": (train_resnet_avb, SMALL_RESNET + IMP + HH + ["--dis_mlp_arch=8"], None),
    "resnet_avb_pf": (train_resnet_avb_pf, SMALL_RESNET + IMP + ["--dis_mlp_arch=8"], None),
    "resnet_ssge_pf": (train_resnet_ssge_pf, SMALL_RESNET + IMP + ["--ssge_sample_size=2"], None),
    "resnet_mt": (train_resnet_mt, SMALL_RESNET, None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_launcher_runs(name, tiny_cifar_root, tmp_path):
    launcher, extra, num_main = CASES[name]
    summary = launcher.main(TINY + extra + [f"--out_dir={tmp_path / 'run'}", f"--data_dir={tiny_cifar_root}"])
    method, _ = mode_of(f"cifar_{name}")
    assert list(summary) == summary_keys(method) and summary["finished"] == 1
    assert len(summary["acc_task_given"]) == 2 and all(0 <= a <= 100 for a in summary["acc_task_given"])
    if num_main is not None:
        assert summary["num_weights_main"] == num_main
