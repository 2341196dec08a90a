"""Every PoS README command (spec §6, rows 19-29) parses and runs end to end at a tiny budget.

Each command's own flags are kept; only the budget shrinks: ``--n_iter=2``, ``--batch_size=8``, ``--n_fisher=4``
(EWC), on tiny generated files in the original's format (``mud_data_2_6.pickle`` + ``embeddings.pickle``: 20
languages of 24/8/8 random sentences over 20 words, 64-d embeddings), so the README networks keep their exact
sizes (the HNET row checks its compression ratio). Missing data ends the launcher with exit code 2 and one line.
"""

import json
import re
import shlex

import numpy as np
import pytest

from data.timeseries.ud_pos import PICKLE_DIR, UPOS_TAGS, random_pos_language, write_original_pickles
from sequential.pos_tagging.train_pos import main as pos_main
from tests.conftest import SHARED

SCRIPT = "sequential/pos_tagging/train_pos.py"


def _targets() -> list[dict]:
    path = SHARED / "spec" / "targets_cl_in_rnns.json"
    if not path.exists():
        return []
    return [t for t in json.loads(path.read_text()) if t["script"] == SCRIPT]


def _id(t: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_+.]+", "-", f"{t['id']:02d}-{t['method']}")


@pytest.fixture(scope="module")
def pos_root(tmp_path_factory):
    """Data root with the original's two pickles for 20 tiny languages."""
    root = tmp_path_factory.mktemp("pos_data")
    rng = np.random.RandomState(0)
    langs = [random_pos_language(rng) for _ in range(20)]
    write_original_pickles(root / PICKLE_DIR, [s for s, _, _ in langs], [w for _, w, _ in langs], UPOS_TAGS,
                           [e for _, _, e in langs])
    return root


@pytest.fixture
def tiny_pos(pos_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(pos_root))
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(pos_root / "cache"))


def test_all_pos_readme_commands_are_listed():
    if not _targets():
        pytest.skip("shared/spec not present")
    assert [t["id"] for t in _targets()] == list(range(19, 30))


@pytest.mark.parametrize("target", _targets(), ids=_id)
def test_pos_readme_command_runs(target, tiny_pos, tmp_path):
    argv = shlex.split(target["args"]) + ["--n_iter=2", "--batch_size=8", f"--out_dir={tmp_path / 'run'}"]
    if "--use_ewc" in argv:
        argv.append("--n_fisher=4")
    summary = pos_main(argv)
    assert summary["finished"] == 1
    final, fscores = summary["final_accuracy"], summary["final_fscore"]
    assert len(final) == len(fscores) == 20
    assert all(0.0 <= a <= 100.0 for a in final) and all(0.0 <= f <= 1.0 for f in fscores)
    assert summary["mean_final_fscore"] == pytest.approx(np.mean(fscores))
    keys = [line.split()[0] for line in (tmp_path / "run" / "performance_overview.txt").read_text().splitlines()]
    assert keys[:2] == ["mean_final_fscore", "mean_during_fscore" if "--multitask" not in argv else "final_fscore"]
    assert keys[-1] == "finished"
    if "--multitask" not in argv:
        assert len(summary["during_fscore"]) == 20
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "mud_data_2_6.pickle" in config["wemb_source"]
    if "--hnet_all" in argv:  # the README BiLSTM exactly: 47,188 generated weights, 39,147 hnet parameters
        assert summary["compression_ratio"] == pytest.approx(target["derived"]["compression_ratio"], abs=1e-4)


def test_missing_pos_data_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as code:
        pos_main(["--num_tasks=2", "--n_iter=1", f"--out_dir={tmp_path / 'run'}"])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "UD_English-GUM/en_gum-ud-train.conllu" in err and "polyglot-ar.pkl" in err


def test_random_embeddings_need_only_the_treebanks(tmp_path, monkeypatch):
    """``--wemb_init=random`` preprocesses a generated treebank; training lowers the task loss."""
    from data.timeseries.ud_pos import write_conllu

    rng = np.random.RandomState(1)
    folder = tmp_path / "ud-treebanks-v2.6" / "UD_English-GUM"
    for split, n in (("train", 40), ("dev", 8), ("test", 8)):
        sentences = []
        for _ in range(n):
            words = rng.randint(0, 6, size=rng.randint(2, 7))
            sentences.append([(str(i + 1), f"w{w}", UPOS_TAGS[w]) for i, w in enumerate(words)])
        write_conllu(folder / f"en_gum-ud-{split}.conllu", sentences)
    monkeypatch.setenv("HYPERCL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(tmp_path / "cache"))
    summary = pos_main(["--num_tasks=1", "--n_iter=150", "--batch_size=16", "--lr=0.02", "--rnn_arch=16",
                        "--use_bidirectional_net", "--fix_bilstm_masking", "--wemb_init=random",
                        f"--out_dir={tmp_path / 'run'}"])
    # Every word has one tag: a few steps tag the unseen test sentences nearly perfectly.
    assert summary["final_accuracy"][0] > 90.0 and summary["final_fscore"][0] > 0.9
    assert json.loads((tmp_path / "run" / "config.json").read_text())["wemb_source"].startswith("random embeddings")
