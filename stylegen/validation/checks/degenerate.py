"""Check type ``degenerate``: text a small model produces when it loops or stalls.

Sub-checks (``checks:``, default all of them), each a finding with the exact span:

* ``phrase``: the same run of words holding ``min_ngram`` (default 3) content words (not
  function words such as "the", "with", "it") said twice in one field; the span is the
  second time. In a list field, an item repeating an earlier item counts. Runs inside the
  value of an ``ignore_facts`` fact (the product name) do not.
* ``sentence``: the same sentence twice in one field (case and spacing ignored).
* ``fact``: one fact stated twice in one field: the same number with the same unit
  ("21.1 oz" ... "21.1 oz"; a chain or range such as "27 x 16 in" or "6 to 8 in" is one
  statement), or the same value of the record's ``facts`` with at least ``fact_words``
  (default 3) words ("hood with a brim"). Fact keys in ``ignore_facts`` (default
  the facts of the ``name`` role: naming the product twice is normal) do not count.
* ``verbless``: in ``verbless_fields`` (default description and meta description; list
  fields are fragments by design and may not be named), a bare phrase given as a sentence
  ("Warm down."): it ends with . or ! (a question asks the reader: "Heavy bag?"), has
  two or more words, no spaCy VERB or AUX token, and none of the marks of a deliberate
  fragment: a list or contrast (comma, colon, dash), a number, a preposition, a
  negation, a pronoun, or a verb the tagger read as a noun ("A dull knife slips.", "Oil
  the top."). Approved copy uses fragments on
  purpose ("One door, one vestibule, one person."; "Not at lunch."); the calibration is
  in docs/VALIDATORS.md.
* ``doubled``: a word repeated back to back ("the the"), except ``allow_doubled``
  (default: that, had), a unit before its preposition ("5 in in its bag") and a mixed
  fraction ("1 1/2 inches").

Message placeholders: ``{problem}`` (e.g. "Repeated phrase"), ``{fix}`` (what to do),
``{kind}`` (the sub-check), ``{match}``. Only ``verbless`` needs spaCy (POS tags), and
only for a sentence that passes its string tests, so few texts are ever tagged for it.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from stylegen.kit.roles import roles_of
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.quantities import read_quantities
from stylegen.validation.nlp import load_nlp
from stylegen.validation.records import parse_field_key

SUBCHECKS = ("phrase", "sentence", "fact", "verbless", "doubled")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019.\-][A-Za-z0-9]+)*")
# A sentence: up to terminal punctuation (and closing quotes), or to a line end.
# A full stop inside a token ("4.2", "U.S") does not end a sentence.
_SENTENCE = re.compile(r"[^\s](?:[^.!?\n]|[.!?](?=[^\s.!?]))*(?:[.!?]+[\"'\u201d\u2019)]*|$)", re.MULTILINE)
FUNCTION_WORDS = frozenset("""
a an the and or but nor so yet of in on at to for from by with without into onto over under
as than then too very just also only even is are was were be been being am it its it's this
that these those there here they them their theirs you your yours we our ours us he him his
she her hers i me my mine do does did has have had not no can could will would shall should
may might must if when while which who whom whose what where why how all any each every both
some such more most less few many much own same other another once again up out off about
""".split())
# Words that mark a fragment as deliberate structure rather than a stalled sentence.
_FRAGMENT_MARKS = frozenset("""
of in on at to for from by with without into onto over under off about after before between
through around against across along behind beyond inside outside until via per like than as
not no never nor nothing none is are was were be been being am do does did has have
had can could will would shall should may might must it you we they he she i this these those
there here what which who when where why how if because so while once now then
one two three four five six seven eight nine ten eleven twelve dozen half
""".split())
_DETERMINERS = frozenset("the a an your its their this that these those each every both it them".split())
_JOINT = re.compile(r"\s*(x|\u00d7|by|to|and|or|-|\u2013)\s*", re.IGNORECASE)
_FRAGMENT_PUNCT = re.compile(r"[,;:()\u2013\u2014]|\s-\s|\d")
_DEFAULT_IGNORE = ["name"]
_MIXED_FRACTION = re.compile(r"/\d")  # "1 1/2": the second 1 is a numerator


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    lower: str
    content: bool  # not a function word


@register("degenerate")
class Degenerate(Check):
    """Repeated phrases, sentences and facts, bare verbless sentences, doubled words."""

    needs_doc = True

    @dataclass
    class Options:
        checks: list[str] = field(default_factory=lambda: list(SUBCHECKS))
        min_ngram: int = 3
        fact_words: int = 3
        ignore_facts: list[str] = field(default_factory=lambda: list(_DEFAULT_IGNORE))
        verbless_fields: list[str] = field(default_factory=lambda: ["description", "meta_description"])
        allow_doubled: list[str] = field(default_factory=lambda: ["that", "had"])

    def setup(self, problem):
        """Check the option values against the sub-checks, the brand's tasks and facts."""
        opts = self.options
        bad = [v for v in opts.checks if v not in SUBCHECKS]
        if bad:
            problem("checks", f"unknown check(s) {', '.join(map(repr, bad))} (valid: {', '.join(SUBCHECKS)})")
        for key in ("min_ngram", "fact_words"):
            if getattr(opts, key) < 2:
                problem(key, f"must be at least 2 (got {getattr(opts, key)})")
        self._check_fields(problem)
        facts = list(self.brand.catalog.fields)
        # the default (the product name) is harmless for a catalog without a name column
        named = [] if opts.ignore_facts == _DEFAULT_IGNORE else opts.ignore_facts
        unknown = [k for k in named if facts and k not in facts]
        if unknown:
            problem("ignore_facts", f"unknown fact(s) {', '.join(map(repr, unknown))} (valid: {', '.join(facts)})")
        self.enabled = set(opts.checks)
        self._allow = {w.lower() for w in opts.allow_doubled}
        # the default: the facts of the name role (stylegen.kit.roles), whatever they are called
        names = {var for var, role in roles_of(self.brand.catalog).items() if role == "name"} if self.brand else set()
        self._ignore = set(named) if named else set(_DEFAULT_IGNORE) | names
        self._cached = (None, ([], []))

    def _check_fields(self, problem) -> None:
        """``verbless_fields`` must be prose (text) tasks: list items are fragments by design."""
        prose = [name for name, task in self.brand.tasks.items() if task.kind == "text"]
        for name in self.options.verbless_fields:
            if name not in prose:
                why = "is a list field, whose items are fragments by design" if name in self.brand.tasks \
                    else "is not a task field"
                problem("verbless_fields", f"{name!r} {why} (valid: {', '.join(prose)})")

    def needs_for(self, text):
        """Tags only when a sentence of ``text`` looks like a bare verbless phrase."""
        if "verbless" not in self.enabled or not text:
            return None
        return "tags" if any(_bare_candidate(text, s, e) for s, e in _sentences(text)) else None

    def check(self, target):
        """Yield a hit per degenerate stretch of ``target.text`` (nested ones dropped)."""
        if not target.text:
            return
        hits = []
        earlier = _earlier_items(target)
        # A repeated sentence is reported as that, not as the phrases inside it.
        if "sentence" in self.enabled:
            hits += _repeated_sentences(target.text, earlier)
        values, exempt = self._values(target.facts)
        if "phrase" in self.enabled:
            hits += _repeated_phrases(target.text, earlier, self.options.min_ngram, exempt)
        if "fact" in self.enabled:
            hits += _repeated_quantities(target.text, earlier)
            for key, value in values:
                hits += _repeated_value(target.text, earlier, key, value)
        if "verbless" in self.enabled and target.name in self.options.verbless_fields:
            hits += _verbless(target.text, target.doc)
        if "doubled" in self.enabled:
            hits += _doubled(target.text, self._allow)
        yield from _outermost(hits)

    def _values(self, facts: dict | None) -> tuple[list, list]:
        """The fact values that may not come back (``fact_words`` words or more), and the
        exempt ones (``ignore_facts``: the name), reused for the fields of one record."""
        if self._cached[0] is not facts:
            values = _fact_values(facts, self._ignore, self.options.fact_words)
            exempt = [v for _, v in _fact_values(facts, set(), 1, only=self._ignore)]
            self._cached = (facts, (values, exempt))
        return self._cached[1]


# --- words, sentences, list items ---------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _words(text: str, start: int = 0, end: int | None = None) -> tuple[_Word, ...]:
    """The words of ``text`` (or of ``text[start:end]``), cached: every sub-check and every
    later list item reads them again."""
    stop = len(text) if end is None else end
    out = []
    for m in _WORD.finditer(text, start, stop):
        lower = m.group().lower().replace("\u2019", "'")
        out.append(_Word(m.group(), m.start(), m.end(), lower, lower not in FUNCTION_WORDS))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _joined(text: str) -> str:
    """`` word word ... `` in lower case: a fast substring test for a run of words."""
    return " " + " ".join(w.lower for w in _words(text)) + " "


@functools.lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` of each sentence: terminal punctuation or a line break ends one."""
    return tuple(m.span() for m in _SENTENCE.finditer(text) if _WORD.search(m.group()))


def _earlier_items(target) -> list[str]:
    """For a list item ``bullets[2]``: the texts of items 0 and 1; else nothing."""
    index = parse_field_key(target.key)[1]
    value = target.record.fields.get(target.name) if target.record is not None else None
    if index is None or not isinstance(value, list):
        return []
    return [v for v in value[:index] if isinstance(v, str)]


def _hit(start: int, end: int, kind: str, problem: str, fix: str) -> Hit:
    return Hit(start, end, values={"kind": kind, "problem": problem, "fix": fix})


def _outermost(hits: list[Hit]) -> list[Hit]:
    """Hits in text order, a hit inside another one (a phrase in a repeated sentence) dropped."""
    spans = sorted(hits, key=lambda h: (h.start, -h.end))
    out: list[Hit] = []
    for h in spans:
        if not any(o.start <= h.start and h.end <= o.end for o in out):
            out.append(h)
    return out


# --- phrase: the same content n-gram twice -----------------------------------------------


def _ngrams(words: list[_Word], n: int) -> list[tuple[int, int, tuple]]:
    """``(first, last, key)`` word windows that start and end on a content word and hold ``n`` of them."""
    content = [i for i, w in enumerate(words) if w.content]
    return [(content[k], content[k + n - 1], tuple(w.lower for w in words[content[k]:content[k + n - 1] + 1]))
            for k in range(len(content) - n + 1)]


def _repeated_phrases(text: str, earlier: list[str], n: int, exempt: list[tuple]) -> list[Hit]:
    """Runs of words repeating a window said before (in this text or an earlier item).

    Windows inside an exempt value (the product name, ``ignore_facts``) do not count.
    """
    seen = {key for item in earlier for _, _, key in _ngrams(_words(item), n)}
    words = _words(text)
    first_end: dict[tuple, int] = {}
    repeated: list[tuple[int, int]] = []
    for first, last, key in _ngrams(words, n):
        if any(_inside(key, value) for value in exempt):
            continue
        if key in seen or (key in first_end and first_end[key] < first):
            repeated.append((first, last))
        first_end.setdefault(key, last)
    hits = []
    for first, last in _merge(repeated):
        start, end = words[first].start, words[last].end
        hits.append(_hit(start, end, "phrase", "Repeated phrase", "it is already said in this field; say it once"))
    return hits


def _inside(key: tuple, value: tuple) -> bool:
    """True when the words ``key`` occur in a row inside ``value``."""
    n = len(key)
    return any(value[i:i + n] == key for i in range(len(value) - n + 1))


def _merge(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching word ranges merged into maximal runs."""
    out: list[list[int]] = []
    for first, last in sorted(runs):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


# --- sentence: the same sentence twice ------------------------------------------------


def _norm_sentence(text: str, start: int, end: int) -> str:
    return " ".join(w.lower for w in _words(text, start, end))


def _repeated_sentences(text: str, earlier: list[str]) -> list[Hit]:
    seen = {_norm_sentence(item, s, e) for item in earlier for s, e in _sentences(item)}
    hits = []
    for start, end in _sentences(text):
        key = _norm_sentence(text, start, end)
        if key in seen and len(key.split()) >= 2:
            hits.append(_hit(start, end, "sentence", "Repeated sentence", "drop the second copy"))
        seen.add(key)
    return hits


# --- fact: one fact stated twice --------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _quantity_keys(text: str) -> tuple[tuple[tuple, tuple[int, int]], ...]:
    """One key per stated measure: a chain or range of numbers ("27 x 16 in", "6 to 8 in",
    "from 7 in to 21 in") is one measure, so its parts never repeat each other, and
    "6 to 8 in" is a different statement from "6 and 8 in"."""
    groups: list[list] = []
    for q in read_quantities(text):
        joint = _JOINT.fullmatch(text[groups[-1][-1].span[1]:q.span[0]]) if groups else None
        if joint:
            groups[-1].extend([joint.group(1).lower(), q])
        else:
            groups.append([q])
    out = []
    for group in groups:
        quantities = group[::2]
        if any(q.unit for q in quantities):
            key = tuple(p if isinstance(p, str) else (p.unit, round(p.value, 6)) for p in group)
            end = quantities[-1].span[1]
            if quantities[-1].unit == "%":  # a share of what follows: "100% wool" and "100% cupro" are two facts
                key += (_next_word(text, end),)
            out.append((key, (quantities[0].span[0], end)))
    return tuple(out)


def _next_word(text: str, at: int) -> str:
    m = re.match(r"\s*([A-Za-z][\w-]*)", text[at:])
    return m.group(1).lower() if m else ""


def _repeated_quantities(text: str, earlier: list[str]) -> list[Hit]:
    """The same number with the same unit a second time ("21.1 oz" ... "21.1 oz")."""
    seen = {key for item in earlier for key, _ in _quantity_keys(item)}
    hits = []
    for key, (start, end) in _quantity_keys(text):
        if key in seen:
            fix = "the same number is already given in this field; give it once"
            hits.append(_hit(start, end, "fact", "Fact stated twice", fix))
        seen.add(key)
    return hits


def _fact_values(facts: dict | None, ignore: set, min_words: int, only: set | None = None) -> list[tuple[str, tuple]]:
    """``(key, words)`` of every fact value with at least ``min_words`` words (of the keys
    in ``only`` when given; never of the keys in ``ignore``)."""
    out = []
    for key, value in (facts or {}).items():
        if key in ignore or (only is not None and key not in only):
            continue
        for leaf in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(leaf, (str, int, float)) and not isinstance(leaf, bool):
                words = tuple(w.lower for w in _words(str(leaf)))
                if len(words) >= min_words:
                    out.append((key, words))
    return out


def _occurrences(words: tuple[_Word, ...], value: tuple) -> list[tuple[int, int]]:
    """Non-overlapping word ranges equal to ``value``."""
    lowers = [w.lower for w in words]
    out, n, i = [], len(value), 0
    while i + n <= len(lowers):
        if lowers[i] == value[0] and tuple(lowers[i:i + n]) == value:
            out.append((i, i + n - 1))
            i += n
        else:
            i += 1
    return out


def _repeated_value(text: str, earlier: list[str], key: str, value: tuple) -> list[Hit]:
    """A fact value ("fully taped seams") mentioned again after its first mention."""
    needle = " " + " ".join(value) + " "
    if needle not in _joined(text):
        return []  # the cheap test: most values are not in most texts
    before = sum(_joined(item).count(needle) for item in earlier)
    words = _words(text)
    hits = []
    for k, (first, last) in enumerate(_occurrences(words, value)):
        if before + k >= 1:
            fix = f"the {key.replace('_', ' ')} fact is already given in this field; give it once"
            hits.append(_hit(words[first].start, words[last].end, "fact", "Fact stated twice", fix))
    return hits


# --- verbless: a bare phrase as a sentence ------------------------------------------------


@functools.lru_cache(maxsize=1)
def _verb_lexicon() -> tuple[frozenset, frozenset]:
    """Base forms of English verbs (WordNet's, from spaCy's lemmatizer tables) and the
    irregular inflected forms: to tell a verb the tagger misread as a noun."""
    lookups = load_nlp().get_pipe("lemmatizer").lookups
    base = frozenset(lookups.get_table("lemma_index")["verb"])
    return base, frozenset(lookups.get_table("lemma_exc")["verb"])


def _verb_forms(word: str) -> bool:
    """True when ``word`` can be a verb form by spelling (base form, -s, -es, -ies, irregular)."""
    base, irregular = _verb_lexicon()
    w = word.lower()
    stems = {w, w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w,
             w[:-3] + "y" if w.endswith("ies") else w}
    return bool(stems & base) or w in irregular


def _bare_candidate(text: str, start: int, end: int) -> bool:
    """String tests: the sentence may be a bare phrase (the tagger decides the rest).

    Never false for a sentence :func:`_verbless` can flag: the validator's prefilter.
    """
    body = text[start:end].rstrip("\"'\u201d\u2019)")
    words = _words(text, start, end)
    # Only a sentence that ends like one: an unterminated line is a list item or a heading.
    # A question is a deliberate fragment: it asks the reader ("Weights? Heavy bag?").
    if not body.endswith((".", "!")) or len(words) < 2 or _FRAGMENT_PUNCT.search(body):
        return False
    if any(w.lower in _FRAGMENT_MARKS for w in words):
        return False
    # An imperative: a verb, then its object ("Oil the top once a season.").
    return not (_verb_forms(words[0].text) and words[1].lower in _DETERMINERS)


def _verbless(text: str, doc) -> list[Hit]:
    """Bare phrases with no VERB/AUX token and no verb the tagger misread."""
    if doc is None or not doc.has_annotation("TAG"):
        return []
    hits = []
    for start, end in _sentences(text):
        if not _bare_candidate(text, start, end):
            continue
        tokens = [t for t in doc if start <= t.idx < end and not t.is_punct and not t.is_space]
        if tokens and not any(_is_verb(tokens, i) for i in range(len(tokens))):
            fix = "write a full sentence with a verb, or join it to the sentence before"
            hits.append(_hit(start, end, "verbless", "Sentence without a verb", fix))
    return hits


def _is_verb(tokens: list, i: int) -> bool:
    """A verb by POS, or a verb the tagger read as a noun after its subject noun:
    "knife slips" (singular noun, then an -s verb), "Zippers jam" (plural noun, then a base verb)."""
    tok = tokens[i]
    if tok.pos_ in ("VERB", "AUX") or tok.tag_.startswith("VB"):
        return True
    if i == 0 or tok.pos_ not in ("NOUN", "PROPN") or not _verb_forms(tok.text):
        return False
    prev = tokens[i - 1].tag_
    third_person = tok.lower_.endswith("s")
    return (prev in ("NN", "NNP") and third_person) or (prev in ("NNS", "NNPS") and not third_person)


# --- doubled: "the the" -----------------------------------------------------------------


def _doubled(text: str, allow: set) -> list[Hit]:
    """A word said twice in a row; "5 in in its bag" (a unit, then the preposition) and
    "1 1/2 inches" (a whole number, then a fraction) are fine."""
    words = _words(text)
    hits = []
    for i, (a, b) in enumerate(zip(words, words[1:])):
        after_number = i > 0 and words[i - 1].text[0].isdigit()
        if _MIXED_FRACTION.match(text, b.end) and b.text.isdigit():
            continue
        if a.lower == b.lower and a.lower not in allow and not after_number and text[a.end:b.start].isspace():
            fix = f"drop the second '{b.text}'"
            hits.append(_hit(a.start, b.end, "doubled", "Word repeated back to back", fix))
    return hits
