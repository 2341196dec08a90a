"""Online EWC bookkeeping shared by both papers: closed-form penalty, online accumulation, the in-place decay quirk
and its fix flag in an RNN run."""

import pytest
import torch

from utils.ewc import decay_fisher_, ewc_penalty, online_fisher


def test_penalty_closed_form_and_online_update():
    w, a, f = [torch.tensor([1.0, 2.0])], [torch.tensor([0.0, 0.0])], [torch.tensor([2.0, 0.5])]
    assert float(ewc_penalty(w, a, f)) == pytest.approx(0.5 * (2 * 1 + 0.5 * 4))
    merged = online_fisher([torch.tensor([1.0, 1.0])], f, gamma=0.5)
    assert merged[0].tolist() == [2.0, 1.25]
    first = online_fisher(f, None, gamma=0.5)
    assert first[0].tolist() == [2.0, 0.5] and first[0] is not f[0]


def test_in_place_decay_compounds_at_every_evaluation():
    f = [torch.tensor([4.0])]
    w, a = [torch.tensor([1.0])], [torch.tensor([0.0])]
    values = []
    for _ in range(3):  # what the training loop does with the quirk on
        decay_fisher_(f, 0.5)
        values.append(float(ewc_penalty(w, a, f)))
    assert values == [1.0, 0.5, 0.25] and float(f[0]) == 0.5


def test_rnn_fix_flag_keeps_the_fisher(tmp_path, monkeypatch):
    """With --ewc_gamma=0.5 the quirk shrinks the stored Fisher at every step of task 2; --fix_online_ewc keeps it."""
    import sequential.families as families
    import sequential.runner as runner
    from sequential.copy.train_copy import main

    monkeypatch.setattr(families, "COPY_SIZES", (32, 16, 16))
    seen = {}
    real = runner.ewc_penalty

    def spy(weights, anchors, fishers):
        seen.setdefault("first", float(fishers[0].sum()))
        seen["last"] = float(fishers[0].sum())
        return real(weights, anchors, fishers)

    monkeypatch.setattr(runner, "ewc_penalty", spy)
    argv = ["--num_tasks=2", "--n_iter=4", "--batch_size=8", "--use_ewc", "--ewc_gamma=0.5", "--n_fisher=4",
            "--multi_head"]
    main(argv + [f"--out_dir={tmp_path / 'quirk'}"])
    assert seen["last"] == pytest.approx(seen["first"] * 0.5**3)  # 4 steps: decayed before each penalty
    seen.clear()
    main(argv + ["--fix_online_ewc", f"--out_dir={tmp_path / 'fixed'}"])
    assert seen["last"] == pytest.approx(seen["first"])
