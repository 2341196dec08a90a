"""UD PoS data: the preprocessing rules on a generated treebank (exact arrays), the original's pickles, safe
unpickling, caching, text vectors and the one-line errors for missing files."""

import pickle

import numpy as np
import pytest

from data.errors import DatasetError
from data.timeseries import ud_pos
from data.timeseries.ud_pos import (
    DATA_PICKLE,
    PICKLE_DIR,
    UPOS_TAGS,
    encode_split,
    load_pos_data,
    load_text_vectors,
    lookup_word,
    pos_tasks,
    random_pos_language,
    vocabulary_index,
    write_conllu,
    write_original_pickles,
)
from tests.data.conftest import write_py2_pickle

TAG = {t: i for i, t in enumerate(UPOS_TAGS)}  # ADP 1, DET 5, NOUN 7, NUM 8, PROPN 11, PUNCT 12, VERB 15
# A polyglot-like vocabulary: index 0 unknown, "the" twice (the first index counts), case variants of "paris".
VOCAB = ["<UNK>", "the", "cat", "sat", "on", "mat", "####", "paris", "PARIS", "Nasa", ".", "da", "la", "casa", "the"]


def rows(text: str) -> list[tuple[str, str, str]]:
    """``"the/DET cat/NOUN"`` -> numbered ``(id, form, upos)`` rows; ``dalla/_/1-2`` gives a multi-word row."""
    out, n = [], 0
    for item in text.split():
        form, tag, *span = item.split("/")
        if span:
            out.append((span[0], form, tag))
        else:
            n += 1
            out.append((str(n), form, tag))
    return out


TRAIN = [
    "The/DET cat/NOUN sat/VERB on/ADP the/DET mat/NOUN ./PUNCT",  # "The" -> lower case "the" (index 1)
    "Paris/PROPN 1999/NUM ./PUNCT",  # "paris" (7) beats "PARIS" (8); 1999 -> "####" (6)
    "the/DET dog/NOUN sat/VERB",  # "dog" is unknown: dropped
    "dalla/_/1-2 da/ADP la/DET casa/NOUN",  # the multi-word row is removed (raw length 4)
    "NASA/PROPN ./PUNCT",  # title case "Nasa" (9)
]
TEST = ["the/DET cat/NOUN ./PUNCT", "cat/NOUN dog/NOUN"]
DEV = ["the/DET cat/NOUN sat/VERB on/ADP the/DET mat/NOUN on/ADP the/DET mat/NOUN"]  # 9 words: the padding


@pytest.fixture
def ud_root(tmp_path):
    """A data root with one generated treebank (UD_English-GUM layout) and a Python 2 style polyglot pickle."""
    folder = tmp_path / "ud-treebanks-v2.6" / "UD_English-GUM"
    for split, sentences in (("train", TRAIN), ("test", TEST), ("dev", DEV)):
        write_conllu(folder / f"en_gum-ud-{split}.conllu", [rows(s) for s in sentences])
    emb = np.arange(len(VOCAB) * 4, dtype=np.float32).reshape(len(VOCAB), 4)
    write_py2_pickle(tmp_path / PICKLE_DIR / "word_embeddings" / "polyglot-en.pkl", (VOCAB, emb))
    return tmp_path


def padded(seqs: list[list[int]], T: int = 9) -> np.ndarray:
    out = np.zeros((len(seqs), T))
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def test_preprocessing_gives_the_exact_arrays(ud_root):
    data = load_pos_data(1, "polyglot", data_dir=str(ud_root))
    a = data.arrays
    np.testing.assert_array_equal(a["x_0_train"], padded([[1, 2, 3, 4, 1, 5, 10], [7, 6, 10], [11, 12, 13], [9, 10]]))
    np.testing.assert_array_equal(a["y_0_train"], padded([
        [TAG["DET"], TAG["NOUN"], TAG["VERB"], TAG["ADP"], TAG["DET"], TAG["NOUN"], TAG["PUNCT"]],
        [TAG["PROPN"], TAG["NUM"], TAG["PUNCT"]], [TAG["ADP"], TAG["DET"], TAG["NOUN"]],
        [TAG["PROPN"], TAG["PUNCT"]]]))
    np.testing.assert_array_equal(a["len_0_train"], [7, 3, 3, 2])
    np.testing.assert_array_equal(a["x_0_test"], padded([[1, 2, 10]]))  # "cat dog" dropped
    np.testing.assert_array_equal(a["len_0_val"], [9])
    assert a["x_0_train"].dtype == np.float64 and a["len_0_train"].dtype == np.float64  # as the original pickle
    assert list(a["tagset"]) == list(UPOS_TAGS) and TAG["DET"] == 5 and TAG["VERB"] == 15
    np.testing.assert_array_equal(a["emb_0"][7], np.arange(28, 32))
    assert data.vocab_size(0) == 15 and data.embedding_dim == 4


@pytest.mark.parametrize("word, expected", [
    ("the", 1), ("The", 1), ("Paris", 7), ("PARIS", 8), ("NASA", 9), ("1999", 6), ("dog", 0), ("<UNK>", 0),
], ids=["known", "lower", "lowest-index-case", "exact", "title", "digits", "unknown", "unk-token"])
def test_unknown_word_retries(word, expected):
    assert lookup_word(word, vocabulary_index(VOCAB)) == expected


@pytest.mark.parametrize("cap, kept", [(7, 1), (8, 2), (-1, 4)])
def test_token_cap_stops_before_the_next_sentence(cap, kept):
    sentences = [([f for _, f, _ in rows(s)], [t for _, _, t in rows(s)]) for s in TRAIN]
    x, y, lens = encode_split(sentences, vocabulary_index(VOCAB), UPOS_TAGS, 9, max_tokens=cap)
    assert x.shape == (kept, 9) and lens.tolist() == [7, 3, 3, 2][:kept]


def test_tag_outside_the_tagset_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"x\.conllu: tag\(s\) \['FOO'\]"):
        encode_split([(["cat"], ["FOO"])], vocabulary_index(VOCAB), UPOS_TAGS, 1, source="x.conllu")


def test_random_init_vocabulary_keeps_every_sentence(ud_root):
    a = load_pos_data(1, "random", data_dir=str(ud_root)).arrays
    assert [len(a[f"len_0_{s}"]) for s in ("train", "test", "val")] == [5, 2, 1]
    assert "emb_0" not in a
    # Most frequent first: "the" (7 times) is word 1, "." and "cat" follow.
    assert a["x_0_val"][0, 0] == 1 and a["x_0_train"][0, 0] != a["x_0_train"][0, 4]  # "The" != "the" here
    assert int(a["vocab_size_0"]) == 1 + len({f for s in TRAIN + TEST + DEV for _, f, t in rows(s) if t != "_"})


def test_text_vectors(tmp_path):
    path = tmp_path / "vec.en.txt"
    path.write_text("2 3\nthe 1 2 3\ncat 4 5 6\n")
    words, emb = load_text_vectors(path)
    assert words == ["<UNK>", "the", "cat"]
    np.testing.assert_array_equal(emb, [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2\ncat 1\n")
    with pytest.raises(DatasetError, match="bad.txt, line 2: 1 values"):
        load_text_vectors(bad)


def test_text_vectors_per_language(ud_root, tmp_path):
    (tmp_path / "v.en.txt").write_text("the 1 1\ncat 2 2\n. 3 3\n")
    data = load_pos_data(1, "text", str(tmp_path / "v.{lang}.txt"), data_dir=str(ud_root))
    np.testing.assert_array_equal(data.arrays["x_0_test"], padded([[1, 2, 3]]))  # the only fully known sentence
    assert data.embedding_dim == 2 and "text vectors" in data.source


# ------------------------------------------------------------------------------------------------ pickles
@pytest.fixture
def pickle_root(tmp_path):
    rng = np.random.RandomState(0)
    langs = [random_pos_language(rng, sizes=(6, 3, 3)) for _ in range(3)]
    write_original_pickles(tmp_path / PICKLE_DIR, [splits for splits, _, _ in langs], [w for _, w, _ in langs],
                           UPOS_TAGS[::-1], [e for _, _, e in langs])
    return tmp_path, langs


def test_original_pickles_load_and_are_cached(pickle_root, monkeypatch, isolated_env):
    root, langs = pickle_root
    data = load_pos_data(2, data_dir=str(root))
    np.testing.assert_array_equal(data.arrays["x_1_test"], langs[1][0][1][0])
    np.testing.assert_array_equal(data.arrays["y_0_val"], langs[0][0][2][1])
    np.testing.assert_array_equal(data.embeddings(1), langs[1][2])
    assert list(data.arrays["tagset"]) == list(UPOS_TAGS[::-1])  # the pickle's own tag order is kept
    assert data.languages == ["en", "ar"] and "mud_data_2_6.pickle" in data.source
    assert len(list(isolated_env.glob("ud_pos_pickle_2-*.npz"))) == 1
    monkeypatch.setattr(ud_pos, "arrays_from_pickles", lambda *a: pytest.fail("pickle parsed twice"))
    again = load_pos_data(2, data_dir=str(root))
    np.testing.assert_array_equal(again.arrays["x_1_train"], data.arrays["x_1_train"])
    tasks = pos_tasks(again, 2)
    assert tasks[0].splits["train"].inputs.shape == (6, 15, 1) and tasks[0].out_dim == 17
    assert int(tasks[0].take("train", 4).inputs.shape[1]) <= 15  # batches cropped to their longest sentence


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_malicious_pickle_is_refused_with_one_line(tmp_path):
    folder = tmp_path / PICKLE_DIR
    write_original_pickles(folder, [], [], UPOS_TAGS, [])
    (folder / DATA_PICKLE).write_bytes(pickle.dumps([_Exploit(), [], []]))
    with pytest.raises(DatasetError) as err:
        load_pos_data(1, data_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and DATA_PICKLE in message and "posix.system" in message


def test_missing_files_name_them_in_one_line(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_pos_data(2, data_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message
    for name in ("UD_English-GUM/en_gum-ud-train.conllu", "UD_Arabic-PADT/ar_padt-ud-dev.conllu",
                 "polyglot-ar.pkl", "mud_data_2_6.pickle", "--wemb_init=random"):
        assert name in message


def test_preprocessed_arrays_round_trip_through_the_original_pickle_format(ud_root, tmp_path):
    """What the preprocessor builds from the .conllu files, written as the original's pickles, loads back equal."""
    a = load_pos_data(1, "polyglot", data_dir=str(ud_root)).arrays
    all_data = [[tuple(a[f"{k}_0_{split}"] for k in ("x", "y", "len")) for split in ("train", "test", "val")]]
    root = tmp_path / "as_pickle"
    write_original_pickles(root / PICKLE_DIR, all_data, [VOCAB], list(a["tagset"]), [a["emb_0"]])
    b = load_pos_data(1, data_dir=str(root)).arrays
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
