"""spaCy internals stylegen relies on (spaCy 3.8).

* :func:`ruler_rules`, :func:`override_call`, :func:`token_attrs_setter`: the fast path of
  the ``attribute_ruler`` (``stylegen.validation.nlp``) reads the ruler's private rule
  lists, swaps the component's class for a subclass with its own ``__call__``, and
  applies attributes with the private ``spacy.tokens._retokenize.set_token_attrs``.
* :func:`lemmatizer_tables`: the claim prefilter (``stylegen.validation.grounding``) runs
  the rule lemmatizer backwards, so it reads the lemmatizer's ``lemma_rules`` and
  ``lemma_exc`` lookup tables and relies on how ``Lemmatizer.rule_lemmatize`` applies them.

``tests/test_compat.py`` checks each of these against the installed spaCy.
"""
from __future__ import annotations


def ruler_rules(ruler) -> list[tuple[list, int, dict]]:
    """Every rule of an ``AttributeRuler``, in its order: ``(patterns, index, attrs)``.

    ``patterns`` are the rule's Matcher patterns, ``index`` the token of the match that
    gets the attributes (negative: from the end), ``attrs`` the attributes normalized to
    ids, as the ruler applies them. The ruler keeps these in the private-by-convention
    lists ``attrs`` and ``indices`` and in its ``matcher`` under the key ``str(rule)``.
    """
    return [(ruler.matcher.get(str(i))[1], ruler.indices[i], ruler.attrs[i]) for i in range(len(ruler.attrs))]


def override_call(component, call, name: str) -> None:
    """Give one pipeline component instance its own ``__call__`` (``call(self, doc)``).

    Python looks ``__call__`` up on the class, so the instance's class is swapped for a
    subclass named ``name``; the component keeps its state, name and config, and
    ``isinstance`` checks against the original class still pass.
    """
    component.__class__ = type(name, (type(component),), {"__call__": call})


def token_attrs_setter():
    """spaCy's private ``set_token_attrs(token, attrs)``: how ``AttributeRuler`` applies
    one rule's normalized attributes to a token."""
    from spacy.tokens._retokenize import set_token_attrs

    return set_token_attrs


def lemmatizer_tables(lemmatizer) -> tuple[list[tuple[str, str]], dict[str, set[str]]]:
    """A rule lemmatizer's suffix rules and its exceptions, read for inversion.

    Returns:
        ``rules``: every ``(old, new)`` suffix rule of every part of speech (the
        lemmatizer turns a word ending in ``old`` into one ending in ``new``);
        ``exceptions``: lemma (lower case) -> the forms its exception table maps to it.
    """
    lookups = lemmatizer.lookups
    rules = [tuple(r) for table in lookups.get_table("lemma_rules", {}).values() for r in table]
    exceptions: dict[str, set[str]] = {}
    for table in lookups.get_table("lemma_exc", {}).values():
        for form, lemmas in table.items():
            for lemma in lemmas:
                exceptions.setdefault(lemma.lower(), set()).add(form.lower())
    return rules, exceptions
