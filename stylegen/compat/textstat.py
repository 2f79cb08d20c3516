"""textstat internals stylegen relies on (textstat 0.7.7 to 0.7.x).

textstat counts syllables with the CMU Pronouncing Dictionary, which it gets from NLTK:
``textstat.backend.utils._get_cmudict.get_cmudict(lang)`` calls ``nltk.download`` when
the corpus is missing (a network call on first use, a crash offline). Its only caller is
``textstat.backend.counts._count_syllables.count_syllables``, which imported the name
into its own module. :func:`replace_cmudict_lookup` rebinds the name there (and in the
utils module, for completeness) and clears ``count_syllables``'s cache.

``tests/test_compat.py`` checks that layout against the installed textstat.
"""
from __future__ import annotations

COUNTING_MODULE = "textstat.backend.counts._count_syllables"
LOOKUP_MODULE = "textstat.backend.utils._get_cmudict"


def replace_cmudict_lookup(get_cmudict):
    """Make textstat's syllable counter look words up with ``get_cmudict(lang)``.

    Args:
        get_cmudict: a drop-in for textstat's ``get_cmudict``: language code -> a dict
            word -> list of phoneme lists (or None for an unsupported language).

    Returns:
        The ``textstat`` module, patched.
    """
    import importlib

    import textstat

    counting = importlib.import_module(COUNTING_MODULE)
    lookup = importlib.import_module(LOOKUP_MODULE)
    counting.get_cmudict = get_cmudict  # the only call site textstat has
    lookup.get_cmudict = get_cmudict
    counting.count_syllables.cache_clear()  # nothing computed through NLTK survives
    return textstat
