"""Deterministic fixes: apply the ``fix:`` of the rules that fired, then validate again.

A rule file may name one fix action (``fix: remove``, ``fix: {action: replace, with: "."}``;
loaded strictly by :mod:`stylegen.validation.rules`). :func:`fix_records` applies the
fixes of the findings of a batch of records, re-validates every changed record with
*every* rule (one batched :meth:`Validator.check` call per round) and keeps a fixed text
only when it is strictly better: fewer error-level findings, or as many errors and fewer
warnings. A fix never loosens a rule: the fixed text is checked again like any other.

Actions (each edits one field text, at the finding's ``field`` and ``span``):

* ``replace``: the match becomes the rule's ``with`` text, or for a substitution rule the
  swap value of the term (only where the match is the listed term as written, case
  aside: "utilized" is not rewritten to "use"; a capital first letter is kept), or for
  a ``name`` rule the product name's word as the facts spell it.
* ``remove``: the match goes, and the join is tidied (one space, no space before
  punctuation, a capital at a sentence start, "an" -> "a" before a consonant, a comma
  that is left dangling). Pattern rules remove the match as is. Rules that match words
  (existence, tone, grounding, ...) remove only a modifier whose removal leaves the
  sentence whole: an adverb ("probably", "kind of"), or a word right before a noun,
  adjective or number ("an amazing stove" -> "a stove"); never a predicate ("is
  perfect for"), a noun ("a game-changer"), a verb ("might"), a word after an adverb or
  "and", nor a word the record's facts contain (a product name).
* ``strip_period``: the trailing period(s) go.
* ``capitalize``: the first character, when it is a lowercase letter, is capitalised.
* ``truncate``: cut after the last whole sentence that keeps the field within the rule's
  maximum (occurrence ``max`` of words, characters or sentences; the schema's
  ``maxLength`` of the field); nothing when even the first sentence is too long.
* ``drop_sentence``: the sentence that holds the match goes (a prose field; never its only
  sentence), or the whole item of a list field (``bullets[2]``).

Per round and record, the candidates are all planned edits together (non-overlapping,
the wider edit first; right to left within a field; one drop per field) and, when they
touch several fields, each field's edits alone (a field whose edits together did not help
is tried edit by edit next round). All candidates of all records go through one batched
check. The best candidate that is strictly better wins (ties: fewer edits). When none is,
one that is only as good (it trades one error for another: "oz!" -> "oz." swaps
Exclamation for BulletPeriod) is planned on for one more round and kept only if that
round ends strictly better than the best so far; else the record goes back to its best.
An edit that did not help is not tried again on the same text. Only error and warning
findings are fixed: a suggestion (or a finding waived by the record's note) cannot make
the count better.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from stylegen.catalog.rows import copied_name
from stylegen.validation.findings import Finding
from stylegen.validation import nlp
from stylegen.validation.readability import count_words
from stylegen.validation.records import Record
from stylegen.validation.validator import Validator

_FIXED_LEVELS = ("error", "warning")
_KEY = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d+)\]$")
_TRAILING_PERIODS = re.compile(r"\s*\.+\s*$")
_NOMINAL = ("NOUN", "PROPN", "ADJ", "NUM")
_NEEDS_DOC = ("truncate", "drop_sentence")
_STOPS = ".!?"
_OPENERS = " \t\n([{-\u2013\u2014,;:"  # not kept at the end of a truncated text
_AN_EXCEPTIONS = ("uni", "use", "usu", "uti", "ure", "eu", "one", "once")
_AN_SILENT_H = ("hour", "honest", "honor", "honour", "heir")


@dataclass(frozen=True)
class AppliedFix:
    """One fix that was kept: which rule's action changed which field, and how."""

    rule: str      # "KettleCairn.Swaps"
    field: str     # "description" or "bullets[2]"
    action: str    # "replace"
    before: str    # the whole field text before
    after: str     # the whole field text after ("" for a dropped list item)

    def to_dict(self) -> dict:
        """A JSON-ready dict of every key."""
        return asdict(self)


@dataclass
class FixOutcome:
    """A record after fixing, with the findings of a full re-validation of its final text."""

    record: Record
    findings: list[Finding]
    fixes: list[AppliedFix] = field(default_factory=list)


@dataclass(frozen=True)
class _Edit:
    """One planned change: replace ``[start, end)`` of the text of ``key`` with ``text``."""

    rule: str
    key: str
    action: str
    start: int
    end: int
    text: str = ""
    tidy: bool = False   # remove: tidy the join (spaces, capital, article)
    item: bool = False   # drop the whole list item ``key``
    source: str = ""     # the field text the edit was planned on

    def signature(self) -> tuple:
        """The edit, and the text it was planned on: what "tried before" compares."""
        return (self.rule, self.key, self.action, self.start, self.end, self.source)

    def group(self) -> str:
        """What "one drop per field" counts: the list for an item drop, else the key."""
        return _split_key(self.key)[0] if self.item else self.key


def fix_records(validator: Validator, records: list[Record], findings: list[list[Finding]] | None = None,
                max_rounds: int = 3) -> list[FixOutcome]:
    """Apply the fixes of the rules that fired, re-validate with every rule (batched), repeat.

    Args:
        validator: the brand's validator (its rules carry the ``fix`` actions).
        records: the records to fix (not changed: fixed records are copies).
        findings: ``validator.check(records)`` when already computed.
        max_rounds: rounds of fix-and-revalidate (one batched check call each).

    Returns:
        One :class:`FixOutcome` per record, in order. Records with nothing fixable come
        back as given, with their findings and no fixes, without being validated again.
    """
    findings = validator.check(records) if findings is None else findings
    rules = {r.id: r for r in validator.rules if r.fix is not None}
    states = [_State(FixOutcome(rec, list(found))) for rec, found in zip(records, findings)]
    active = list(range(len(records)))
    for _ in range(max_rounds):
        plans = _plan_round(validator.brand, rules, states, active)
        if not plans:
            break
        candidates = [(i, unit) for i, edits in plans.items() for unit in _candidates(edits, states[i])]
        built = [(i, unit, *_apply(states[i].frontier.record, unit)) for i, unit in candidates]
        results = validator.check([rec for _, _, rec, _ in built])
        active = _accept(states, built, results)
    return [state.best for state in states]


@dataclass
class _State:
    """A record's search: the best version so far, the version edits are planned on (the
    best, or one step past it that was only as good), and what did not help: edits (by
    signature) and fields (by key and text) whose edits together did not help, so they
    are tried one by one next."""

    best: FixOutcome
    frontier: FixOutcome | None = None
    blocked: set = field(default_factory=set)
    split: set = field(default_factory=set)

    def __post_init__(self):
        self.frontier = self.frontier or self.best

    @property
    def tentative(self) -> bool:
        return self.frontier is not self.best


def _plan_round(brand, rules: dict, states: list[_State], active: list[int]) -> dict:
    """Record index -> the edits to try this round (records without any left out).

    A record one step past its best with nothing left to fix there goes back to its best.
    """
    plans = _plan_all(brand, rules, states, active)
    back = [i for i in active if i not in plans and states[i].tentative]
    for i in back:
        states[i].frontier = states[i].best
    return {**plans, **_plan_all(brand, rules, states, back)} if back else plans


def _plan_all(brand, rules: dict, states: list[_State], indices: list[int]) -> dict:
    outcomes = {i: states[i].frontier for i in indices}
    wanted = [(i, f, rules[f.rule]) for i in indices for f in outcomes[i].findings
              if f.rule in rules and f.level in _FIXED_LEVELS and f.field is not None]
    docs = _docs([(_text_at(outcomes[i].record, f.field), _doc_level(rule)) for i, f, rule in wanted])
    plans: dict[int, list[_Edit]] = {}
    for i, finding, rule in wanted:
        record = outcomes[i].record
        text = _text_at(record, finding.field)
        edit = _plan(rule, finding, record, text, docs.get(text), brand) if text is not None else None
        if edit is not None and edit.signature() not in states[i].blocked:
            plans.setdefault(i, []).append(edit)
    return {i: _select(edits) for i, edits in plans.items()}


def _doc_level(rule) -> str | None:
    """The spaCy annotation the rule's fix reads: sentences, or tags to judge a removal."""
    if (rule.fix.action == "remove" and rule.extends != "pattern") or rule.fix.action == "drop_sentence":
        return "tags"  # drop_sentence: whether the next sentence opens with a part as its subject
    return "tokens" if rule.fix.action in _NEEDS_DOC else None


def _docs(wanted: list[tuple]) -> dict:
    """Docs for the texts some fix reads, one batched pass per annotation level."""
    level_of: dict[str, str] = {}
    for text, level in wanted:
        if text and level is not None and level_of.get(text) != "tags":
            level_of[text] = level
    docs = {}
    for level in ("tokens", "tags"):
        texts = [t for t, lv in level_of.items() if lv == level]
        if texts:
            docs.update(zip(texts, nlp.parse(texts, level=level)))
    return docs


def _select(edits: list[_Edit]) -> list[_Edit]:
    """Non-overlapping edits, the wider first, at most one drop per field; in input order."""
    kept: list[_Edit] = []
    dropped: set[str] = set()
    for edit in sorted(edits, key=lambda e: e.start - e.end):  # stable: ties keep finding order
        if edit.action == "drop_sentence" and edit.group() in dropped:
            continue
        if any(k.key == edit.key and k.start < edit.end and edit.start < k.end for k in kept):
            continue
        if edit.action == "drop_sentence":
            dropped.add(edit.group())
        kept.append(edit)
    chosen = {id(e) for e in kept}  # by identity: two findings can plan equal edits
    return [e for e in edits if id(e) in chosen]


def _candidates(edits: list[_Edit], state: _State) -> list[list[_Edit]]:
    """A record's candidates: all its edits, and each unit alone when there are several.

    A unit is one field's edits (a field that did not get better with all of its edits
    together gives one unit per edit). A field's text is the same in the all-edits
    candidate and in its unit, so the extra candidates cost the validator no spaCy pass.
    """
    units: dict[tuple, list[_Edit]] = {}
    for edit in edits:
        one_by_one = (edit.key, edit.source) in state.split
        units.setdefault((edit.key, edit.signature() if one_by_one else None), []).append(edit)
    return [edits] + (list(units.values()) if len(units) > 1 else [])


def _accept(states: list[_State], built: list, results: list) -> list[int]:
    """Per record: keep the best strictly better candidate; else take one step to a
    candidate that is only as good (a fix that trades one error for another, which the
    next round may fix: "oz!" -> "oz." -> "oz"); else go back to the best. Units that did
    not help are remembered. Returns the records to plan again."""
    by_record: dict[int, list] = {}
    for (i, unit, record, applied), found in zip(built, results):
        by_record.setdefault(i, []).append((_score(found), len(unit), unit, record, found, applied))
    for i, cands in by_record.items():
        state, base = states[i], _score(states[i].best.findings)
        better = [c for c in cands if c[0] < base]
        _remember(state, [c[2] for c in cands if c[0] > base or (not better and c[0] == base)])
        if better:
            step = min(better, key=lambda c: c[:2])  # ties: the fewer edits
            state.best = state.frontier = _stepped(state, step)
            continue
        neutral = [c for c in cands if c[0] == base]
        state.frontier = _stepped(state, min(neutral, key=lambda c: c[1])) \
            if neutral and not state.tentative else state.best
    return sorted(by_record)


def _stepped(state: _State, cand: tuple) -> FixOutcome:
    _, _, _, record, found, applied = cand
    return FixOutcome(record, found, state.frontier.fixes + applied)


def _remember(state: _State, units: list[list[_Edit]]) -> None:
    """Block single edits that did not help; try a field's edits one by one next time."""
    for unit in units:
        if len({e.key for e in unit}) != 1:
            continue  # a record's edits in several fields: its units are judged one by one
        if len(unit) == 1:
            state.blocked.add(unit[0].signature())
        else:
            state.split.add((unit[0].key, unit[0].source))


def _score(findings: list[Finding]) -> tuple[int, int]:
    """(errors, warnings): smaller is better, errors first."""
    return (sum(f.level == "error" for f in findings), sum(f.level == "warning" for f in findings))


# --- planning: one finding -> one edit ---------------------------------------------------

def _plan(rule, finding: Finding, record: Record, text: str, doc, brand) -> _Edit | None:
    """The edit the rule's fix makes for ``finding`` (None: no safe edit)."""
    planned = _PLANNERS[rule.fix.action](rule, finding, record, text, doc, brand)
    if planned is None:
        return None
    start, end, new, tidy, item = planned
    if not item and not any(c.isalnum() for c in text[:start] + new + text[end:]):
        return None  # never leave a field without words
    return _Edit(rule.id, finding.field, rule.fix.action, start, end, new, tidy, item, text)


def _plan_replace(rule, finding, record, text, doc, brand):
    if finding.span is None:
        return None
    start, end = finding.span
    match = text[start:end]
    new = rule.fix.replacement if rule.fix.replacement is not None else _swap_for(rule, match, record)
    if new is None:
        return None
    if match[:1].isupper() and new[:1].islower():
        new = new[0].upper() + new[1:]  # "Purchase it" -> "Buy it"
    if new.strip(_STOPS) == "" and text[:start].rstrip()[-1:] in tuple(_STOPS):
        new = ""  # "clean?!" -> "clean?", not "clean?."
    return (start, end, new, False, False) if new != match else None


def _swap_for(rule, match: str, record) -> str | None:
    """The substitution rule's swap for ``match`` written as the listed term (case aside),
    or what a check with its own ``replacement(match, record)`` says (a name's spelling)."""
    if hasattr(rule.check, "replacement"):
        return rule.check.replacement(match, record)
    swaps = getattr(rule.check, "swaps", {})
    if match in swaps:
        return swaps[match]
    if getattr(rule.check.options, "ignorecase", True):
        for term, preferred in swaps.items():
            if term.lower() == match.lower():
                return preferred
    return None  # an inflection ("utilized"): the swap ("use") would not fit


def _plan_remove(rule, finding, record, text, doc, brand):
    if finding.span is None:
        return None
    if rule.extends == "pattern":
        return (*finding.span, "", True, False)
    if doc is None:
        return None
    found = _removable(doc, *finding.span, record.facts)
    return (*found, "", True, False) if found is not None else None


def _removable(doc, start: int, end: int, facts: dict | None) -> tuple[int, int] | None:
    """The range to remove for a word match, or None when removing it breaks the sentence."""
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or not len(span) or _in_facts(span.text, facts) or _bound(doc, span):
        return None
    prev = doc[span.start - 1] if span.start > 0 and not span[0].is_sent_start else None
    nxt = doc[span.end] if span.end < len(doc) else None
    if not all(t.pos_ == "ADV" for t in span) and not _is_modifier(doc, span, prev, nxt):
        return None
    lo, hi = start, end  # the match itself: "K&C." is one token, its period stays
    if prev is not None and prev.text == ",":
        lo = prev.idx  # "light, amazing stove" -> "light stove"
        if nxt is not None and nxt.text == ",":
            hi = nxt.idx + 1  # "is, perhaps, the" -> "is the"
    elif nxt is not None and nxt.text == "," and (prev is None or prev.pos_ == "DET"):
        hi = nxt.idx + 1  # "A premium, eco-friendly stove" -> "An eco-friendly stove"
    return lo, hi


def _bound(doc, span) -> bool:
    """Whether the match is part of something larger: a name written in capitals mid-
    sentence ("the Ultimate Pack"), a hyphenated word ("note-perfect"), "100% eco-friendly"."""
    first, last = span[0], span[-1]
    if first.text[:1].isupper() and not first.is_sent_start:
        return True
    before = doc[span.start - 1] if span.start > 0 else None
    after = doc[span.end] if span.end < len(doc) else None
    glued_before = before is not None and not before.whitespace_ and before.text in ("-", "%")
    return glued_before or (after is not None and not last.whitespace_ and after.text == "-")


def _is_modifier(doc, span, prev, nxt) -> bool:
    """A word before a noun, adjective or number (also across a comma), not after an adverb
    or a conjunction: "an amazing stove", "premium, eco-friendly down"."""
    if prev is not None and prev.pos_ in ("ADV", "CCONJ"):
        return False
    if nxt is not None and nxt.text == "," and nxt.i + 1 < len(doc):
        nxt = doc[nxt.i + 1]
    return nxt is not None and nxt.pos_ in _NOMINAL


def _in_facts(match: str, facts: dict | None) -> bool:
    """Whether the product's facts hold the matched words (a name such as "Perfect Pour")."""
    if not facts:
        return False
    blob = " ".join(_strings(facts))
    return re.search(rf"(?<!\w){re.escape(match)}(?!\w)", blob, re.IGNORECASE) is not None


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None else []


def _plan_strip_period(rule, finding, record, text, doc, brand):
    m = _TRAILING_PERIODS.search(text)
    return (m.start(), len(text), "", False, False) if m and m.start() > 0 else None


def _plan_capitalize(rule, finding, record, text, doc, brand):
    body = len(text) - len(text.lstrip())
    first = text[body:body + 1]
    return (body, body + 1, first.upper(), False, False) if first.islower() else None


def _plan_truncate(rule, finding, record, text, doc, brand):
    limit = _limit(rule, finding.field, brand)
    if limit is None or doc is None or _size(text, limit[0], doc.sents) <= limit[1]:
        return None
    cut = _cut(text, doc, *limit)
    return (cut, len(text), "", False, False) if cut is not None else None


def _limit(rule, key: str, brand) -> tuple[str, int] | None:
    """``(unit, max)`` the rule itself sets: occurrence ``max``, or the schema's maxLength."""
    if rule.extends == "occurrence":
        opts = rule.check.options
        return (opts.count, opts.max) if opts.max is not None else None
    node = (brand.schema_doc or {}).get("properties", {}).get(_split_key(key)[0], {})
    if _split_key(key)[1] is not None:
        node = node.get("items", {}) if isinstance(node.get("items"), dict) else {}
    top = node.get("maxLength")
    return ("characters", top) if isinstance(top, int) else None


def _size(text: str, unit: str, sents) -> int:
    """``text`` counted as the occurrence check counts it."""
    if unit == "words":
        return count_words(text)
    if unit == "characters":
        return len(text)
    return sum(1 for s in sents if _has_content(s))


def _has_content(sent) -> bool:
    return any(not t.is_punct and not t.is_space for t in sent)


def _cut(text: str, doc, unit: str, limit: int) -> int | None:
    """Where to cut: the end of the last whole sentence within ``limit``; None if none fits."""
    cut, kept = None, []
    for sent in doc.sents:
        kept.append(sent)
        if _size(text[:sent.end_char], unit, kept) > limit:
            break
        if _has_content(sent):
            cut = len(text[:sent.end_char].rstrip(_OPENERS))
    return cut if cut is not None and cut < len(text) else None


def _plan_drop_sentence(rule, finding, record, text, doc, brand):
    name, index = _split_key(finding.field)
    if index is not None:
        items = record.fields.get(name)
        return (0, len(text), "", False, True) if isinstance(items, list) and len(items) > 1 else None
    if finding.span is None or doc is None:
        return None
    sents = [s for s in doc.sents if _has_content(s)]
    hit = next((i for i, s in enumerate(sents) if s.start_char <= finding.span[0] < s.end_char), None)
    if hit is None or len(sents) < 2:
        return None  # never leave the field empty
    if hit + 1 < len(sents):
        return _drop_opening(sents, record, brand) if hit == 0 else (
            sents[hit].start_char, sents[hit + 1].start_char, "", False, False)
    return (sents[hit - 1].end_char, sents[hit].end_char, "", False, False)


_PRONOUN = re.compile(r"(It|They|Its|The ([a-z]+)) ")


def _drop_opening(sents, record, brand):
    """The first sentence goes; the next one, when it opens with "It", "They", "Its", "The"
    and the product's own noun, or "The" and a part the sentence says something of ("The
    fabric is ..."), takes the product's name, so the copy still says what it is about ("The
    Hyperion Jacket has ...", "The Hyperion Jacket's lining ...", as the assembler opens)."""
    nxt = sents[1]
    name = copied_name(record.facts, brand.catalog if brand else None)
    m = _PRONOUN.match(nxt.text)
    noun = name.split()[-1].lower() if name else ""
    part = m and m.group(2) and m.group(2) != noun  # "The fabric ...", not "The jacket ..."
    if not (m and name) or (part and not _part_subject(nxt)):
        return (sents[0].start_char, nxt.start_char, "", False, False)
    named = f"The {name}'s {m.group(2)} " if part else f"The {name}'s " if m.group(1) == "Its" else f"The {name} "
    return (sents[0].start_char, nxt.start_char + m.end(), named, False, False)


def _part_subject(sentence) -> bool:
    """Whether ``sentence`` (spaCy) opens "The <noun> <verb>": a part of the product as its subject."""
    return len(sentence) > 2 and sentence[1].pos_ == "NOUN" and sentence[2].pos_ in ("AUX", "VERB")


_PLANNERS = {
    "replace": _plan_replace,
    "remove": _plan_remove,
    "strip_period": _plan_strip_period,
    "capitalize": _plan_capitalize,
    "truncate": _plan_truncate,
    "drop_sentence": _plan_drop_sentence,
}


# --- applying edits ----------------------------------------------------------------------

def _apply(record: Record, edits: list[_Edit]) -> tuple[Record, list[AppliedFix]]:
    """A copy of ``record`` with ``edits`` made (right to left per field, item drops last)."""
    fields = {k: list(v) if isinstance(v, list) else v for k, v in record.fields.items()}
    applied: list[AppliedFix] = []
    for key in dict.fromkeys(e.key for e in edits if not e.item):
        text = _text_at(record, key)
        for edit in sorted((e for e in edits if e.key == key and not e.item), key=lambda e: -e.start):
            new = _splice(text, edit)
            applied.append(AppliedFix(edit.rule, key, edit.action, text, new))
            text = new
        _set_text(fields, key, text)
    drops = {e.key: e for e in edits if e.item}  # two findings on one bullet drop it once
    for edit in sorted(drops.values(), key=lambda e: -_split_key(e.key)[1]):
        name, index = _split_key(edit.key)
        applied.append(AppliedFix(edit.rule, edit.key, edit.action, fields[name].pop(index), ""))
    changed = {_split_key(e.key)[0] for e in edits}
    raw = None if record.raw is None else {**record.raw, **{n: fields[n] for n in changed}}
    return replace(record, fields=fields, raw=raw), applied


def _splice(text: str, edit: _Edit) -> str:
    if edit.tidy:
        return _join(text[:edit.start], text[edit.end:])
    return text[:edit.start] + edit.text + text[edit.end:]


def _join(left: str, right: str) -> str:
    """``left + right`` after a removal: one space, no space before punctuation, a capital
    at a sentence start, the article before the next word agreeing ("an" -> "a")."""
    lhs, rhs = left.rstrip(" \t"), right.lstrip(" \t")
    if not rhs:
        return lhs
    if not lhs.strip() or lhs[-1] in ".!?\n":
        rhs = rhs[0].upper() + rhs[1:]
    if not lhs:
        return rhs
    lhs = _article(lhs, rhs)
    glue = "" if rhs[0] in ".,;:!?)\n" or lhs[-1] in "(\n" else " "
    return lhs + glue + rhs


def _article(lhs: str, rhs: str) -> str:
    """``lhs`` with a final "a"/"an" fitted to the first word of ``rhs``."""
    m = re.search(r"(?:^|(?<=\s))(an?)$", lhs, re.IGNORECASE)
    word = re.match(r"[A-Za-z]+", rhs)
    if m is None or word is None:
        return lhs
    article = m.group(1)
    wanted = "an" if _wants_an(word.group()) else "a"
    if article.isupper() and len(article) > 1:
        wanted = wanted.upper()
    elif article[0].isupper():
        wanted = wanted.capitalize()
    return lhs[:m.start(1)] + wanted


def _wants_an(word: str) -> bool:
    w = word.lower()
    if w.startswith(_AN_SILENT_H):
        return True
    return w[:1] in "aeiou" and not w.startswith(_AN_EXCEPTIONS)


# --- field keys --------------------------------------------------------------------------

def _split_key(key: str) -> tuple[str, int | None]:
    """``"bullets[2]"`` -> ``("bullets", 2)``; ``"description"`` -> ``("description", None)``."""
    m = _KEY.match(key)
    return (m.group("name"), int(m.group("index"))) if m else (key, None)


def _text_at(record: Record, key: str | None) -> str | None:
    """The text of field ``key`` (a list item for ``name[i]``), or None."""
    if key is None:
        return None
    name, index = _split_key(key)
    value = record.fields.get(name)
    if index is not None:
        value = value[index] if isinstance(value, list) and index < len(value) else None
    return value if isinstance(value, str) else None


def _set_text(fields: dict, key: str, text: str) -> None:
    name, index = _split_key(key)
    if index is None:
        fields[name] = text
    else:
        fields[name][index] = text


__all__ = ["AppliedFix", "FixOutcome", "fix_records"]
