"""Check types: the small fixed set of things a rule file can ``extends:``.

A rule is data (``validators/<Suite>/<Rule>.yml``); a check type is the code behind it.
Every module in this package is imported by :func:`check_types`, so adding a check type
means adding one module here. Heavy imports (spaCy, textstat) go inside methods.

How to add a check type
-----------------------
::

    from dataclasses import dataclass, field
    from stylegen.validation.checks import Check, Hit, Target, register

    @register("grounding")
    class Grounding(Check):
        '''One line saying what the check does (shown by ``stylegen brand check``).'''

        @dataclass
        class Options:                 # the type-specific rule keys, with defaults
            terms: str = "brand.claims"
            ignore: list[str] = field(default_factory=list)

        scope = "text"        # "text": once per field text, list items one by one (default)
                              # "field": once per field, target.value is the str or list
                              # "record": once per record, target.field is None
        needs_doc = True      # True: target.doc is the spaCy Doc of target.text
        needs_parser = False  # True: the Doc needs dependency labels (costs time)

        def needs_for(self, text):
            # Optional, for speed: the annotation this check needs for this text
            # (None, "tokens", "tags" or "parse"; see ANNOTATIONS). The default follows
            # needs_doc / needs_parser ("tags" / "parse"). Return less when a cheap test
            # shows the text cannot match (no claim term in it: "tokens" or None). The
            # tagger and lemmatizer cost ~20x the tokenizer, the parser ~30% more.
            return "tags"

        def setup(self, problem):
            # Runs once when the rule file is loaded. self.options is an Options
            # instance, self.brand the BrandKit, self.rule the Rule (id, file, ...).
            # Report bad option values with problem(key, message); all problems of all
            # rule files are collected and raised together as one ConfigError.
            if not self.brand.claim_terms:
                problem("terms", "the brand kit lists no claims")

        def check(self, target: Target):
            # target.text / target.doc / target.key ("bullets[2]") / target.name ("bullets")
            # target.facts (the record's facts dict, or None), target.record, target.brand
            # target.doc has at least the annotation needs_for() asked for (other rules
            # may have asked for more); it is None when needs_for() returned None.
            for tok in target.doc:
                if tok.lower_ == "waterproof" and "waterproof" not in str(target.facts):
                    yield Hit(tok.idx, tok.idx + len(tok.text), values={"term": tok.text})

The ``Options`` dataclass *is* the declaration of a type's keys: the rule loader builds it
with :func:`stylegen.kit.config.load_dataclass`, so unknown keys, wrong types and missing
required keys are reported with the file, line and key path, and the valid keys are
listed. Keys common to every rule (``extends``, ``message``, ``level``, ``fields``,
``description``) are handled by :mod:`stylegen.validation.rules` and must not be declared again.

A check yields :class:`Hit` objects. The validator turns each into a
:class:`~stylegen.validation.findings.Finding`: the message is the rule's ``message`` with
``{match}`` (the text between ``start`` and ``end``) and every ``values`` key filled
in; positions become line/col.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

CHECK_TYPES: dict[str, type["Check"]] = {}
# Levels of spaCy annotation a check can ask for, cheapest first: "tokens" (tokenizer and
# rule-based sentences), "tags" (+ tagger, POS, lemmas), "parse" (+ dependency labels).
ANNOTATIONS = ("tokens", "tags", "parse")


def register(name: str):
    """Class decorator: make a :class:`Check` subclass available as ``extends: <name>``."""

    def deco(cls):
        cls.type_name = name
        CHECK_TYPES[name] = cls
        return cls

    return deco


def check_types() -> dict[str, type["Check"]]:
    """Every registered check type, importing all modules of this package once."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return CHECK_TYPES


@dataclass
class Hit:
    """One match of a check inside the target text (character offsets) or record."""

    start: int | None = None
    end: int | None = None
    values: dict = field(default_factory=dict)
    key: str | None = None  # for record-scope checks: the field the hit is about


@dataclass
class Target:
    """What a check looks at: one field text (or one field, or a record) with context."""

    record: Any
    brand: Any
    key: str | None = None
    name: str | None = None
    text: str | None = None
    value: Any = None
    doc: Any = None

    @property
    def facts(self) -> dict | None:
        """The record's source facts (``None`` when the copy came without them)."""
        return self.record.facts


class Check:
    """Base class of check types; see the module docstring for how to write one."""

    type_name: ClassVar[str] = ""
    scope: ClassVar[str] = "text"
    needs_doc: ClassVar[bool] = False
    needs_parser: ClassVar[bool] = False

    @dataclass
    class Options:
        """No type-specific keys."""

    def __init__(self, rule: Any, options: Any, brand: Any):
        self.rule = rule
        self.options = options
        self.brand = brand

    def setup(self, problem: Callable[[str, str], None]) -> None:
        """Prepare the check once (compile patterns, build matchers); report bad options."""

    def needs_for(self, text: str) -> str | None:
        """The spaCy annotation needed for ``text``: None or one of :data:`ANNOTATIONS`."""
        if self.needs_parser:
            return "parse"
        return "tags" if self.needs_doc else None

    def check(self, target: Target) -> Iterable[Hit]:
        """Yield a :class:`Hit` for every problem in ``target``."""
        raise NotImplementedError
