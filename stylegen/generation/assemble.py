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

from stylegen.catalog.rows import short_name
from stylegen.kit.prompts import LIST_MARKER, fact_text
from stylegen.kit.roles import facts_by_role
from stylegen.validation.nlp import parse

_INCLUDED = re.compile(r"^(?P<item>.+?)\s+included$", re.IGNORECASE)
_VOLUME = re.compile(r"^\s*\d+(?:[.,]\d+)?\s*(?:l|ml|liters?|litres?|fl oz|gal)\b", re.IGNORECASE)
_PEOPLE = re.compile(r"^\s*(\d+)[ -]?(?:person|people|p)\s*$", re.IGNORECASE)
_DIM_TAIL = re.compile(r"^(?P<size>.*\d.*?\b(?:in|cm|mm|ft|m))\s+(?P<part>[a-z][a-z ]*)$", re.IGNORECASE)
_STATE_WORDS = re.compile(r"(?:-free|approved|certified|recycled|organic)$", re.IGNORECASE)
_MASS_SUFFIXES = ("ing", "tion", "wear", "ware")
_COUNT_ING = {"ring", "string", "spring", "sling", "wing", "swing", "ceiling", "awning", "fitting", "opening",
              "coating", "lining", "casing", "housing", "setting"}
_TRAILERS = {"inside", "outside", "included", "only", "too"}  # words after a feature's head noun
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

    clean = [_uncap(re.sub(r"\s+", " ", f).strip()) for f in features if f and str(f).strip()]
    docs = parse(clean, level="tags")
    return [_classify_one(text, doc) for text, doc in zip(clean, docs)]


def _uncap(text: str) -> str:
    """"Crew neck" -> "crew neck" (a list item's capital), "USB-C charging" and "V-neck" kept."""
    first = text.split(" ", 1)[0]
    head = first.split("-", 1)[0]
    if len(head) > 1 and first[0].isupper() and first[1:].islower() and first.replace("-", "").isalpha():
        return first.lower() + text[len(first):]
    return text


def _classify_one(text: str, doc) -> Phrase:
    m = _INCLUDED.match(text)
    if m:
        return Phrase(text, "included", m.group("item"))
    toks = [t for t in doc if not t.is_punct]
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
    return Phrase(text, "np", text)


def with_article(np: str) -> str:
    """``np`` with "a"/"an" where a singular count noun needs one ("a front stretch pocket")."""
    words = np.split()
    if not words or " and " in np:  # "ribbed cuffs and hem": coordinated, no single head
        return np
    nouns = [w for w in words if w.lower() not in _TRAILERS]
    first, head = words[0].lower(), (nouns or words)[-1].lower()
    if first in {"a", "an", "the", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "twin", "dual", "double", "each", "every", "no"} or first[0].isdigit():
        return np
    mass = head.endswith(_MASS_SUFFIXES) and head not in _COUNT_ING
    if head.endswith("s") and not head.endswith("ss") or mass:
        return np
    article = "an" if first[0] in "aeiou" else "a"
    return f"{article} {np}"


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
        name = short_name(" ".join(fact_text(facts.get("name")).split())) or "It"
        values = {k: fact_text(v) for k, v in facts.items() if not isinstance(v, (list, tuple)) and fact_text(v)}
        lists = {k: [fact_text(x) for x in v if fact_text(x)] for k, v in facts.items()
                 if isinstance(v, (list, tuple))}
        for role in _ONE_TEXT_ROLES & lists.keys():  # "use: [Hiking, Cool]": one phrase for its frame
            values.setdefault(role, join_list([_uncap(x) for x in lists[role]]))
        features = lists.pop("features", [])
        return cls(name=name, noun=_noun(name), phrases=classify(features), values=values, lists=lists)


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


def lead(sheet: FactSheet, variant: int) -> str:
    """The opening sentence: the name with its capacity and weight, when the facts have them."""
    weight, capacity = sheet.values.get("weight"), sheet.values.get("capacity")
    holds = _holds(capacity) if capacity else None
    if holds and weight:
        frames = [f"The {sheet.name} {holds} and weighs {weight}", f"At {weight}, the {sheet.name} {holds}"]
    elif holds:
        frames = [f"The {sheet.name} {holds}"]
    elif weight:
        frames = [f"The {sheet.name} weighs {weight}", f"The {sheet.name} comes in at {weight}"]
    else:
        return ""
    return _sentence(frames[variant % len(frames)])


def _holds(capacity: str) -> str:
    people = _PEOPLE.match(capacity)
    if people:
        n = int(people.group(1))
        return f"sleeps {n}" if n > 1 else "sleeps one"
    return f"holds {capacity}" if _VOLUME.match(capacity) else f"has a capacity of {capacity}"


def feature_sentences(sheet: FactSheet, variant: int) -> list[str]:
    """The features: noun phrases gathered into one or two "has" sentences, verb phrases
    and clauses each their own sentence."""
    nps = [with_article(p.core) for p in sheet.phrases if p.kind == "np"]
    out = []
    if nps:
        first, rest = (nps[:3], nps[3:]) if len(nps) > 4 else (nps, [])
        frames = [f"It has {join_list(first)}", f"You get {join_list(first)}"]
        out.append(_sentence(frames[variant % len(frames)]))
        if rest:
            out.append(_sentence(f"There is also {join_list(rest)}" if len(rest) == 1 and not
                                 rest[0].endswith("s") else f"It also has {join_list(rest)}"))
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
    materials = _materials(sheet)
    if not materials:
        return ""
    frames = [f"It is made with {join_list(materials)}", f"The {sheet.noun} is made with {join_list(materials)}"]
    return _sentence(frames[variant % len(frames)])


def _materials(sheet: FactSheet) -> list[str]:
    return [with_article(m) if _needs_article(m) else m for m in sheet.lists.get("materials", [])]


_PARTS = {"panel", "bladder", "frame", "sheet", "lining", "liner", "shell", "pole", "insert", "membrane",
          "coating", "finish", "lid", "strap", "housing", "case", "head", "handle", "base", "body", "cord"}


def _needs_article(material: str) -> bool:
    # Parts ("EVA foam back panel", "TPU bladder", "BPA-free polypropylene lid") take an
    # article; materials ("recycled polyester") do not.
    return material.split()[-1].lower() in _PARTS


def detail_sentences(sheet: FactSheet, variant: int) -> list[str]:
    """Dimensions, colors, use and certifications, each in one sentence where present."""
    out = []
    dims = sheet.values.get("dimensions")
    if dims:
        m = _DIM_TAIL.match(dims)
        part = m.group("part").lower() if m else ""
        out.append(_sentence(f"The {part} measures {m.group('size')}" if part in _DIM_PARTS else f"It measures {dims}"))
    colors = sheet.lists.get("colors", [])
    if colors:
        out.append(_sentence(f"It comes in {join_list(colors)}" if variant % 2 == 0
                             else f"Pick {join_list(colors)}" if len(colors) > 1 else f"It comes in {colors[0]}"))
    use = sheet.values.get("use")
    if use:
        out.append(_sentence(f"It is built for {use}" if variant % 2 == 0 else f"We made it for {use}"))
    certs = sheet.lists.get("certifications", [])
    for cert in certs:
        out.append(_sentence(_cert_text(cert)))
    return out


def _cert_text(cert: str) -> str:
    if _STATE_WORDS.search(cert):  # "bluesign approved", "BPA-free"
        return f"It is {cert}"
    if re.fullmatch(r"[A-Z0-9]{2,6}", cert):  # a scheme's initials: "RWS", "GOTS"
        return f"It is {cert} certified"
    return f"It has {with_article(cert)}"


def care_sentence(sheet: FactSheet) -> str:
    """The care line as given, one sentence (a care fact is already in instruction form)."""
    care = sheet.values.get("care")
    return _sentence(care) if care else ""


def description(sheet: FactSheet, variant: int) -> str:
    """A description: lead, features, materials, details, care."""
    parts = [p for p in [lead(sheet, variant), *feature_sentences(sheet, variant), material_sentence(sheet, variant),
                         *detail_sentences(sheet, variant), care_sentence(sheet)] if p]
    if parts and not parts[0].startswith(f"The {sheet.name}") and not parts[0].startswith("At "):
        parts[0] = _name_first(parts[0], sheet.name)  # the first sentence names the product
    text = " ".join(parts)
    return _plural(text, sheet) if is_plural_name(sheet.name) else text


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


def _name_first(sentence: str, name: str) -> str:
    for opener, named in (("It ", f"The {name} "), ("You get ", f"The {name} comes with ")):
        if sentence.startswith(opener):
            return named + sentence[len(opener):]
    return f"The {name}: {sentence[0].lower()}{sentence[1:]}"


# --- meta descriptions and bullets ----------------------------------------------------------


def meta(sheet: FactSheet, max_chars: int = 155) -> str:
    """A meta description: name, numbers, materials, features and use, cut to ``max_chars``
    by dropping features from the end (then the use, then the materials)."""
    raw = sheet.lists.get("materials", [])
    parts = [with_article(m) for m in raw if _needs_article(m)]  # "with a BPA-free lid", not "in" it
    nps = [with_article(p.core) for p in sheet.phrases if p.kind in ("np", "included")] + parts
    vps = [p.core if p.kind == "vp" else f"is {p.core}" for p in sheet.phrases if p.kind in ("vp", "passive")]
    numbers = [sheet.values[k] for k in ("capacity", "weight") if sheet.values.get(k)]
    materials = [m for m in raw if not _needs_article(m)][:2]
    use = sheet.values.get("use")
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
    if use:
        text += " " + _sentence(f"Built for {use}")
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
    return [_cap(i) for i in items if len(i.split()) >= 3][:max_items]


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
                         catalog=None) -> str:
    """The text of variant ``variant`` of ``task`` for a row, as a model completion would read.

    List tasks come back one ``- item`` per line, so :func:`parse_completion` reads
    assembled and generated text the same way. ``catalog`` (``brand.catalog``) gives the
    facts' roles; None reads the fact names as role names.
    """
    sheet = sheet or fact_sheet(facts, catalog)
    shape = shape_of(task, kind)
    if shape == "list":
        return "\n".join(LIST_MARKER + item for item in bullets(sheet))  # one frame set: no variants
    return meta(sheet) if shape == "meta" else description(sheet, variant)


def variants(facts: dict, task: str, kind: str, count: int, catalog=None) -> list[str]:
    """Up to ``count`` distinct assembled texts of ``task`` (fewer when the frames run out),
    cached for the rows in flight: the pool counts them, the run loop takes them by index.
    ``catalog`` (``brand.catalog``) gives the facts' roles."""
    return list(_cached_variants(_facts_key(facts_by_role(facts, catalog)), task, kind, count))


@functools.lru_cache(maxsize=1024)
def _cached_variants(key: str, task: str, kind: str, count: int) -> tuple[str, ...]:
    facts = json.loads(key)
    sheet = _cached_sheet(key)
    seen: dict[str, None] = {}
    for v in range(max(1, count) * 2):
        seen.setdefault(assembled_completion(facts, task, kind, v, sheet), None)
        if len(seen) >= count:
            break
    return tuple(seen)
