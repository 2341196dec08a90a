"""Behaviour on a small permuted Copy Task: the hypernetwork protects task 0, fine-tuning forgets it."""

import pytest

import sequential.families as families
from sequential.copy.train_copy import main

BASE = ("--multi_head --num_tasks=2 --batch_size=128 --n_iter=150 --lr=0.005 --clip_grad_norm=1 --rnn_arch=64 "
        "--use_vanilla_rnn --permute_time --loglevel_info --val_iter=1000").split()
HNET = ("--hnet_all --use_new_hnet --nh_hnet_type=chunked_hmlp --nh_chmlp_chunk_size=1000 --nh_hmlp_arch=50,50 "
        "--std_normal_emb=0.1 --beta=1").split()


@pytest.mark.slow
def test_hnet_protects_and_fine_tuning_forgets(tmp_path, monkeypatch):
    monkeypatch.setattr(families, "COPY_SIZES", (5000, 500, 200))
    ft = main(BASE + [f"--out_dir={tmp_path / 'ft'}"])
    hnet = main(BASE + HNET + [f"--out_dir={tmp_path / 'hnet'}"])
    assert min(ft["during_accuracy"]) > 75 and min(hnet["during_accuracy"]) > 75  # chance level: 50 %
    assert ft["during_accuracy"][0] - ft["final_accuracy"][0] > 15  # measured: 79.2 -> 53.7
    assert hnet["during_accuracy"][0] - hnet["final_accuracy"][0] < 3  # measured: 84.1 -> 83.0
