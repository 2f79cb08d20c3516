"""The brand's corpus: its approved records, their train / held-out split, and fact words.

Everything that learns from or measures against the brand's approved copy reads it here:
the learned checks (vocabulary, lexicon), calibration, the voice model, training and eval.

- **Files**: brand.yaml ``training.data`` (a file or a folder of ``*.jsonl`` / ``*.csv``),
  hashed together for manifests and caches.
- **The split**: a record is held out when the sha256 of its id falls below
  ``training.eval_fraction`` (at least one held out when there are two or more), so
  training, the learned checks and eval agree on which records were never learned from.
- **Fact words**: what a row's facts say, as words. One tokenizer (lower case, letters
  and digits, an inner apostrophe kept, curly apostrophes straightened), one stop list
  (:data:`FILLER`: words of a fact that say nothing about whether copy states it) and one
  plural folding (:func:`fold`: "zippers" and "zipper", "batteries" and "battery" meet).
  Grounding, coverage, candidate ranking and the lexicon all use these.
"""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from stylegen.errors import DataError
from stylegen.validation.records import read_records, Record

SUFFIXES = (".jsonl", ".csv")
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")  # letters and digits (any script), an inner apostrophe
# Words of a fact that say nothing about whether a text states it.
FILLER = frozenset("a an and the of for with in on to from by its it is or at".split())


# --- files ------------------------------------------------------------------------------


def data_files(path: str | Path) -> list[Path]:
    """The approved-copy files of a file or a folder (``*.jsonl``, ``*.csv``, recursively, sorted).

    Raises:
        DataError: nothing readable there.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"training data: {path}: no such file or directory")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataError(f"training data: {path}: no *.jsonl or *.csv files")
    return files


def files_sha256(files: list[Path]) -> str:
    """One sha256 over the data files (names and bytes), for manifests and caches."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- the split --------------------------------------------------------------------------


def is_eval(record_id: str, eval_fraction: float) -> bool:
    """A record is held out when the hash of its id falls below ``eval_fraction``."""
    value = int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:8], "big") / 2**64
    return value < eval_fraction


def held_out_ids(record_ids, eval_fraction: float) -> frozenset[str]:
    """The held-out record ids; at least one when there are two or more and the fraction is not 0."""
    ids = sorted(set(record_ids))
    held = {rid for rid in ids if is_eval(rid, eval_fraction)}
    if eval_fraction > 0 and not held and len(ids) > 1:  # tiny sets: hold out the lowest hash
        held = {min(ids, key=lambda rid: hashlib.sha256(rid.encode()).digest())}
    return frozenset(held)


# --- approved records -------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """The approved records of a brand (those with an id), the files they came from, the split."""

    records: list[Record]
    files: list[Path]
    eval_fraction: float

    @property
    def sha256(self) -> str:
        return files_sha256(self.files)

    def held_out(self) -> frozenset[str]:
        """The held-out record ids (the split ``stylegen train`` makes)."""
        return held_out_ids([r.id for r in self.records], self.eval_fraction)

    def with_facts(self) -> list[Record]:
        """The records that carry a facts object (what grounding and the learned checks need)."""
        return [r for r in self.records if isinstance(r.facts, dict)]

    def with_tasks(self, tasks) -> list[Record]:
        """The records with text in at least one of ``tasks``."""
        return [r for r in self.records if any(_has_text(r.fields.get(t)) for t in tasks)]


def load_corpus(brand, data: str | Path | None = None) -> Corpus:
    """The approved records of brand.yaml ``training.data`` (or of ``data``).

    Malformed rows are skipped here: ``stylegen train`` and ``validate`` report them.

    Raises:
        DataError: the files cannot be found.
    """
    files = data_files(data if data is not None else brand.resolve(brand.training.data))
    records = [r for path in files for r in read_records(path, brand)[0] if r.id]
    return Corpus(records, files, brand.training.eval_fraction)


def task_records(brand, data: str | Path | None = None) -> tuple[list[Record], list[Path]]:
    """The approved records with text in at least one of the brand's tasks, and the files read.

    Raises:
        DataError: the files cannot be found, or none of their records has task text.
    """
    corpus = load_corpus(brand, data)
    records = corpus.with_tasks(brand.tasks)
    if not records:
        raise DataError(f"no approved records with task fields in {', '.join(map(str, corpus.files))}")
    return records, corpus.files


def _has_text(value) -> bool:
    if isinstance(value, list):
        return any(isinstance(v, str) and v.strip() for v in value)
    return isinstance(value, str) and bool(value.strip())


# --- fact words -------------------------------------------------------------------------


def leaves(value) -> list[str]:
    """Every string of a facts value, lists and mappings flattened (None and booleans skipped)."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in leaves(v)]
    if value is None or isinstance(value, bool):
        return []
    return [str(value)]


def words(text: str) -> list[str]:
    """The words of ``text``: lower case, letters and digits, an inner apostrophe kept."""
    return TOKEN.findall((text or "").lower().replace("\u2019", "'"))


def fold(word: str) -> str:
    """A crude singular, so that "zippers"/"zipper" and "batteries"/"battery" meet."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "as")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def folded_words(text: str) -> list[str]:
    """:func:`words` with plurals folded: how a text is compared with facts."""
    return [fold(w) for w in words(text)]


def letter_words(text: str) -> list[str]:
    """:func:`words` that hold no digit: what a lexicon spells and precision counts (numbers
    are read apart, as quantities)."""
    return [w for w in words(text) if not any(ch.isdigit() for ch in w)]


@functools.lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """English function words (spaCy's stop-word list), lower case, with clitics."""
    from spacy.lang.en.stop_words import STOP_WORDS  # spaCy: heavy, loaded on first use

    return frozenset(w.lower() for w in STOP_WORDS) | {"'s", "n't", "'re", "'ll", "'ve", "'d"}


def fact_words(facts: dict | None) -> frozenset[str]:
    """Every folded word of every fact value (nested lists included), fillers aside."""
    return frozenset(w for leaf in leaves(facts or {}) for w in folded_words(leaf) if w not in FILLER)


def surface_fact_words(facts: dict | None) -> frozenset[str]:
    """Every word of every fact value as written (lower case, unfolded): words a text may use."""
    return frozenset(w for leaf in leaves(facts or {}) for w in words(leaf))
