"""Every RNN script that reads dataset files takes ``--data_dir``."""


def test_data_dir_flag_reaches_the_loaders(stroke_root, tmp_path, monkeypatch):
    """``--data_dir`` beats ``$HYPERCL_DATA_DIR`` (here pointing nowhere) for the file-reading families."""
    from sequential.smnist.train_split_smnist import main as smnist_main

    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(tmp_path / "cache"))
    summary = smnist_main(["--num_tasks=2", "--n_iter=2", "--batch_size=8", "--val_set_size=16",
                           f"--data_dir={stroke_root}", f"--out_dir={tmp_path / 'run'}"])
    assert summary["finished"] == 1
