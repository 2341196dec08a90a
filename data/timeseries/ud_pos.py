"""Part-of-speech tagging on Universal Dependencies v2.6, one language per task (spec_cl_in_rnns §1.2, §7).

Where the files go (``<root>`` = ``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``):

* the original's preprocessed pickles ``<root>/sequential/mud/mud_data_2_6.pickle`` (``[all_data, vocabularies,
  tagset]``, ``all_data[task] = [train, test, val]``, each ``(x [N, T] word ids, y [N, T] tag ids, lens [N])``)
  and ``<root>/sequential/mud/embeddings.pickle`` (one ``[V, 64]`` array per language); or
* the raw treebanks ``<root>/ud-treebanks-v2.6/UD_<Language>-<Treebank>/*-ud-{train,dev,test}.conllu`` (the
  official release archive extracted; ``<root>/sequential/mud/universal_dependencies/`` is read too) plus, for
  the polyglot embeddings, ``<root>/sequential/mud/word_embeddings/polyglot-<lang>.pkl`` (a pickled
  ``(words, embeddings)`` pair).

Pickles are read only through :func:`utils.safe_pickle.load_plain_pickle`; the arrays are cached as ``.npz``
(:func:`data.cache.load_or_build`), so the pickles and ``.conllu`` files are parsed once.

Preprocessing rules (the original's ``preprocess_mud.py``, re-written): the tag set is the 17 UPOS tags
(sorted here; the original's order came from a Python ``set``, so its pickle stores its own order). A word maps
to its first index in the vocabulary; an unknown word is retried with every digit replaced by ``#``, then with
its lower/upper/title-case form (the most frequent, i.e. lowest index, wins). Rows tagged ``_`` (the surface
form of a multi-word token such as ``dalla`` = ``da`` + ``la``) are removed; a sentence that still holds an
unknown word (index 0) is dropped; a split stops taking sentences once it holds 300,000 tokens; all splits of a
language are zero-padded to the longest raw sentence (``_`` rows included) of its three files.

Without polyglot files: ``--wemb_init=random`` builds the vocabulary from every word form of the language's
three files (most frequent first, index 0 = unknown; nothing is dropped for being unknown), and
``--wemb_init=text`` reads ``word v1 v2 ...`` lines (index 0 = an added all-zero unknown vector, the same
unknown-word rules as polyglot).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data.cache import load_or_build
from data.errors import DatasetError
from data.paths import data_root
from data.timeseries.sequence_task import SeqSplit, SequenceTask
from utils.safe_pickle import UnsafePickleError, load_plain_pickle

#: The 17 universal part-of-speech tags (sorted).
UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
             "SCONJ", "SYM", "VERB", "X")
#: The paper's 20 tasks in order: language code and UD treebank folder (largest treebank above 60k tokens).
PAPER_TREEBANKS = (
    ("en", "UD_English-GUM"), ("ar", "UD_Arabic-PADT"), ("cs", "UD_Czech-PDT"), ("da", "UD_Danish-DDT"),
    ("de", "UD_German-GSD"), ("es", "UD_Spanish-AnCora"), ("fi", "UD_Finnish-FTB"), ("fr", "UD_French-GSD"),
    ("he", "UD_Hebrew-HTB"), ("hi", "UD_Hindi-HDTB"), ("hr", "UD_Croatian-SET"), ("id", "UD_Indonesian-GSD"),
    ("it", "UD_Italian-ISDT"), ("lt", "UD_Lithuanian-ALKSNIS"), ("nl", "UD_Dutch-Alpino"),
    ("no", "UD_Norwegian-Bokmaal"), ("pl", "UD_Polish-PDB"), ("pt", "UD_Portuguese-Bosque"),
    ("sl", "UD_Slovenian-SSJ"), ("sv", "UD_Swedish-LinES"),
)
MAX_TOKENS = 300_000  # per split
RANDOM_EMB_DIM = 64  # the polyglot size, so README hypernetwork configurations keep their shapes
SPLIT_FILES = (("train", "train"), ("test", "test"), ("val", "dev"))  # our split name, UD file suffix
PICKLE_DIR = Path("sequential") / "mud"
DATA_PICKLE, EMB_PICKLE = "mud_data_2_6.pickle", "embeddings.pickle"
TREEBANK_DIRS = (Path("ud-treebanks-v2.6"), PICKLE_DIR / "universal_dependencies")
POLYGLOT_DIR = PICKLE_DIR / "word_embeddings"
UNKNOWN = "<UNK>"
_DIGITS = re.compile("[0-9]")
_HOW_TO_GET = ("get UD v2.6 from https://universaldependencies.org (extract ud-treebanks-v2.6.tgz into the data "
               "root) and polyglot-<lang>.pkl from https://sites.google.com/site/rmyeid/projects/polyglot, or pass "
               "--wemb_init=random to train embeddings from scratch (docs/experiments/pos_tagging.rst)")


# ----------------------------------------------------------------------------------------------------------
# Word lookup and sentence encoding (the preprocessing rules)
# ----------------------------------------------------------------------------------------------------------
def vocabulary_index(words: Sequence[str]) -> dict[str, int]:
    """Word -> its first index in ``words``."""
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    return index


def lookup_word(word: str, index: dict[str, int]) -> int:
    """Vocabulary index of ``word``, retrying unknown words with digits -> ``#`` and then the lower/upper/title
    case form of lowest index; 0 (the unknown word) if nothing matches."""
    if word in index:
        return index[word]
    word = _DIGITS.sub("#", word)
    if word in index:
        return index[word]
    found = [index[w] for w in (word.lower(), word.upper(), word.title()) if w in index]
    return min(found) if found else 0


def is_multiword_row(tag: str | None) -> bool:
    """Rows tagged ``_`` (or None, as some ``conllu`` versions return) are multi-word surface forms."""
    return tag is None or tag == "_"


def encode_split(sentences: Sequence[tuple[Sequence[str], Sequence[str | None]]], index: dict[str, int],
                 tagset: Sequence[str], pad_len: int, max_tokens: int = MAX_TOKENS, source: str = ""
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode ``(words, tags)`` sentences into ``x [N, pad_len]`` word ids, ``y [N, pad_len]`` tag ids and
    ``lens [N]`` (float64, as the original's pickle).

    Multi-word rows are removed, sentences holding an unknown word are dropped, and no new sentence is taken
    once ``max_tokens`` tokens are kept (-1 = no cap).
    """
    tag_ids = {t: i for i, t in enumerate(tagset)}
    xs, ys, n_tokens = [], [], 0
    for words, tags in sentences:
        if max_tokens != -1 and n_tokens >= max_tokens:
            break
        keep = [i for i, t in enumerate(tags) if not is_multiword_row(t)]
        unknown_tags = {tags[i] for i in keep} - tag_ids.keys()
        if unknown_tags:
            raise DatasetError(f"{source}: tag(s) {sorted(unknown_tags)} are not among the {len(tagset)} "
                               "universal PoS tags; use an unmodified UD v2.6 treebank")
        ids = [lookup_word(words[i], index) for i in keep]
        if 0 in ids:
            continue
        xs.append(ids)
        ys.append([tag_ids[tags[i]] for i in keep])
        n_tokens += len(ids)
    x, y, lens = np.zeros((len(xs), pad_len)), np.zeros((len(xs), pad_len)), np.zeros(len(xs))
    for n, (ids, labels) in enumerate(zip(xs, ys)):
        x[n, : len(ids)], y[n, : len(ids)], lens[n] = ids, labels, len(ids)
    return x, y, lens


def read_conllu(path: Path) -> list[tuple[list[str], list[str | None]]]:
    """``(forms, upos tags)`` of every sentence of a ``.conllu`` file (multi-word and empty-node rows kept)."""
    try:
        from conllu import parse_incr  # needed by PoS preprocessing only
    except ImportError:
        raise DatasetError(f"reading {path} needs the conllu package: pip install -c requirements/constraints.txt "
                           "conllu") from None

    with open(path, encoding="utf-8") as f:
        return [([t["form"] for t in sent], [t["upos"] for t in sent]) for sent in parse_incr(f)]


def build_vocabulary(sentences: Sequence[tuple[Sequence[str], Sequence[str | None]]]) -> list[str]:
    """``[<UNK>] + word forms`` most frequent first (ties: first seen), multi-word rows excluded."""
    counts = Counter(w for words, tags in sentences for w, t in zip(words, tags) if not is_multiword_row(t))
    return [UNKNOWN] + [w for w, _ in counts.most_common()]


# ----------------------------------------------------------------------------------------------------------
# Embedding files
# ----------------------------------------------------------------------------------------------------------
def load_polyglot(path: Path) -> tuple[list[str], np.ndarray]:
    """The ``(words, embeddings [V, D])`` pair of a ``polyglot-<lang>.pkl`` (Python 2 pickle, read safely)."""
    words, emb = _safe_load(path)
    words = [w.decode("utf-8") if isinstance(w, bytes) else str(w) for w in words]
    return words, np.asarray(emb, dtype=np.float32)


def load_text_vectors(path: Path) -> tuple[list[str], np.ndarray]:
    """``word v1 v2 ...`` lines -> ``([<UNK>] + words, [V + 1, D])`` with an all-zero unknown vector.

    A first line of two integers (the fastText ``.vec`` header) is skipped.
    """
    words, rows = [UNKNOWN], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").rstrip().split(" ")
            if n == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) < 2:
                continue
            try:
                rows.append(np.array(parts[1:], dtype=np.float32))
            except ValueError:
                raise DatasetError(f"{path}, line {n + 1}: expected 'word v1 v2 ...' with numbers") from None
            if len(rows[-1]) != len(rows[0]):
                raise DatasetError(f"{path}, line {n + 1}: {len(rows[-1])} values, the first line has "
                                   f"{len(rows[0])}")
            words.append(parts[0])
    if not rows:
        raise DatasetError(f"{path}: no 'word v1 v2 ...' lines found")
    return words, np.concatenate([np.zeros((1, len(rows[0])), np.float32), np.stack(rows)])


def _safe_load(path: Path) -> object:
    """Unpickle plain data (bytes encoding, as the original read Python 2 pickles); errors name the file."""
    try:
        return load_plain_pickle(path, encoding="bytes")
    except UnsafePickleError as err:
        raise DatasetError(str(err)) from None
    except Exception as err:  # truncated or not a pickle at all
        raise DatasetError(f"{path}: not a readable pickle ({type(err).__name__}: {err}); replace the file") \
            from None


# ----------------------------------------------------------------------------------------------------------
# Treebanks and the data set of one run
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Treebank:
    """One task: its language code and the folder holding ``<prefix>-ud-{train,dev,test}.conllu``."""

    lang: str
    folder: str

    def files(self, root: Path) -> dict[str, Path]:
        """Our split name -> the expected ``.conllu`` path (the folder is searched in every treebank dir)."""
        base = next((root / d / self.folder for d in TREEBANK_DIRS if (root / d / self.folder).is_dir()),
                    root / TREEBANK_DIRS[0] / self.folder)
        prefix = _file_prefix(base, self.lang, self.folder)
        return {split: base / f"{prefix}-ud-{suffix}.conllu" for split, suffix in SPLIT_FILES}


def _file_prefix(folder: Path, lang: str, name: str) -> str:
    """``en_gum`` for ``UD_English-GUM``: read from the folder's files, else guessed from the folder name."""
    found = sorted(folder.glob("*-ud-*.conllu")) if folder.is_dir() else []
    if found:
        return found[0].name.split("-ud-")[0]
    return f"{lang}_{name.split('-', 1)[-1].lower()}"


def treebanks(spec: str, num_tasks: int, root: Path) -> list[Treebank]:
    """The first ``num_tasks`` treebanks: the paper's list, or ``--ud_treebanks`` (language code read from the
    folder's file names)."""
    if not spec.strip():
        chosen = [Treebank(lang, folder) for lang, folder in PAPER_TREEBANKS]
    else:
        chosen, known = [], {f: lang for lang, f in PAPER_TREEBANKS}
        for folder in (s.strip() for s in spec.split(",") if s.strip()):
            base = next((root / d / folder for d in TREEBANK_DIRS if (root / d / folder).is_dir()), None)
            lang = known.get(folder) or (_file_prefix(base, "", folder).split("_")[0] if base else "")
            if not lang:
                raise DatasetError(f"--ud_treebanks: treebank folder {folder} not found under "
                                   f"{root / TREEBANK_DIRS[0]}; {_HOW_TO_GET}")
            chosen.append(Treebank(lang, folder))
    if num_tasks > len(chosen):
        raise DatasetError(f"--num_tasks={num_tasks} but only {len(chosen)} treebanks are listed "
                           "(--ud_treebanks); lower --num_tasks or list more treebanks")
    return chosen[:num_tasks]


def preprocess_treebanks(banks: Sequence[Treebank], root: Path, wemb_init: str = "polyglot",
                         wemb_file: str = "", tagset: Sequence[str] = UPOS_TAGS) -> dict[str, np.ndarray]:
    """Preprocess the ``.conllu`` files of ``banks`` into the arrays of :func:`arrays_from_pickles`.

    Args:
        wemb_init: ``polyglot`` (``polyglot-<lang>.pkl`` vocabulary and vectors), ``text`` (``wemb_file``) or
            ``random`` (vocabulary from the treebank; no vectors stored).
    """
    arrays: dict[str, np.ndarray] = {"tagset": np.array(tagset)}
    for t, bank in enumerate(banks):
        files = bank.files(root)
        sentences = {split: read_conllu(path) for split, path in files.items()}
        if wemb_init == "random":
            words = build_vocabulary([s for split in ("train", "test", "val") for s in sentences[split]])
        else:
            words, emb = (load_polyglot(polyglot_path(root, bank.lang)) if wemb_init == "polyglot"
                          else load_text_vectors(text_vector_path(wemb_file, bank.lang)))
            arrays[f"emb_{t}"] = emb
        arrays[f"vocab_size_{t}"] = np.array(len(words))
        index = vocabulary_index(words)
        pad_len = max(len(w) for split in sentences.values() for w, _ in split)
        for split, sents in sentences.items():
            x, y, lens = encode_split(sents, index, tagset, pad_len, source=str(files[split]))
            arrays[f"x_{t}_{split}"], arrays[f"y_{t}_{split}"], arrays[f"len_{t}_{split}"] = x, y, lens
    return arrays


def polyglot_path(root: Path, lang: str) -> Path:
    return root / POLYGLOT_DIR / f"polyglot-{lang}.pkl"


def text_vector_path(pattern: str, lang: str) -> Path:
    return Path(pattern.replace("{lang}", lang)).expanduser()


def arrays_from_pickles(data_path: Path, emb_path: Path, num_tasks: int) -> dict[str, np.ndarray]:
    """The first ``num_tasks`` languages of the original's ``mud_data_2_6.pickle`` and ``embeddings.pickle``."""
    content = _safe_load(data_path)
    if not (isinstance(content, (list, tuple)) and len(content) == 3):
        raise DatasetError(f"{data_path}: expected [all_data, vocabularies, tagset] (the original's format)")
    all_data, vocabs, tagset = content
    embeddings = _safe_load(emb_path)
    if len(all_data) < num_tasks or len(embeddings) < num_tasks:
        raise DatasetError(f"{data_path}: holds {min(len(all_data), len(embeddings))} languages, --num_tasks="
                           f"{num_tasks} asks for more")
    arrays: dict[str, np.ndarray] = {"tagset": np.array([t.decode() if isinstance(t, bytes) else str(t)
                                                         for t in tagset])}
    for t in range(num_tasks):
        for (split, _), (x, y, lens) in zip(SPLIT_FILES, all_data[t]):
            arrays[f"x_{t}_{split}"], arrays[f"y_{t}_{split}"] = np.asarray(x), np.asarray(y)
            arrays[f"len_{t}_{split}"] = np.asarray(lens)
        arrays[f"emb_{t}"] = np.asarray(embeddings[t], dtype=np.float32)
        arrays[f"vocab_size_{t}"] = np.array(len(vocabs[t]))
    return arrays


@dataclass
class PosData:
    """The encoded splits of a run plus where its word embeddings come from."""

    arrays: dict[str, np.ndarray]
    languages: list[str]
    source: str  # which files (and embeddings) were read, for config.json and the log

    def embeddings(self, t: int) -> np.ndarray | None:
        """Initial embeddings ``[V, D]`` of task ``t`` (None for random init)."""
        return self.arrays.get(f"emb_{t}")

    def vocab_size(self, t: int) -> int:
        return int(self.arrays[f"vocab_size_{t}"])

    @property
    def embedding_dim(self) -> int:
        """Size of a word vector (64 for polyglot and random init)."""
        emb = self.embeddings(0)
        return RANDOM_EMB_DIM if emb is None else emb.shape[1]


def load_pos_data(num_tasks: int, wemb_init: str = "polyglot", wemb_file: str = "", ud_treebanks: str = "",
                  data_dir: str | None = None) -> PosData:
    """Arrays of the first ``num_tasks`` languages: from the original's pickles (polyglot, paper order, when
    present), else preprocessed from the ``.conllu`` files; cached as ``.npz`` either way.

    Raises:
        DatasetError: one line naming the missing files and how to obtain them.
    """
    root = data_root(data_dir)
    banks = treebanks(ud_treebanks, num_tasks, root)
    langs = [b.lang for b in banks]
    pickles = [root / PICKLE_DIR / DATA_PICKLE, root / PICKLE_DIR / EMB_PICKLE]
    if wemb_init == "polyglot" and not ud_treebanks.strip() and all(p.is_file() for p in pickles):
        arrays = load_or_build(f"ud_pos_pickle_{num_tasks}", pickles,
                               lambda: arrays_from_pickles(pickles[0], pickles[1], num_tasks))
        return PosData(arrays, langs, f"polyglot embeddings from {pickles[0]} and {pickles[1]}")
    if wemb_init == "text" and not wemb_file:
        raise DatasetError("--wemb_init=text needs --wemb_file (a 'word v1 v2 ...' file, '{lang}' = language)")
    needed = [p for b in banks for p in b.files(root).values()]
    if wemb_init == "polyglot":
        needed += [polyglot_path(root, lang) for lang in langs]
    elif wemb_init == "text":
        needed += [text_vector_path(wemb_file, lang) for lang in langs]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        shown = ", ".join(_relative(p, root) for p in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        pickle_hint = (f"{root / PICKLE_DIR}/{{{DATA_PICKLE},{EMB_PICKLE}}} (the original's preprocessed files) or "
                       if wemb_init == "polyglot" and not ud_treebanks.strip() else "")
        raise DatasetError(f"PoS data missing: {shown}{more} (under {root}); provide {pickle_hint}these files: "
                           f"{_HOW_TO_GET}")
    key = hashlib.sha1(f"{wemb_init}|{wemb_file}|{','.join(b.folder for b in banks)}".encode()).hexdigest()[:10]
    arrays = load_or_build(f"ud_pos_{wemb_init}_{key}", needed,
                           lambda: preprocess_treebanks(banks, root, wemb_init, wemb_file))
    what = {"polyglot": "polyglot embeddings from polyglot-<lang>.pkl", "random": "random embeddings",
            "text": f"text vectors from {wemb_file}"}[wemb_init]
    return PosData(arrays, langs, f"{what}; treebanks {', '.join(b.folder for b in banks)} preprocessed from "
                                  f"{needed[0].parent.parent}")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------------------
def crop_to_longest(split: SeqSplit) -> SeqSplit:
    """Drop the time steps after the longest sequence of ``split`` (PoS mini-batches, as the original)."""
    T = int(split.lengths.max()) if len(split) else 0
    return SeqSplit(split.inputs[:, :T], split.targets[:, :T], split.lengths, None)


class PosTask(SequenceTask):
    """A language: inputs ``[N, T, 1]`` word ids (float), targets ``[N, T, 1]`` tag ids (int64), lengths ``[N]``.
    Training batches are cropped to their longest sentence."""

    def take(self, split: str, n: int) -> SeqSplit:
        return crop_to_longest(super().take(split, n))


def pos_tasks(data: PosData, num_tasks: int, seed: int = 42, device: torch.device | str = "cpu"
              ) -> list[PosTask]:
    """One :class:`PosTask` per language (``len(tagset)`` output units each)."""
    a, tasks = data.arrays, []
    for t in range(num_tasks):
        splits = {}
        for split, _ in SPLIT_FILES:
            x, y, lens = a[f"x_{t}_{split}"], a[f"y_{t}_{split}"], a[f"len_{t}_{split}"]
            splits[split] = SeqSplit(torch.from_numpy(x.astype(np.float32))[..., None],
                                     torch.from_numpy(y.astype(np.int64))[..., None],
                                     torch.from_numpy(lens.astype(np.int64)))
        tasks.append(PosTask(splits, name=f"PoS-{data.languages[t]}", out_dim=len(a["tagset"]), seed=seed + t,
                             device=device))
    return tasks


# ----------------------------------------------------------------------------------------------------------
# Writers of the on-disk formats (tests and tiny stand-in data sets)
# ----------------------------------------------------------------------------------------------------------
def write_conllu(path: Path, sentences: Sequence[Sequence[tuple[str, str, str]]]) -> None:
    """Write sentences of ``(id, form, upos)`` rows as a ``.conllu`` file (other columns ``_``; ids such as
    ``"1-2"`` make multi-word rows, tagged ``_``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, sentence in enumerate(sentences):
        lines.append(f"# sent_id = {n + 1}")
        lines += [f"{i}\t{form}\t_\t{tag}\t_\t_\t_\t_\t_\t_" for i, form, tag in sentence]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_original_pickles(folder: Path, all_data: list, vocabularies: list[list[str]], tagset: Sequence[str],
                           embeddings: list[np.ndarray]) -> None:
    """Write ``mud_data_2_6.pickle`` and ``embeddings.pickle`` in the original's format into ``folder``."""
    import pickle

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / DATA_PICKLE, "wb") as f:
        pickle.dump([all_data, vocabularies, list(tagset)], f)
    with open(folder / EMB_PICKLE, "wb") as f:
        pickle.dump(embeddings, f)


def random_pos_language(rng: np.random.RandomState, vocab_size: int = 20, sizes: Sequence[int] = (24, 8, 8),
                        min_len: int = 3, max_len: int = 15, dim: int = 64, num_tags: int = len(UPOS_TAGS)
                        ) -> tuple[list, list[str], np.ndarray]:
    """One language in the pickle format: ``[train, test, val]`` of ``(x, y, lens)`` float arrays (random
    sentences of ``min_len``..``max_len`` known words, tag = word id mod ``num_tags`` so it can be learned), its
    vocabulary and random ``[vocab_size, dim]`` embeddings."""
    splits = []
    for n in sizes:
        lens = rng.randint(min_len, max_len + 1, size=n)
        x = np.zeros((n, max_len))
        for i, L in enumerate(lens):
            x[i, :L] = rng.randint(1, vocab_size, size=L)
        splits.append((x, np.where(x > 0, x % num_tags, 0), lens.astype(np.float64)))
    words = [UNKNOWN] + [f"w{i}" for i in range(1, vocab_size)]
    return splits, words, rng.randn(vocab_size, dim).astype(np.float32)
