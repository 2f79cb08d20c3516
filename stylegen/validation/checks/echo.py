"""Check type ``echo``: copy that repeats what the model was told instead of writing copy.

A small model given "Write the product description for {name}.\\n{facts}" (and, on a
retry, "Fix: ... (KettleCairn.Hype)") sometimes copies that text into its answer. Kinds
(``echoes:``, default all), each a finding with the span of the echoed text:

* ``prompt``: a run of words from the literal part of a task prompt (brand.yaml
  ``tasks.*.prompt`` without its ``{placeholders}``) or of the system line: at least
  ``prompt_words`` (default 3) words with a content word ("one per line"), or two words
  naming a task ("feature bullets", "meta description").
* ``retry``: a retry note: a sentence starting "Fix:", or a rule id (``KettleCairn.Hype``,
  ``Default.Passive``: a suite of the validators folder, or ``Stylegen``).
* ``message``: a run of at least ``message_words`` (default 4) words, two of them content
  words, from the literal part of a rule's ``message`` (the rules of the brand's suites).
* ``label``: a field label at the start of a line or sentence: the brand's catalog field
  and task names, humanised ("Name:", "Features:", "Meta description:"), plus ``labels``.
* ``role``: chat roles leaking ("assistant:", "user:", "system:" at the start of a line or
  sentence) and chat-template tokens (``<|im_end|>``).
* ``phrase``: the brand's own ``phrases`` (any case, whole words), e.g. a house
  instruction the model has seen in examples.

Message placeholders: ``{echo}`` (what is echoed: "task prompt", "retry note", "rule
message of KettleCairn.Hype", "field label", "chat role", "listed phrase"), ``{kind}``,
``{match}``. Plain string matching: no spaCy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from stylegen.errors import ConfigError
from stylegen.kit.yaml_lines import load_yaml
from stylegen.kit.prompts import DEFAULT_SYSTEM
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.suites import available_suites, suite_files

ECHOES = ("prompt", "retry", "message", "label", "role", "phrase")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019\-][A-Za-z0-9]+)*")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
FUNCTION_WORDS = frozenset("""
a an the and or but nor so of in on at to for from by with into as than then is are was were
be been it its this that these those there they them their you your we our us he she i me my
do does did has have had not no can could will would should may might must if when which who
what how all any each every both some such more most one per up out off
""".split())
# A line or sentence start, then an optional list marker: where a label or role begins.
_START = r"(?:^|(?<=[.!?]))[ \t]*(?:[-*\u2022][ \t]*)?"
_FIX = re.compile(_START + r"(?P<echo>fix[ \t]*:.*?(?:[.!?](?=\s|$)|$))", re.IGNORECASE | re.MULTILINE)
_ROLE = re.compile(_START + r"(?P<echo>(?:assistant|user|system)[ \t]*:)|(?P<token><\|[A-Za-z_]{1,24}\|>)",
                   re.IGNORECASE | re.MULTILINE)
_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class _Source:
    kind: str    # "prompt" or "message"
    what: str    # the {echo} text
    min_words: int
    task_words: frozenset = frozenset()


@register("echo")
class Echo(Check):
    """Prompt text, retry notes, rule messages, field labels or chat roles copied into the copy."""

    @dataclass
    class Options:
        echoes: list[str] = field(default_factory=lambda: list(ECHOES))
        prompt_words: int = 3
        message_words: int = 4
        labels: list[str] = field(default_factory=list)
        phrases: list[str] = field(default_factory=list)

    def setup(self, problem):
        """Collect the prompt, rule-message, label and phrase texts once; check options."""
        opts = self.options
        bad = [e for e in opts.echoes if e not in ECHOES]
        if bad:
            problem("echoes", f"unknown echo kind(s) {', '.join(map(repr, bad))} (valid: {', '.join(ECHOES)})")
        for key in ("prompt_words", "message_words"):
            if getattr(opts, key) < 2:
                problem(key, f"must be at least 2 (got {getattr(opts, key)})")
        for key in ("labels", "phrases"):
            if any(not str(v).strip() for v in getattr(opts, key)):
                problem(key, "entries must be non-empty strings")
        self.enabled = set(opts.echoes)
        root = self.rule.file.parent.parent if self.rule is not None else None  # None: no rule files to read
        self._grams = self._ngrams(root)
        self._label = _label_regex(_labels(self.brand) + list(opts.labels))
        self._rule_id = _rule_id_regex(self.brand if root is not None else None)
        self._phrase = _phrase_regex(opts.phrases)

    def check(self, target):
        """Yield a hit per echoed stretch of ``target.text`` (overlaps: the earlier, longer one)."""
        text = target.text
        if not text:
            return
        hits = []
        if self.enabled & {"prompt", "message"}:
            hits += self._word_runs(text)
        if "retry" in self.enabled:
            hits += [_hit(m.start("echo"), m.end("echo"), "retry", "retry note") for m in _FIX.finditer(text)]
            hits += [_hit(*m.span(), "retry", "retry note") for m in self._rule_id.finditer(text)]
        if "label" in self.enabled and self._label is not None:
            hits += [_hit(m.start("echo"), m.end("echo"), "label", "field label") for m in self._label.finditer(text)]
        if "role" in self.enabled:
            hits += [_hit(*m.span(m.lastgroup), "role", "chat role") for m in _ROLE.finditer(text)]
        if "phrase" in self.enabled and self._phrase is not None:
            hits += [_hit(*m.span(), "phrase", "listed phrase") for m in self._phrase.finditer(text)]
        yield from _no_overlaps(hits)

    # --- setup helpers -----------------------------------------------------------------

    def _suite_files(self, root) -> list:
        """Rule files of the brand's suites and of this rule's own suite."""
        if root is None or self.rule is None:
            return []
        suites = dict.fromkeys(list(self.brand.validators.suites) + [self.rule.suite])
        return [p for s in suites for p in suite_files(self.brand, s) if p.suffix in _SUFFIXES]

    def _ngrams(self, root) -> dict[tuple, _Source]:
        """Every run of two or more words of the prompt and message texts -> its source.

        All runs are stored, so a match can grow word by word; whether it is long enough
        is decided per source when the run ends (prompt texts first, they win ties).
        """
        grams: dict[tuple, _Source] = {}
        if "prompt" in self.enabled:
            task_words = frozenset(w for name in self.brand.tasks for w in _humanise(name).lower().split())
            prompt = _Source("prompt", "task prompt", self.options.prompt_words, task_words)
            for template in [t.prompt for t in self.brand.tasks.values()] + [DEFAULT_SYSTEM]:
                _add_runs(grams, template, prompt)
        if "message" in self.enabled:
            for path, message in _messages(self._suite_files(root)):
                source = _Source("message", f"rule message of {path.parent.name}.{path.stem}",
                                 self.options.message_words)
                _add_runs(grams, message, source)
        return grams

    # --- matching ------------------------------------------------------------------------

    def _word_runs(self, text: str) -> list[Hit]:
        """Longest runs of words that are a run of some prompt or message text."""
        words = [(m.group().lower().replace("\u2019", "'"), m.start(), m.end()) for m in _WORD.finditer(text)]
        hits, i = [], 0
        while i < len(words):
            j, source = i + 2, None
            while j <= len(words) and tuple(w for w, _, _ in words[i:j]) in self._grams:
                source = self._grams[tuple(w for w, _, _ in words[i:j])]
                j += 1
            run = tuple(w for w, _, _ in words[i:j - 1])
            if source is not None and source.kind in self.enabled and _long_enough(run, source):
                hits.append(_hit(words[i][1], words[j - 2][2], source.kind, source.what))
                i = j - 1
            else:
                i += 1
        return hits


def _hit(start: int, end: int, kind: str, what: str) -> Hit:
    return Hit(start, end, values={"kind": kind, "echo": what})


def _no_overlaps(hits: list[Hit]) -> list[Hit]:
    out: list[Hit] = []
    for h in sorted(hits, key=lambda h: (h.start, -h.end)):
        if not out or h.start >= out[-1].end:
            out.append(h)
    return out


def _long_enough(run: tuple, source: _Source) -> bool:
    """A prompt run needs ``min_words`` words with a content word, or two words that name a
    task plus another content word ("feature bullets"); a message run ``min_words`` words,
    two of them content words (so "is in the" never counts)."""
    content = [w for w in run if w not in FUNCTION_WORDS and not w.isdigit()]
    if source.kind == "message":
        return len(run) >= source.min_words and len(content) >= 2
    if len(run) >= source.min_words and content:
        return True
    return any(w in source.task_words for w in content) and len(content) >= 2


def _add_runs(grams: dict, template: str, source: _Source) -> None:
    """Store every run of 2+ words inside each literal part of ``template``."""
    for part in _PLACEHOLDER.split(template):
        for line in part.splitlines():
            words = [w.lower().replace("\u2019", "'") for w in _WORD.findall(line)]
            for i in range(len(words)):
                for j in range(i + 2, len(words) + 1):
                    grams.setdefault(tuple(words[i:j]), source)


def _messages(files: list) -> list[tuple]:
    """``(path, message)`` of every readable rule file (broken ones are the loader's to report)."""
    out = []
    for path in files:
        try:
            data = load_yaml(path)
        except ConfigError:
            continue
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            out.append((path, data["message"]))
    return out


def _humanise(name: str) -> str:
    """``meta_description`` -> ``Meta description``."""
    return name.replace("_", " ").strip().capitalize()


def _labels(brand) -> list[str]:
    """Field labels a prompt shows: catalog fields (the facts block), tasks, "Facts"."""
    names = [_humanise(n) for n in list(brand.catalog.fields) + list(brand.tasks)] + ["Facts"]
    out = []
    for name in names:  # "Features" / "Feature", "Name" / "Names"
        out += [name, name[:-1] if name.endswith("s") else name + "s"]
    return out


def _label_regex(labels: list[str]):
    labels = sorted({lab.strip() for lab in labels if lab.strip()}, key=len, reverse=True)
    if not labels:
        return None
    alt = "|".join(r"[ \t]+".join(map(re.escape, lab.split())) for lab in labels)
    return re.compile(_START + rf"(?P<echo>(?:{alt})[ \t]*:)", re.IGNORECASE | re.MULTILINE)


def _rule_id_regex(brand):
    """A rule id ``Suite.Rule`` of any suite the kit can use (or ``Stylegen``), in parentheses or not."""
    suites = {"Stylegen"} | (set(available_suites(brand)) if brand is not None else set())
    alt = "|".join(sorted(map(re.escape, suites), key=len, reverse=True))
    return re.compile(rf"\(?\b(?:{alt})\.[A-Z][A-Za-z0-9]*\b\)?")


def _phrase_regex(phrases: list[str]):
    phrases = sorted({p.strip() for p in phrases if str(p).strip()}, key=len, reverse=True)
    if not phrases:
        return None
    alt = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
    return re.compile(rf"(?<!\w)(?:{alt})(?!\w)", re.IGNORECASE)
