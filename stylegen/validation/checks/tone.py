"""Check type ``tone``: spaCy-based voice checks, one per rule, chosen with ``check:``.

* ``passive``: passive voice, found by dependency labels (``auxpass`` / ``nsubjpass``);
  the match is the auxiliary through the participle ("is made"). Needs the parser.
* ``person``: pronouns the brand does not use; ``forbid`` lists them (default: the first
  person singular I, me, my, mine, myself). Only pronoun tags count, so "ME" the state
  abbreviation is not a pronoun.
* ``hedging``: hedge words and phrases (``tokens``, default a built-in list: might,
  perhaps, possibly, arguably, somewhat, fairly, probably, maybe, hopefully, kind of,
  sort of, we think, we believe). "kind of" / "sort of" count only as hedges, i.e. when an
  adjective, adverb or verb follows ("kind of heavy"), not "a kind of stove".
* ``superlatives``: superlative adjectives and adverbs (tags JJS/RBS: "lightest",
  "best") except ``allow`` (default: least, most, fewest), plus unsupported claims
  (``tokens``, default: #1, number one, guaranteed, guarantee, unbeatable, unmatched).
* ``competitors``: competitor names (``tokens``, default ``brand.competitors``).

Message placeholders: ``{match}``, ``{check}``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.terms import resolve_terms, TermMatcher
from stylegen.validation.readability import is_english_word


DEFAULT_TOKENS = {
    "hedging": ["might", "perhaps", "possibly", "arguably", "somewhat", "fairly", "probably", "maybe",
                "hopefully", "kind of", "sort of", "we think", "we believe"],
    "superlatives": ["#1", "number one", "guaranteed", "guarantee", "unbeatable", "unmatched"],
    "competitors": "brand.competitors",
}
FIRST_PERSON = ["I", "me", "my", "mine", "myself"]
_LOOSE_HEDGES = {"kind of", "sort of"}  # hedges only before an adjective/adverb/verb
_IRREGULAR = {"best", "worst", "most", "least", "utmost", "foremost"}
# Prefilters: texts that cannot match skip the tagger/parser. They may over-match, never miss:
# a passive needs a form of be/get followed (within two words) by a word with a participle
# ending (-ed, -en, -wn, -ght, -de as in "made", -lt as in "built", ...); a superlative is
# an -est word or an irregular one; a loose hedge is "kind of"/"sort of".
_PASSIVE_CANDIDATE = re.compile(
    r"\b(?i:am|is|are|was|were|be|been|being|get|gets|got|gotten|getting|'s|'re)\s+(?:\w+\s+){0,2}"
    r"\w+(?i:ed|en|wn|ne|nt|lt|pt|ft|ght|ng|nk|ug|ck|de|id|ot|ut|et|it|ld|nd|rn|ad|un|ung|rt|st)\b")
_SUPERLATIVE_CANDIDATE = re.compile(r"\b(?i:\w+est|best|worst|most|least|utmost|foremost)\b")
_LOOSE_CANDIDATE = re.compile(r"\b(?i:kind|sort)\s+of\b")


@register("tone")
class Tone(Check):
    """Voice checks on spaCy Docs: passive, person, hedging, superlatives, competitors."""

    needs_doc = True

    @dataclass
    class Options:
        check: Literal["passive", "person", "hedging", "superlatives", "competitors"]
        tokens: Any = None
        forbid: list[str] = field(default_factory=lambda: list(FIRST_PERSON))
        allow: list[str] = field(default_factory=lambda: ["least", "most", "fewest"])

    def setup(self, problem):
        opts = self.options
        self.needs_parser = opts.check == "passive"
        if opts.tokens is not None and opts.check not in DEFAULT_TOKENS:
            problem("tokens", f"not used by check: {opts.check} (used by: {', '.join(DEFAULT_TOKENS)})")
        self.terms = {}
        if opts.check in DEFAULT_TOKENS:
            source = opts.tokens if opts.tokens is not None else DEFAULT_TOKENS[opts.check]
            self.terms = resolve_terms(source, self.brand, "tokens", problem)
        # Hedges must match as written ("kinds of" is not a hedge); claims and names by lemma.
        self.matcher = TermMatcher(self.terms, ignorecase=True, lemma=opts.check != "hedging")
        self.forbid = {w.lower() for w in opts.forbid}
        words = "|".join(re.escape(w) for w in sorted(self.forbid, key=len, reverse=True)) or "(?!)"
        self._person_words = re.compile(rf"\b(?i:{words})\b")
        self.allow = {w.lower() for w in opts.allow}

    def needs_for(self, text):
        """The least annotation that can find something in ``text`` (cheap regex prefilters)."""
        kind = self.options.check
        if kind == "passive":
            return "parse" if _PASSIVE_CANDIDATE.search(text) else None
        if kind == "person":
            return "tags" if self._person_words.search(text) else None
        if kind == "hedging":
            return "tags" if _LOOSE_CANDIDATE.search(text) else "tokens"
        if kind == "superlatives" and _SUPERLATIVE_CANDIDATE.search(text):
            return "tags"
        return self.matcher.needs(text)

    def check(self, target):
        need = self.needs_for(target.text)
        if target.doc is None or need is None:
            return  # the prefilter says nothing can match: skip walking the tokens
        method = getattr(self, f"_{self.options.check}")
        for start, end in method(target.doc, need):
            yield Hit(start, end, values={"check": self.options.check})

    def _passive(self, doc, need):
        for tok in doc:
            if tok.dep_ == "auxpass":
                head = tok.head
                lo, hi = min(tok.i, head.i), max(tok.i, head.i)
                yield doc[lo].idx, doc[hi].idx + len(doc[hi].text)

    def _person(self, doc, need):
        for tok in doc:
            if tok.lower_ in self.forbid and tok.tag_ in ("PRP", "PRP$") and (tok.lower_ != "i" or tok.text == "I"):
                yield tok.idx, tok.idx + len(tok.text)

    def _hedging(self, doc, need):
        for start, end, term in self.matcher.find(doc):
            if term.lower() in _LOOSE_HEDGES:
                span = doc.char_span(start, end)
                nxt = doc[span.end] if span is not None and span.end < len(doc) else None
                if nxt is None or nxt.pos_ not in ("ADJ", "ADV", "VERB"):
                    continue
            yield start, end

    def _superlatives(self, doc, need):
        found = {(s, e) for s, e, _ in self.matcher.find(doc)}
        for tok in doc if _SUPERLATIVE_CANDIDATE.search(doc.text) else ():
            if tok.tag_ in ("JJS", "RBS") and tok.lower_ not in self.allow and _is_superlative(tok):
                found.add((tok.idx, tok.idx + len(tok.text)))
        return sorted(_drop_nested(found))

    def _competitors(self, doc, need):
        for start, end, _ in self.matcher.find(doc):
            yield start, end


def _is_superlative(tok) -> bool:
    """A real superlative: "lightest" (lemma "light"), "best"; not a mis-tagged "armrest".

    The tagger sometimes tags a noun ending in -est as JJS and the lemmatizer then strips
    it to a non-word ("armrest" -> "armr"); a real superlative's lemma is a dictionary word.
    """

    lemma = tok.lemma_.lower()
    return tok.lower_ in _IRREGULAR or (lemma != tok.lower_ and is_english_word(lemma))


def _drop_nested(spans: set) -> list:
    """Spans not inside another span (a claim "number one" and a tag on "one" are one hit)."""
    return [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
