"""Copy assembled from the facts: candidates that cannot say what the facts do not.

A 135M model writes the product's own words into relations the product does not have
("a hard-anodized aluminum pot that folds into itself when you lift it off the base";
docs/QUALITY.md has the ratings). The assembler is the other candidate source: it states
each fact of a catalog row in a plain sentence frame (weight, capacity, features,
materials, dimensions, colors, use, certifications, care), so everything it says is a
catalog value. It reads facts by role (:mod:`stylegen.kit.roles`), not by column name: a
brand's ``details`` column with ``role: features`` is its features. Its candidates go
through exactly the validation and selection the model's candidates go through; a field
whose assembled candidates all fail still gets model candidates (``generation.assemble`` in ``brand.yaml``).

Several variants per field differ in frame choice only (which sentence frame, which
pronoun); the run loop asks the engine, where it can, how likely the brand adapter
finds each variant and ranks them by that (:meth:`Engine.score`).

Facts the assembler has no frame for are left out, never paraphrased.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from stylegen.catalog.rows import copied_name
from stylegen.kit.prompts import LIST_MARKER, fact_text
from stylegen.kit.roles import facts_by_role
from stylegen.validation.cadence import Cadence
from stylegen.validation.nlp import parse

_INCLUDED = re.compile(r"^(?P<item>.+?)\s+included$", re.IGNORECASE)
_VOLUME = re.compile(r"^\s*\d+(?:[.,]\d+)?\s*(?:l|ml|liters?|litres?|fl oz|gal)\b", re.IGNORECASE)
_PEOPLE = re.compile(r"^\s*(\d+)[ -]?(?:person|people|p)\s*$", re.IGNORECASE)
_DIM_TAIL = re.compile(r"^(?P<size>.*\d.*?\b(?:in|cm|mm|ft|m))\s+(?P<part>[a-z][a-z ]*)$", re.IGNORECASE)
_STATE_WORDS = re.compile(r"(?:-free|approved|certified|recycled|organic)$", re.IGNORECASE)
_MASS_SUFFIXES = ("ing", "tion", "wear", "ware", "ivity", "ability")  # "reflectivity", not "a reflectivity"
# a vowel letter read as a consonant: "a utility pocket", "a unique fit", "a one-piece frame"
_YOU_SOUND = re.compile(r"(?:uni(?!n)|us[aeiu]|uti|ur[aeiou]|eu|one\b|one-)", re.IGNORECASE)
_COUNT_ING = {"ring", "string", "spring", "sling", "wing", "swing", "ceiling", "awning", "fitting", "opening",
              "coating", "lining", "casing", "housing", "setting"}
_TRAILERS = {"inside", "outside", "included", "only", "too", "throughout"}  # words after a feature's head noun
_DIM_PARTS = {"floor", "seat", "base", "opening", "panel"}  # "108 x 60 in floor": the floor measures it
# roles each frame states as one phrase; a list of them ("use: Hiking; Travel") is joined into one
_ONE_TEXT_ROLES = frozenset({"weight", "capacity", "dimensions", "use", "care"})


@dataclass(frozen=True)
class Phrase:
    """One catalog feature, classified for its sentence frame.

    Attributes:
        text: the feature as given (whitespace squashed).
        kind: ``np`` ("padded shoulder straps"), ``vp`` ("inflates in 3 breaths"),
            ``passive`` ("knitted on 8-gauge machines"), ``clause`` ("lids double as plates")
            or ``included`` ("stuff sack included").
        core: the text the frame uses (for ``included``: the item without "included").
    """

    text: str
    kind: str
    core: str


def classify(features: list[str]) -> list[Phrase]:
    """Classify catalog feature phrases with spaCy's tagger (one batched pass)."""

    # a detail holding two ("1/4 zip. Stand-up collar") is two details
    parts = [p for f in features if f and str(f).strip() for p in re.split(r"(?<=[a-z\"'])\. +(?=[A-Z0-9])", str(f))]
    clean = [_TITLED_PAIR.sub(_lower_pair, _uncap(re.sub(r"\s+", " ", p).strip().rstrip(".")))
             for p in parts if p.strip()]
    docs = parse(clean, level="tags")
    return [_classify_one(text, doc) for text, doc in zip(clean, docs)]


# "Long-Sleeve", "Short-Sleeves" in a detail: a catalog's Title Case, lowered; a plural
# one is a noun phrase ("short sleeves")
_TITLED_PAIR = re.compile(r"\b([A-Z][a-z]+)-([A-Z][a-z]+)\b")


def _lower_pair(m: re.Match) -> str:
    sep = " " if m.group(2).endswith("s") else "-"
    return f"{m.group(1).lower()}{sep}{m.group(2).lower()}"


def _uncap(text: str) -> str:
    """"Crew neck" -> "crew neck" (a list item's capital), "USB-C charging" and "V-neck" kept."""
    words = text.split(" ")
    first = words[0].rstrip(",;:")
    head = first.split("-", 1)[0]
    if len(words) > 1 and words[1][:1].isupper() and not words[1].isupper():  # "Luma EverCool™ fabric": a name
        return text
    if len(head) > 1 and first[0].isupper() and first[1:].islower() and first.replace("-", "").isalpha():
        return first.lower() + text[len(first):]
    return text


# Common fibre and material names a catalog may capitalise ("Nylon", "organic Cotton");
# trade names ("Tencel", "LumaTech™", "Lycra®") keep their capital.
_PLAIN_MATERIALS = {"cotton", "polyester", "nylon", "wool", "spandex", "elastane", "fleece", "leather", "rubber",
                    "plastic", "metal", "silicone", "mesh", "canvas", "microfiber", "rayon", "linen", "cashmere",
                    "denim", "down", "acrylic", "bamboo", "hemp", "silk", "viscose", "steel", "aluminum", "foam",
                    "organic", "recycled", "merino", "jersey", "suede", "cork", "wood", "glass"}


def _plain_case(text: str) -> str:
    """Capitalised common material words lowered ("organic Cotton" -> "organic cotton")."""
    return re.sub(r"\b([A-Z][a-z]+)\b(?![™®-])",
                  lambda m: m.group(1).lower() if m.group(1).lower() in _PLAIN_MATERIALS else m.group(1), text)


def _classify_one(text: str, doc) -> Phrase:
    m = _INCLUDED.match(text)
    if m:
        return Phrase(text, "included", m.group("item"))
    kind = _kind_by_form(text)
    if kind:
        return Phrase(text, kind, _plain_case(text) if kind == "blend" else text)
    toks = [t for t in doc if not t.is_punct]
    if _is_adjective(text, toks):
        return Phrase(text, "adj", text if " " in text else text.lower())  # "antimicrobial, odor-resistant"
    if len(toks) < 2:
        return Phrase(text, "np", text)
    first, second = toks[0], toks[1]
    # "packs into its own pocket", "fits a 100 g fuel canister": a verb in -s form followed
    # by what a verb takes. The tagger alone calls "mesh inner" and "sip lid" verbs.
    verb_form = first.text.lower().endswith("s") and not first.text.lower().endswith("ss")
    if verb_form and (first.tag_ == "VBZ" or second.tag_ in ("IN", "DT", "PRP$", "RB", "CD", "JJS")):
        return Phrase(text, "vp", text)
    participle = first.tag_ == "VBN" or (first.text.lower().endswith("ed") and first.tag_ in ("VBD", "JJ"))
    if participle and second.tag_ in ("IN", "RB"):  # "knitted on 8-gauge machines"
        return Phrase(text, "passive", text)
    if first.tag_ == "NNS" and second.tag_ in ("VBP", "VBZ"):  # "lids double as plates"
        return Phrase(text, "clause", text)
    subject = _subject_length(toks)
    if subject:  # "strap fits 7 - 10 in", "plastic cinch buckle is easy to use"
        return Phrase(text, "clause", text if toks[0].tag_ == "NNS" else f"the {text}")
    return Phrase(text, "np", text)


def _is_adjective(text: str, toks) -> bool:
    """A detail that says what the product is like: "lightweight", "semi-fitted", "fully
    lined", "water resistant (100 meters)", "antimicrobial, odor-resistant"; not "relaxed
    fit" (it has one), a lone noun the tagger calls an adjective ("lid"), or "selvedge outseam"."""
    if not toks or toks[0].text.isupper() or toks[-1].text.lower() == "fit":
        return False
    if " " not in text and "-" in text:  # "semi-fitted", "long-sleeve" (a catalog's "Long-Sleeve")
        return toks[-1].tag_ in ("JJ", "VBN") or (toks[-1].tag_ == "NN" and not text.endswith("s"))
    if len(toks) == 1:
        word = text.lower()
        return word.endswith(_ADJ_SUFFIXES) or (toks[0].tag_ == "JJ" and word.endswith(_ADJ_ENDINGS))
    bare = [t for t in toks if not _in_brackets(t)]
    participle = bare[-1].tag_ == "VBN" and ("," in text or bare[0].tag_ == "RB")
    last_word = re.sub(r"\s*\(.*?\)", "", text).split()[-1]
    shaped = "-" in last_word or bare[-1].text.lower().endswith(_ADJ_ENDINGS)
    verbal = bare[-1].tag_ == "VBG" and "-" in last_word  # "quick-drying"
    adjective_last = bare[-1].tag_.startswith("JJ") or participle or verbal
    return adjective_last and shaped and all(t.tag_ in _ADJ_TAGS for t in bare)


# Care instructions listed among the details ("Machine wash/dry"): the care sentence says them.
_CARE = re.compile(r"^(?:machine|hand|gentle|spot|dry)[ -]?(?:wash|clean)|^(?:tumble|line|hang|drip) dry|"
                   r"^do not (?:bleach|iron|tumble)|^wash\b", re.IGNORECASE)
# A size given among the details ("8' long x 1.0\" wide", "L 29\" x W 13\" x H 11\""): it measures.
_SIZE = re.compile(r"\d\s*(?:'|\"|in\b|cm\b|mm\b|ft\b)?\s*(?:long|wide|tall|high|deep)?\s*x\s*[A-Z]?\s*\d",
                   re.IGNORECASE)
# A fabric blend listed among the details ("89% Polyester / 11% Spandex", "100% cotton").
_BLEND = re.compile(r"^\d{1,3}(?:\.\d)?\s*%\s*[A-Za-z]")
_ADJ_TAGS = {"JJ", "JJR", "JJS", "RB", "CC", "-LRB-", "-RRB-", "CD", "NN", "VBN", "VBG"}
_COPULA = {"is", "are", "fits", "fit"}
# endings of a one-word detail that is an adjective ("packable", "waterproof"), so that the
# tagger's guess on a lone noun ("lid") does not make one
_ADJ_ENDINGS = ("able", "ible", "proof", "weight", "ive", "ful", "less", "ous", "al", "ic", "ed", "ing", "ant",
                "ent")
_ADJ_SUFFIXES = ("proof", "weight", "able", "ible")  # adjectives whatever the tagger says ("lightweight")


def _kind_by_form(text: str) -> str | None:
    """Care lines and sizes are read by their form, before the tagger."""
    if _CARE.match(text):
        return "care"
    if _BLEND.match(text):
        return "blend"
    if _SIZE.search(text) and len(text.split()) <= 8:
        return "size"
    return None


def _in_brackets(tok) -> bool:
    """A token inside "( )": "water resistant (100 meters)" is an adjective phrase."""
    left = tok.doc.text[: tok.idx]
    return left.count("(") > left.count(")")


def _subject_length(toks) -> int:
    """How many leading nouns (and their adjectives) make the subject of a verb that follows."""
    for i, tok in enumerate(toks[:5]):
        verb = tok.text.lower() in _COPULA or (tok.tag_ in ("VBZ", "VBP") and i + 1 < len(toks))
        # a lowered first noun the tagger reads as a name ("hood collapses into collar")
        noun = toks[i - 1].tag_ in ("NN", "NNS") or (toks[i - 1].tag_ == "NNP" and toks[i - 1].text.islower())
        if i and verb and noun:
            return i
        if tok.tag_ not in ("NN", "NNS", "JJ", "NNP"):
            return 0
    return 0


# a number with its unit before a noun: "7\" inseam", "75 cm plastic shell", "230 g fuel canister"
_MEASURED = re.compile(r"\d+(?:\.\d+)?(?:\s*(?:\"|'|in|cm|mm|g|oz|l|ml)\b|[\"'])\s*[a-z]|\d/\d+ [a-z]", re.IGNORECASE)
_EIGHTS = re.compile(r"(?:8|11|18)\b")  # numbers read with a vowel sound: "an 8-gauge", "an 11-inch"


def with_article(np: str) -> str:
    """``np`` with "a"/"an" where a singular count noun needs one ("a front stretch pocket")."""
    words = np.split()
    if not words or " and " in head_phrase(np):  # "ribbed cuffs and hem": coordinated, no single head
        return np
    nouns = [w for w in head_phrase(np).split() if w.lower() not in _TRAILERS]
    first, head = words[0].lower().rstrip(","), (nouns or words)[-1].lower()
    measured = _MEASURED.match(np) and not _is_plural(head)
    if re.match(r"\d+(?:\.\d+)?-[a-z]", first) or measured:  # "1-year warranty", "a 7\" inseam"
        return ("an " if _EIGHTS.match(first) else "a ") + np
    if first in {"a", "an", "the", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "twin", "dual", "double", "each", "every", "no"} or first[0].isdigit():
        return np
    mass = head.endswith(_MASS_SUFFIXES) and head not in _COUNT_ING
    if any(_is_plural(h) for h in head.split("/")) or mass:  # "ribbed cuffs/collar"
        return np
    lead = words[0].rstrip(",").split("-")[0]
    initialism = lead.isupper() and len(lead) > 1  # "LED", "UV-blocking": said letter by letter
    vowel = first[0] in "aefhilmnorsx" if initialism else first[0] in "aeiou" and not _YOU_SOUND.match(first)
    return f"{'an' if vowel else 'a'} {np}"


def _is_plural(noun: str) -> bool:
    """"pockets", "cuffs" are plural; "dress", "glass" are not (the frames' one test)."""
    return noun.endswith("s") and not noun.endswith("ss")


_POSTMODIFIER = re.compile(r"\s+(?:with|for|at|on|from|of|in|to|that|which)\s+.*$")


def head_phrase(np: str) -> str:
    """The noun phrase before its post-modifier: "zip pocket at arm for storage" -> "zip pocket"."""
    return _POSTMODIFIER.sub("", np) or np


def join_list(items: list[str]) -> str:
    """"a", "a and b", "a, b and c" (the brand's lists have no serial comma)."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _sentence(text: str) -> str:
    text = _cap(text.strip())
    return text if text.endswith((".", "!", "?")) else text + "."


@dataclass
class FactSheet:
    """A catalog row's facts, in the shapes the frames need."""

    name: str
    noun: str  # what the product is called in a later sentence ("the pack")
    phrases: list[Phrase]
    values: dict[str, str]  # single-value facts as prompt text (weight, capacity, ...)
    lists: dict[str, list[str]]  # list facts (materials, colors, certifications)

    @classmethod
    def from_facts(cls, facts: dict, catalog=None) -> "FactSheet":
        """Read a row's facts (``CatalogRow.facts``) by role (:func:`facts_by_role`).

        Args:
            facts: the row's facts, keyed by prompt variable or already by role.
            catalog: ``brand.catalog`` (its ``role:`` per variable); None reads keys as role names.
        """
        facts = facts_by_role(facts, catalog)
        name = copied_name(facts) or "It"
        values = {k: fact_text(v) for k, v in facts.items() if not isinstance(v, (list, tuple)) and fact_text(v)}
        lists = {k: [fact_text(x) for x in v if fact_text(x)] for k, v in facts.items()
                 if isinstance(v, (list, tuple))}
        for role in _ONE_TEXT_ROLES & lists.keys():  # "use: [Hiking, Cool]": one phrase for its frame
            values.setdefault(role, join_list([_uncap(x) for x in lists[role]]))
        features = lists.pop("features", [])
        noun = _noun(name)
        kinds = {_noun(c) for c in _listed(facts.get("category"))} | {noun}
        phrases = [_identity(p, i, kinds) for i, p in enumerate(classify(features))]
        return cls(name=name, noun=noun, phrases=phrases, values=values, lists=lists)


# Colour words a listed detail may open with when it names the product ("Navy heather
# crewneck sweatshirt", "Lime 1/4 zip pullover"): then it says what the product is.
_COLOUR_WORDS = {"black", "white", "gray", "grey", "navy", "blue", "red", "green", "yellow", "orange", "purple",
                 "pink", "brown", "teal", "lime", "olive", "khaki", "tan", "beige", "charcoal", "heather", "royal",
                 "ivory", "seafoam"}
# heads of a coloured detail that are a part of the product, not the product ("red zipper pulls")
_PART_NOUNS = {"pocket", "pockets", "zipper", "zippers", "lining", "strap", "straps", "accents", "stitching",
               "waistband", "trim", "hood", "pull", "pulls", "logo", "details", "panel", "panels", "mode", "light",
               "lights", "display", "backlight", "beam", "setting"}


_COMES_WITH = {"warranty", "guarantee"}  # "It comes with a 1-year limited warranty."
_PRODUCT_WORDS = {"piece", "essential", "staple"}  # "a casual, comfy piece for weekends" is what it is


def _listed(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)] if value else []


def _identity(phrase: Phrase, index: int, kinds: set[str]) -> Phrase:
    """A noun phrase read by its head in its row: one that names the product itself ("navy
    heather crewneck sweatshirt" of a sweatshirt, or a first detail that opens with a colour)
    is what it *is*; a warranty comes with it; a short material-headed one ("900D polyester")
    is the fabric; the rest is what it has. (Here, not in :func:`classify`, which the
    phrasebook also reads: there they stay noun phrases.)"""
    if phrase.kind != "np":
        return phrase
    words = head_phrase(phrase.core).lower().split()
    head = re.sub(r"[^a-z-]", "", words[-1]) if words else ""
    singular = head[:-1] if _is_plural(head) else head
    if head in _COMES_WITH:
        return Phrase(phrase.text, "included", phrase.core)
    if head in _PLAIN_MATERIALS and len(words) <= 3 and head != "mesh":  # "900D polyester": the fabric
        return Phrase(phrase.text, "blend", _plain_case(phrase.core))
    whole = phrase.core.lower().split()
    coloured = (len(whole) >= 3 and bool(_COLOUR_WORDS & set(words[:2])) and head not in _PART_NOUNS
                and (index == 0 or len(whole) >= 4 or head.endswith("s")))
    if (singular in kinds | _PRODUCT_WORDS and len(words) >= 3) or coloured:
        return Phrase(phrase.text, "identity", phrase.core)
    return phrase


def _identity_sentence(core: str, again: bool = False) -> str:
    """"It is a navy crewneck sweatshirt"; a plural garment is a pair ("a pair of black capris");
    a second one is "also" what it is."""
    verb = "It is also" if again else "It is"
    if _is_plural(head_phrase(core).split()[-1].lower()):
        return _sentence(f"{verb} a pair of {core}")
    return _sentence(f"{verb} {with_article(core)}")


@functools.lru_cache(maxsize=256)
def _cached_sheet(key: str) -> FactSheet:
    return FactSheet.from_facts(json.loads(key))


def fact_sheet(facts: dict, catalog=None) -> FactSheet:
    """:meth:`FactSheet.from_facts`, cached for the rows in flight (the features' spaCy
    pass runs once per row, not once per task and variant)."""
    return _cached_sheet(_facts_key(facts_by_role(facts, catalog)))


def _facts_key(facts: dict) -> str:
    return json.dumps(facts, sort_keys=True, ensure_ascii=False, default=str)


def _noun(name: str) -> str:
    words = re.findall(r"[A-Za-z][A-Za-z-]*", name)
    return words[-1].lower() if words else "it"


# --- descriptions ----------------------------------------------------------------------------


def lead(sheet: FactSheet, variant: int, only: str | None = None) -> str:
    """The opening sentence: the name with its capacity and weight, when the facts have them
    (``only``: ``"capacity"`` or ``"weight"``, the one number a sentence of its own states)."""
    weight = sheet.values.get("weight") if only in (None, "weight") else None
    capacity = sheet.values.get("capacity") if only in (None, "capacity") else None
    holds = _holds(capacity) if capacity else None
    if holds and weight:
        frames = [f"The {sheet.name} {holds} and weighs {weight}", f"At {weight}, the {sheet.name} {holds}"]
    elif holds:
        frames = [f"The {sheet.name} {holds}"]
    elif weight:  # "comes in at" after "It comes in Slate" reads as a stutter
        stutter = only and sheet.lists.get("colors")
        frames = [f"The {sheet.name} weighs {weight}"] + ([] if stutter else [f"The {sheet.name} comes in at {weight}"])
    else:
        return ""
    return _sentence(frames[variant % len(frames)])


def _holds(capacity: str) -> str:
    people = _PEOPLE.match(capacity)
    if people:
        n = int(people.group(1))
        return f"sleeps {n}" if n > 1 else "sleeps one"
    return f"holds {capacity}" if _VOLUME.match(capacity) else f"has a capacity of {capacity}"


def identity_sentences(sheet: FactSheet) -> list[str]:
    """What the product is, from the details that say it ("It is a navy crewneck sweatshirt.")."""
    return [_identity_sentence(p.core, i > 0) for i, p in enumerate(q for q in sheet.phrases if q.kind == "identity")]


def feature_sentences(sheet: FactSheet, variant: int, you: bool = False, identity: bool = True) -> list[str]:
    """The features: what the product is (``identity``), noun phrases gathered into one or two
    "has" sentences, verb phrases and clauses each their own sentence (``you``: the list is
    what "you get", in every variant)."""
    nps = [with_article(p.core) for p in sheet.phrases if p.kind == "np"]
    # "It has no moving parts and a simmer ring" reads as having neither: a negative stands alone
    negatives = [n for n in nps if n.lower().startswith("no ")]
    nps = [n for n in nps if n not in negatives]
    out = identity_sentences(sheet) if identity else []
    adjectives = [a.strip() for p in sheet.phrases if p.kind == "adj" for a in re.split(r",(?![^(]*\))", p.core)]
    if adjectives:  # "It is single-breasted and fully lined."
        joined = ", ".join(adjectives) if " and " in adjectives[-1] else join_list(adjectives)
        out.append(_sentence(f"It is {joined}"))
    if nps:
        first, rest = (nps[:3], nps[3:]) if len(nps) > 4 else (nps, [])
        frames = [f"It has {join_list(first)}", f"You get {join_list(first)}"]
        out.append(_sentence(frames[1 if you else variant % len(frames)]))
        if rest:
            out.append(_sentence(f"There is also {join_list(rest)}" if len(rest) == 1 and not
                                 rest[0].endswith("s") else f"It also has {join_list(rest)}"))
    out += [_sentence(f"It has {n}") for n in negatives]
    pronoun = ["It", f"The {sheet.noun}"]
    for i, p in enumerate(p for p in sheet.phrases if p.kind in ("vp", "clause", "included", "passive")):
        if p.kind == "passive":
            out.append(_sentence(f"{pronoun[(variant + i) % 2]} is {p.core}"))
        elif p.kind == "vp":
            out.append(_sentence(f"{pronoun[(variant + i) % 2]} {p.core}"))
        elif p.kind == "clause":
            out.append(_sentence(p.core))
        else:
            out.append(_sentence(f"{with_article(p.core)} comes with it" if variant % 2 == 0
                                 else f"It comes with {with_article(p.core)}"))
    return out


def material_sentence(sheet: FactSheet, variant: int) -> str:
    """"It is made with recycled polyester and an EVA foam back panel."""
    blends = [p.core for p in sheet.phrases if p.kind == "blend"]
    if blends:  # the share of each fibre says more than the list of them
        return " ".join(_sentence(f"{'The fabric is' if not i else 'It is'} {b}") for i, b in enumerate(blends))
    materials = _materials(sheet)
    if not materials:
        return ""
    if any(p.kind == "passive" and p.core.startswith("made ") for p in sheet.phrases):
        return _sentence(f"Its materials are {join_list(materials)}")  # not a second "made with"
    frames = [f"It is made with {join_list(materials)}", f"The {sheet.noun} is made with {join_list(materials)}"]
    return _sentence(frames[variant % len(frames)])


def _materials(sheet: FactSheet) -> list[str]:
    listed = [_plain_case(m) for m in sheet.lists.get("materials", [])]  # "organic Cotton" -> "organic cotton"
    stated = " ".join(p.core.lower() for p in sheet.phrases)
    if listed and all(m.lower() in stated for m in listed):
        return []  # "made of durable nylon" among the details already says it
    return [with_article(m) if _needs_article(m) else m for m in listed]


_PARTS = {"panel", "bladder", "frame", "sheet", "lining", "liner", "shell", "pole", "insert", "membrane",
          "coating", "finish", "lid", "strap", "housing", "case", "head", "handle", "base", "body", "cord"}


def _needs_article(material: str) -> bool:
    # Parts ("EVA foam back panel", "TPU bladder", "BPA-free polypropylene lid") take an
    # article; materials ("recycled polyester") do not.
    return material.split()[-1].lower() in _PARTS


def detail_sentences(sheet: FactSheet, variant: int, brief: bool = False) -> list[str]:
    """Dimensions, colors, use and certifications, each in one sentence where present
    (``brief``: no colours and no use)."""
    out = dimension_sentences(sheet)
    if not brief:
        out += [s for s in (color_sentence(sheet, variant), use_sentence(sheet, variant)) if s]
    return out + cert_sentences(sheet)


def dimension_sentences(sheet: FactSheet) -> list[str]:
    """"The floor measures 108 x 60 in." for the dimensions and each size among the details."""
    out = []
    for dims in [sheet.values.get("dimensions")] + [p.core for p in sheet.phrases if p.kind == "size"]:
        if not dims:
            continue
        m = _DIM_TAIL.match(dims)
        part = m.group("part").lower() if m else ""
        out.append(_sentence(f"The {part} measures {m.group('size')}" if part in _DIM_PARTS else f"It measures {dims}"))
    return out


def color_sentence(sheet: FactSheet, variant: int) -> str:
    """"It comes in Ember and Slate." or "Pick from Ember and Slate." ("" without colours)."""
    colors = sheet.lists.get("colors", [])
    if not colors:
        return ""
    # "from": "Pick Pine, Fog and Rust" would ask for all three
    return _sentence(f"It comes in {join_list(colors)}" if variant % 2 == 0
                     else f"Pick from {join_list(colors)}" if len(colors) > 1 else f"It comes in {colors[0]}")


def use_sentence(sheet: FactSheet, variant: int) -> str:
    """"It is built for day hikes." ("" without a use)."""
    use = use_text(sheet)
    if not use:
        return ""
    return _sentence(f"It is built for {use}" if variant % 2 == 0 else f"We made it for {use}")


def fit_sentence(sheet: FactSheet) -> str:
    """"It has a regular fit, hip length." ("" without a fit, or one that does not name a fit)."""
    fit = sheet.values.get("fit", "")
    if not re.match(r"^[\w -]*\bfit\b", fit, re.IGNORECASE):
        return ""  # "Hip length" alone is not a fit: left out, never paraphrased
    return _sentence(f"It has {with_article(fit[0].lower() + fit[1:])}")


def origin_of(sheet: FactSheet) -> str:
    """Where the product is made, as the frames say it after "made in" ("" without an origin)."""
    return re.sub(r"^(?:made in)\s+", "", sheet.values.get("origin", ""), flags=re.IGNORECASE)


def origin_sentence(sheet: FactSheet) -> str:
    """"It is made in Scotland." ("" without an origin)."""
    origin = origin_of(sheet)
    return _sentence(f"It is made in {origin}") if origin else ""


def sizes_sentence(sheet: FactSheet) -> str:
    """"The sizes are XS, S, M, L and XL." ("" without sizes)."""
    sizes = sheet.lists.get("sizes") or [s.strip() for s in sheet.values.get("sizes", "").split(",") if s.strip()]
    return _sentence(f"The sizes are {join_list(sizes)}") if len(sizes) > 1 else ""  # not a second "comes in"


def cert_sentences(sheet: FactSheet) -> list[str]:
    """One sentence per certification."""
    return [_sentence(_cert_text(cert)) for cert in sheet.lists.get("certifications", [])]


def use_text(sheet: FactSheet) -> str:
    """What the product is for, as the frames say it after "for"."""
    use, labels = sheet.values.get("use", ""), sheet.lists.get("use", [])
    if labels and all(len(label.split()) <= 2 for label in labels):
        # labels ("Gym; Travel", "Cool; Rainy"): weather and seasons make days ("cool and rainy
        # days"), activities a use ("gym and travel use": "athletic days" read wrong), both
        # "running and gym use on warm days"
        words = [label if label.isupper() else label.lower() for label in labels]
        days = join_list([w for w in words if w in _DAY_WORDS])
        doing = join_list([w for w in words if w not in _DAY_WORDS])
        if not doing:
            return f"{days} days"
        return f"{doing} use on {days} days" if days else f"{doing} use"
    return use  # as given: a use may open with a place's name ("Säntis traverse")


# Labels of a use list that describe the day rather than the activity: weather, seasons, indoors.
_DAY_WORDS = {"all-weather", "cool", "cold", "warm", "hot", "mild", "rainy", "windy", "wet", "snowy", "sunny",
              "spring", "summer", "fall", "autumn", "winter", "indoor"}


def _cert_text(cert: str) -> str:
    if _STATE_WORDS.search(cert):  # "bluesign approved", "BPA-free"
        return f"It is {cert}"
    if cert.lower().endswith(_ADJ_SUFFIXES) and " " not in cert:  # "Waterproof": a property, not a thing
        return f"It is {cert.lower()}"
    if re.match(r"[A-Z0-9]{2,}(?:-[A-Z0-9]+)*(?=\s|$)", cert) and "certified" not in cert.lower():
        return f"It is {cert} certified"  # a scheme by its initials: "RWS", "ZQ merino", "OEKO-TEX Standard 100"
    return f"It has {with_article(cert)}"


def care_sentence(sheet: FactSheet) -> str:
    """The care line as given, one sentence (a care fact is already in instruction form)."""
    # a care detail from a list ("Machine wash/dry") is a bare phrase; "To care for it, ..."
    # makes it a sentence a reader (and Default.Degenerate) accepts
    care = [sheet.values.get("care", "")] + [f"To care for it, {p.core}" for p in sheet.phrases if p.kind == "care"]
    return " ".join(_sentence(c) for c in care if c.strip())


def description(sheet: FactSheet, variant: int, cadence: Cadence | None = None) -> str:
    """A description: lead, features, materials, details, care. Variants differ in frame
    choice and in how much they leave out (:data:`VARIANTS`): a brand whose copy is short
    gets a text its length bounds accept, and the ranking still prefers the full one where
    both pass (it covers more facts).

    With the brand's ``cadence`` (:func:`~stylegen.validation.cadence.brand_cadences`) the
    facts come in the order the brand's own copy states them, the features are what "you
    get" where the brand talks to its reader, and short sentences about the product join up
    to the brand's sentence length (never below its usual number of sentences).
    """
    frame, level = VARIANTS[variant % len(VARIANTS)]
    parts = [p for kind in _section_order(sheet, cadence) for p in _section(sheet, kind, frame, level, cadence) if p]
    if parts and not parts[0].startswith(f"The {sheet.name}") and not parts[0].startswith("At "):
        parts[0] = _name_first(parts[0], sheet)  # the first sentence names the product
    if is_plural_name(sheet.name):
        parts = [_plural(p, sheet) for p in parts]
    return " ".join(flow(parts, cadence, sheet) if cadence else parts)


# (frame choice, what is left out) per variant: both frame sets in full, then without the
# sizes (the longest list, and the one a brand's copy states least), then brief (no colours
# and no use either), so that four candidates cover every length a brand's bounds may want;
# a row without sizes skips the repeats and still gets two brief ones.
VARIANTS = ((0, 0), (1, 0), (0, 1), (1, 2), (0, 2), (1, 1))
NO_SIZES, BRIEF = 1, 2

# Where each part of a description sits without the brand's cadence: numbers first, care last.
PLAIN_ORDER = {"capacity": 0.10, "weight": 0.11, "identity": 0.29, "features": 0.3, "materials": 0.45, "fit": 0.5,
               "dimensions": 0.55, "origin": 0.6, "colors": 0.65, "sizes": 0.66, "use": 0.75, "certifications": 0.85,
               "care": 0.95}
_NOT_FIRST = ("care", "certifications", "sizes")  # an instruction, a label or a size list cannot carry the name


def _section_order(sheet: FactSheet, cadence: Cadence | None) -> list[str]:
    """The description's parts in order; capacity and weight side by side share the lead."""
    kinds = sorted(PLAIN_ORDER, key=lambda k: cadence.position(k, PLAIN_ORDER[k]) if cadence else PLAIN_ORDER[k])
    while kinds[0] in _NOT_FIRST:
        kinds.append(kinds.pop(0))
    if cadence:  # what the product is comes before anything about it
        kinds.insert(0, kinds.pop(kinds.index("identity")))
    i, j = sorted((kinds.index("capacity"), kinds.index("weight")))
    if j == i + 1:
        kinds[i:j + 1] = ["numbers"]
    return kinds


def _section(sheet: FactSheet, kind: str, frame: int, level: int, cadence: Cadence | None) -> list[str]:
    """The sentences of one part of a description, in frame set ``frame``, leaving out what
    ``level`` (:data:`VARIANTS`) leaves out."""
    brief = level >= BRIEF
    if kind in ("numbers", "capacity", "weight"):  # past the first sentence, the name is "it"
        text = lead(sheet, frame, None if kind == "numbers" else kind)
        return [re.sub(rf"^The {re.escape(sheet.name)} ", "It ", text) if cadence else text]
    if kind == "identity":
        return identity_sentences(sheet)
    if kind == "features":
        return feature_sentences(sheet, frame, you=bool(cadence and cadence.you >= YOU_SHARE), identity=False)
    one = {"materials": lambda: material_sentence(sheet, frame), "care": lambda: care_sentence(sheet),
           "colors": lambda: "" if brief else color_sentence(sheet, frame),
           "use": lambda: "" if brief else use_sentence(sheet, frame), "fit": lambda: fit_sentence(sheet),
           "origin": lambda: origin_sentence(sheet),
           "sizes": lambda: "" if level >= NO_SIZES else sizes_sentence(sheet)}
    if kind in one:
        return [one[kind]()]
    return dimension_sentences(sheet) if kind == "dimensions" else cert_sentences(sheet)


# A brand whose copy says "you" in this share of its sentences or more gets its features as
# what "you get" (Kettle & Cairn: 27% of description sentences; the plain frames: 4%).
YOU_SHARE = 0.15
_SUBJECTS = ("It ", "They ")


def flow(parts: list[str], cadence: Cadence, sheet: FactSheet) -> list[str]:
    """Short sentences about the product joined to the brand's sentence length: "It weighs
    2.2 oz. It comes in Lichen." -> "It weighs 2.2 oz and comes in Lichen." A sentence joins
    the one before while that one is shorter than the brand's median sentence, the two stay
    within its 90th percentile, and the text keeps the brand's usual number of sentences."""
    _, median, longest = cadence.words
    joins_left = len(parts) - max(2, cadence.per_text[0])
    out: list[str] = []
    fresh = False  # out[-1] is one sentence as framed (a joined pair takes no third)
    # what it is (first in a cadence) stands alone: a fix may drop it, and not what follows
    alone = len(identity_sentences(sheet))
    for i, part in enumerate(parts):
        joined = _joined(out[-1], part, sheet) if fresh and joins_left > 0 and i > alone else None
        if joined and len(out[-1].split()) < median and len(joined.split()) <= longest:
            out[-1], joins_left, fresh = joined, joins_left - 1, False
        else:
            out.append(part)
            fresh = True
    return out


def _joined(first: str, second: str, sheet: FactSheet) -> str | None:
    """The two sentences as one, or None where they do not join (the second does not open
    with "It"/"They", or the first is not about the product as a whole)."""
    subject = next((s for s in _SUBJECTS if second.startswith(s)), None)
    if subject is None or not first.endswith("."):
        return None
    product = first.startswith(_SUBJECTS + (f"The {sheet.name} ", f"The {sheet.noun} ", "At "))
    if not product:  # "The floor measures ..., and it": "it" would be the floor
        return None
    if " and " not in first and "," not in first:  # the same subject: "It weighs 2.2 oz and comes in Lichen."
        return f"{first[:-1]} and {second[len(subject):]}"
    return f"{first[:-1]}, and {second[0].lower()}{second[1:]}"


def is_plural_name(name: str) -> bool:
    """"Glimmer String Lights", "Trail Gloves": the frames' verbs must agree."""
    last = name.split()[-1] if name.split() else ""
    return last[:1].isupper() and last.endswith("s") and not last.endswith(("ss", "us", "is"))


# Frame verbs and pronouns in the singular, and their plural (only the frames' own words).
_PLURAL_SWAPS = [(r"\bIt is\b", "They are"), (r"\bIt has\b", "They have"), (r"\bIt also has\b", "They also have"),
                 (r"\bIt comes\b", "They come"), (r"\bIt ([a-z]+)s\b", r"They \1"), (r"\bit\b", "them")]


def _plural(text: str, sheet: FactSheet) -> str:
    name = re.escape(sheet.name)
    text = re.sub(rf"(\b{name} )(weighs|holds|has|comes|is)\b",
                  lambda m: m.group(1) + {"weighs": "weigh", "holds": "hold", "has": "have", "comes": "come",
                                          "is": "are"}[m.group(2)], text)
    noun = re.escape(sheet.noun)
    text = re.sub(rf"(The {noun} )is made\b", r"\1are made", text)
    text = re.sub(rf"(The {noun} )([a-z]+)s\b(?! made)", r"\1\2", text)
    for pattern, repl in _PLURAL_SWAPS:
        text = re.sub(pattern, repl, text)
    return text


def _name_first(sentence: str, sheet: FactSheet) -> str:
    name = sheet.name
    for opener, named in (("It ", f"The {name} "), ("You get ", f"The {name} comes with "),
                          ("We made it ", f"We made the {name} "), ("Pick from ", f"The {name} comes in "),
                          (f"The {sheet.noun} ", f"The {name} ")):
        if sentence.startswith(opener):
            return named + sentence[len(opener):]
    part = re.match(r"(?:The|Its) (?=[a-z])", sentence)  # "The fabric is ...": a part of the product
    if part:
        return f"The {name}'s {sentence[part.end():]}"
    return f"The {name}: {sentence[0].lower()}{sentence[1:]}"


# --- meta descriptions and bullets ----------------------------------------------------------


def meta(sheet: FactSheet, max_chars: int = 155, variant: int = 0) -> str:
    """A meta description: name, numbers, materials, features and use (or origin), cut to
    ``max_chars`` by dropping features from the end (then the use, then the materials).
    Odd variants also name the colours ("Built for bikepacking, in Ember and Moss."): a thin
    row's meta description may need them to reach a brand's minimum length."""
    raw = [_plain_case(m) for m in sheet.lists.get("materials", [])]
    parts = [with_article(m) for m in raw if _needs_article(m)]  # "with a BPA-free lid", not "in" it
    nps = [with_article(p.core) for p in sheet.phrases if p.kind in ("np", "included")] + parts
    vps = [p.core if p.kind == "vp" else f"is {p.core}" for p in sheet.phrases if p.kind in ("vp", "passive")]
    numbers = [sheet.values[k] for k in ("capacity", "weight") if sheet.values.get(k)]
    materials = [m for m in raw if not _needs_article(m)][:2]
    use, origin = use_text(sheet), origin_of(sheet)
    use = f"Built for {use}" if use else f"Made in {origin}" if origin else ""
    colors = sheet.lists.get("colors", []) if variant % 2 else []
    if colors:
        use = f"{use}, in {join_list(colors)}" if use else f"Comes in {join_list(colors)}"
    for keep_use, keep_mat in ((True, True), (False, True), (False, False)):
        for n in range(len(nps) + len(vps), -1, -1):
            text = _meta_text(sheet.name, numbers, materials if keep_mat else [], nps, vps, n,
                              use if keep_use else None)
            if is_plural_name(sheet.name):
                text = re.sub(r", and it is\b", ", and they are", text)
                text = re.sub(r", and it ([a-z]+?)s\b", r", and they \1", text)
            if len(text) <= max_chars:
                return text
    return text[:max_chars]


def _meta_text(name: str, numbers: list[str], materials: list[str], nps: list[str], vps: list[str], n: int,
               use: str | None) -> str:
    parts = [", ".join(numbers)] if numbers else []
    made = f"in {join_list(materials)}" if materials else ""
    features = nps[:n]
    if numbers:  # "Name: 22 L, 15.8 oz, in ..., with ..."
        head = f"{name}: " + ", ".join(parts + ([made] if made else []))
    else:  # "Name in recycled nylon, with ..." / "Name with ..."
        head = f"{name} {made}".strip()
        parts = [made] if made else []
    if features:
        head += (", with " if parts else " with ") + join_list(features)
    verbs = vps[:max(0, n - len(nps))]
    if verbs:  # one sentence: a meta description has at most two
        head = head.rstrip(", :") + (", and it " if features or parts else " ") + join_list(verbs)
    text = head.rstrip(", :") + "."
    if use:  # "Built for day hikes." (or, without a use, "Made in Portugal.")
        text += " " + _sentence(use)
    return text


def bullets(sheet: FactSheet, max_items: int = 5) -> list[str]:
    """One bullet per feature, short ones of a kind two or three to a bullet ("Folds flat
    and packs small"), then the numbers, materials and care."""
    items = [_cap(p.core) if p.kind != "included" else f"{p.core} included" for p in sheet.phrases
             if p.kind not in ("np", "vp") or len(p.core.split()) >= 3]
    for kind in ("np", "vp"):
        shorts = [p.core for p in sheet.phrases if p.kind == kind and len(p.core.split()) < 3]
        groups = [shorts[i:i + 2] for i in range(0, len(shorts), 2)]
        if len(groups) > 1 and len(groups[-1]) == 1:
            last = groups.pop()
            groups[-1] += last
        for group in groups:
            lone = kind == "np" and len(group) == 1
            items.append(f"Has {with_article(group[0])}" if lone else join_list(group))
    items += _fact_bullets(sheet)
    items = [_cap(i) for i in items if len(i.split()) >= 3]
    if len(items) < MIN_BULLETS:  # a thin row: what it is for, its colours and size make a list
        items += [b for b in _detail_bullets(sheet) if len(b.split()) >= 3]
    return items[:max_items]


MIN_BULLETS = 3  # the usual schema's minItems; the details fill a list only below it


def _detail_bullets(sheet: FactSheet) -> list[str]:
    use, colors = use_text(sheet), sheet.lists.get("colors", [])
    dims = [s.rstrip(".") for s in dimension_sentences(sheet)]
    return ([f"Built for {use}"] if use else []) + ([f"Comes in {join_list(colors)}"] if colors else []) + [
        _cap(re.sub(r"^It measures", "Measures", d)) for d in dims]


def _fact_bullets(sheet: FactSheet) -> list[str]:
    out, v = [], sheet.values
    if v.get("capacity") and v.get("weight"):
        out.append(f"{_cap(_holds(v['capacity']))} and weighs {v['weight']}")
    elif v.get("weight"):
        out.append(f"Weighs {v['weight']}")
    elif v.get("capacity"):
        out.append(_cap(_holds(v["capacity"])))
    if sheet.lists.get("materials"):
        out.append(f"Made with {join_list(sheet.lists['materials'])}")
    care = v.get("care", "").rstrip(".")
    if care and "." not in care:  # one instruction; a longer care text stays in the prose
        out.append(care)
    return out


# --- the candidate source the run loop uses ----------------------------------------------------


def shape_of(task: str, kind: str) -> str:
    """Which assembler shape serves ``task`` (a list task, a meta description, or prose)."""
    if kind == "list":
        return "list"
    return "meta" if "meta" in task else "prose"


def assembled_completion(facts: dict, task: str, kind: str, variant: int, sheet: FactSheet | None = None,
                         catalog=None, cadence: Cadence | None = None) -> str:
    """The text of variant ``variant`` of ``task`` for a row, as a model completion would read.

    List tasks come back one ``- item`` per line, so :func:`parse_completion` reads
    assembled and generated text the same way. ``catalog`` (``brand.catalog``) gives the
    facts' roles; None reads the fact names as role names. ``cadence`` (the brand's, of
    this task) shapes prose (:func:`description`).
    """
    sheet = sheet or fact_sheet(facts, catalog)
    shape = shape_of(task, kind)
    if shape == "list":
        return "\n".join(LIST_MARKER + item for item in bullets(sheet))  # one frame set: no variants
    return meta(sheet, variant=variant) if shape == "meta" else description(sheet, variant, cadence)


def variants(facts: dict, task: str, kind: str, count: int, catalog=None, cadence: Cadence | None = None) -> list[str]:
    """Up to ``count`` distinct assembled texts of ``task`` (fewer when the frames run out),
    cached for the rows in flight: the pool counts them, the run loop takes them by index.
    ``catalog`` (``brand.catalog``) gives the facts' roles; ``cadence`` shapes prose."""
    return list(_cached_variants(_facts_key(facts_by_role(facts, catalog)), task, kind, count, cadence))


@functools.lru_cache(maxsize=1024)
def _cached_variants(key: str, task: str, kind: str, count: int, cadence: Cadence | None) -> tuple[str, ...]:
    facts = json.loads(key)
    sheet = _cached_sheet(key)
    seen: dict[str, None] = {}
    for v in range(max(1, count) * 2):
        seen.setdefault(assembled_completion(facts, task, kind, v, sheet, cadence=cadence), None)
        if len(seen) >= count:
            break
    return tuple(seen)
