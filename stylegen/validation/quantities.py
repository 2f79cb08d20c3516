"""Numbers with units in product copy and facts: the grammar grounding compares them with.

:func:`read_quantities` finds every quantity in a text ("3 lb 6 oz", "1 1/2 in", "70%",
"two hand pockets" is a count, "4-way stretch" a manner count), with its unit, dimension
and value in the dimension's base unit; :func:`quantity_supported` says whether a facts'
quantity states the same amount (unit conversions within rounding of what was written).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

# unit spelling -> (canonical unit, dimension, size of the unit in the dimension's base)
_UNITS: dict[str, tuple[str, str, float]] = {}


def _unit(canonical: str, dimension: str, factor: float, *spellings: str) -> None:
    for spelling in (canonical,) + spellings:
        _UNITS[spelling.lower()] = (canonical, dimension, factor)


_unit("g", "mass", 1.0, "gram", "grams", "gr")
_unit("kg", "mass", 1000.0, "kilogram", "kilograms", "kilo", "kilos", "kgs")
_unit("mg", "mass", 0.001, "milligram", "milligrams")
_unit("oz", "mass", 28.349523125, "ounce", "ounces")
_unit("lb", "mass", 453.59237, "lbs", "pound", "pounds")
_unit("ml", "volume", 1.0, "milliliter", "milliliters", "millilitre", "millilitres", "mls")
_unit("l", "volume", 1000.0, "liter", "liters", "litre", "litres", "ltr")
_unit("cl", "volume", 10.0, "centiliter", "centiliters")
_unit("fl oz", "volume", 29.5735295625, "fluid ounce", "fluid ounces", "fl. oz")
_unit("cup", "volume", 236.5882365, "cups")
_unit("qt", "volume", 946.352946, "quart", "quarts")
_unit("gal", "volume", 3785.411784, "gallon", "gallons")
_unit("mm", "length", 1.0, "millimeter", "millimeters", "millimetre", "millimetres")
_unit("cm", "length", 10.0, "centimeter", "centimeters", "centimetre", "centimetres")
_unit("m", "length", 1000.0, "meter", "meters", "metre", "metres")
_unit("km", "length", 1e6, "kilometer", "kilometers", "kilometre", "kilometres")
_unit("in", "length", 25.4, "inch", "inches", '"', "\u2033")
_unit("ft", "length", 304.8, "foot", "feet", "'", "\u2032")
_unit("yd", "length", 914.4, "yard", "yards")
_unit("mi", "length", 1609344.0, "mile", "miles")
_unit("%", "percent", 1.0, "percent", "per cent", "pct")
_unit("sec", "time", 1.0, "second", "seconds", "secs")
_unit("min", "time", 60.0, "minute", "minutes", "mins")
_unit("hr", "time", 3600.0, "hour", "hours", "hrs", "h")
_unit("day", "time", 86400.0, "days")
_unit("week", "time", 604800.0, "weeks")
_unit("month", "time", 2629746.0, "months")
_unit("year", "time", 31556952.0, "years", "yr", "yrs")
_unit("\u00b0F", "temp_f", 1.0, "\u00b0 f", "degrees f", "degrees fahrenheit", "\u00baf", "f")
_unit("\u00b0C", "temp_c", 1.0, "\u00b0 c", "degrees c", "degrees celsius", "\u00bac", "c")
_unit("denier", "denier", 1.0, "d")
_unit("fill", "fill", 1.0, "fill power", "fill-power")
_unit("lumen", "light", 1.0, "lumens", "lm")
_unit("mAh", "charge", 1.0, "mah")
_unit("W", "power", 1.0, "watt", "watts", "w")
_unit("BTU", "energy", 1.0, "btu", "btus")
_unit("$", "usd", 1.0, "usd", "dollar", "dollars")

# glued-only units: a bare letter after a space is too often a word ("2 d", "5 c").
_GLUED_ONLY = {"d", "c", "f", "h", "w", '"', "\u2033", "'", "\u2032", "gr"}
_WORD_NOT_UNIT = frozenset({"foot", "feet", "cup", "cups", "m", "in", "l", "g"})
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_NUMBER_WORDS.update(_TENS)
_NUMBER_WORDS.update({"hundred": 100, "dozen": 12})
# "twenty-five", "thirty two": a tens word and a unit word are one number
_SPELLED = (rf"(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(list(_NUMBER_WORDS)[1:10])})\b)?"
            rf"|(?:{'|'.join(_NUMBER_WORDS)})\b")
# a number fused to these words by a hyphen is a manner, not a count: "three-dimensionally",
# "two-fold", "one-handed", "two-way" (a two-way zipper is a claim term, not a count of zippers)
_MANNER_WORDS = frozenset("fold handed dimensional dimensionally way".split())
_FUSED_MANNER = re.compile(r"-([a-z]+)\b", re.IGNORECASE)
MANNER_COUNT = re.compile(rf"(?<![\w.,/-])(?P<num>\d+|{_SPELLED})-(?P<word>{'|'.join(_MANNER_WORDS)})\b",
                           re.IGNORECASE)
# a fact value that starts with a count: "Two hand pockets", "one chest pocket"
COUNT_WORDS = {w: v for w, v in _NUMBER_WORDS.items() if 1 <= v <= 20}
LEAD_COUNT = re.compile(rf"\s*(?:(\d+)|({'|'.join(COUNT_WORDS)}))\s+", re.IGNORECASE)
# "60% polyester/37% nylon": a slash between a word and a number joins blend shares, also
# after a parenthetical share of one of them ("93% polyester (71% recycled)/7% spandex")
_SHARE_SLASH = re.compile(r"(?<=[^\W\d_]|%|\))/(?=\s*\d)")
_VULGAR = {"\u00bd": Fraction(1, 2), "\u00bc": Fraction(1, 4), "\u00be": Fraction(3, 4),
           "\u2153": Fraction(1, 3), "\u2154": Fraction(2, 3), "\u215b": Fraction(1, 8)}
# after "2 in", these words make "in" a preposition ("fits 2 in the pack"), not inches
_IN_PREPOSITION_NEXT = frozenset(
    "the a an your my our their its his her this that these those one each every any all "
    "no some just under less".split())

_V = "".join(_VULGAR)
_DIGITS = (rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?(?:(?:\s+|-)\d+/\d+|\s?[{_V}])?"
           rf"|\.\d+|\d+/\d+|[{_V}]")
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_QUANTITY = re.compile(
    rf"(?P<cur>\$\s?)?(?<![\w.,/])(?P<num>{_DIGITS}|{_SPELLED})"
    rf"(?:(?P<gap>\s*-\s*|\s*)(?P<unit>{_UNIT_ALT})(?![a-z0-9]))?(?![\w/])",
    re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"[\d,]*\.?\d+")
_ORDINAL = re.compile(r"(?:st|nd|rd|th)\b", re.IGNORECASE)
# "6.1 x 4.3 in", and hanging hyphens: "1- and 2-liter", "3- to 4-inch"
_CHAIN = re.compile(r"\s*(?:x|\u00d7|by|-\s*(?:and|or|to))\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    """A number as written: value, unit (canonical, or None) and where it is."""

    value: float
    unit: str | None
    decimals: int
    span: tuple[int, int]
    text: str
    word: bool = False  # spelled out ("two")

    @property
    def dimension(self) -> str | None:
        return _unit_info(self.unit)[1] if self.unit else None

    def in_unit(self, unit: str) -> float:
        """This quantity's value expressed in ``unit`` (same dimension)."""
        return self.value * _unit_info(self.unit)[2] / _unit_info(unit)[2]


def _unit_info(unit: str) -> tuple[str, str, float]:
    return _UNITS[unit.lower()]


def parse_number(raw: str) -> tuple[float, int, bool]:
    """``(value, decimals, spelled)`` of a number as written ("1,200", "1 1/2", "two")."""
    raw = raw.strip().lower()
    spelled = re.split(r"[- ]", raw)
    if all(w in _NUMBER_WORDS for w in spelled):
        return float(sum(_NUMBER_WORDS[w] for w in spelled)), 0, True
    if _PLAIN_NUMBER.fullmatch(raw):
        return float(raw.replace(",", "")), len(raw.partition(".")[2]), False
    total, decimals = Fraction(0), 0
    for part in re.findall(rf"\d[\d,]*(?:\.\d+)?/\d+|[\d,]*\.?\d+|[{_V}]", raw):
        if part in _VULGAR:
            total += _VULGAR[part]
            decimals = max(decimals, 2)
        elif "/" in part:
            num, den = part.split("/")
            total += Fraction(int(num.replace(",", "")), int(den) or 1)
            decimals = max(decimals, 2)
        else:
            total += Fraction(part.replace(",", ""))
            decimals = max(decimals, len(part.partition(".")[2]))
    return float(total), decimals, False


def read_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its unit, compounds merged ("1 lb 2 oz" is 18 oz)."""
    found = []
    for m in _QUANTITY.finditer(_SHARE_SLASH.sub(" ", text)):  # same length: offsets hold
        quantity = _quantity_from_match(text, m)
        if quantity is not None:
            found.append(quantity)
    return _merge_compounds(text, _inherit_chain_units(text, found))


def _quantity_from_match(text: str, m: re.Match) -> Quantity | None:
    if _ORDINAL.match(text, m.end("num")):
        return None
    value, decimals, word = parse_number(m["num"])
    unit, end = _unit_of(text, m, word)
    if unit is None and _fused_manner(text, m.end("num")):
        return None
    if m["cur"]:
        unit = "$"
    if word and unit is None and value <= 1:
        return None  # "one" and "zero" without a unit are words, not counts
    start = m.start("cur") if m["cur"] else m.start("num")
    return Quantity(value, unit, decimals, (start, end), text[start:end], word)


def _fused_manner(text: str, end: int) -> bool:
    """Whether the number ending at ``end`` is fused to a manner word ("two-fold")."""
    fused = _FUSED_MANNER.match(text, end)
    return bool(fused) and fused.group(1).lower() in _MANNER_WORDS


def _unit_of(text: str, m: re.Match, word: bool) -> tuple[str | None, int]:
    """The canonical unit after the number and where the quantity ends."""
    spelled = m["unit"]
    if not spelled:
        return None, m.end("num")
    key = spelled.lower()
    glued = m["gap"] == ""
    if word and key in _WORD_NOT_UNIT:
        return None, m.end("num")  # "one cup", "on one foot": counts, not measures
    if key in _GLUED_ONLY and (not glued or word) or (key == "in" and _in_is_preposition(text, m, word)):
        return None, m.end("num")
    return _UNITS[key][0], m.end("unit")


def _in_is_preposition(text: str, m: re.Match, word: bool) -> bool:
    if word:
        return True  # "two in the pack"; nobody writes "two in" for inches
    following = re.match(r"\s*([A-Za-z]+)", text[m.end("unit"):])
    return bool(following) and following.group(1).lower() in _IN_PREPOSITION_NEXT


def _inherit_chain_units(text: str, found: list[Quantity]) -> list[Quantity]:
    """In "6.1 x 4.3 in" the 6.1 is inches too: copy the unit leftwards along the chain."""
    out = list(found)
    for i in range(len(out) - 2, -1, -1):
        here, nxt = out[i], out[i + 1]
        if here.unit is None and nxt.unit and _CHAIN.match(text[here.span[1]:nxt.span[0]]):
            out[i] = Quantity(here.value, nxt.unit, here.decimals, here.span, here.text, here.word)
    return out


# between the parts of a compound: "1 lb 2 oz", "5 ft and 2 in"; with a comma or a full
# stop ("2 lbs, 8 oz", "2 lb. 8 oz") only for a usual pair whose smaller part is less than
# one larger unit: "9 ft, 62 in" and "50 ft, 1.8 mm" are two measures
_COMPOUND_GAP = re.compile(r"\s*(?:and\s+)?")
_PUNCT_COMPOUND_GAP = re.compile(r"\.?\s*,?\s*(?:and\s+)?")
_COMPOUND_PAIRS = frozenset({("lb", "oz"), ("ft", "in"), ("kg", "g"), ("m", "cm")})


def _merge_compounds(text: str, found: list[Quantity]) -> list[Quantity]:
    """Merge "1 lb 2 oz" (a larger unit then a smaller one of the same dimension)."""
    out: list[Quantity] = []
    for q in found:
        prev = out[-1] if out else None
        if (prev and prev.unit and q.unit and prev.unit != q.unit and prev.dimension == q.dimension
                and _unit_info(prev.unit)[2] > _unit_info(q.unit)[2]
                and _compound_gap(prev, q, text[prev.span[1]:q.span[0]])):
            span = (prev.span[0], q.span[1])
            value = prev.in_unit(q.unit) + q.value
            out[-1] = Quantity(value, q.unit, q.decimals, span, text[span[0]:span[1]])
        else:
            out.append(q)
    return out


def _compound_gap(larger: Quantity, smaller: Quantity, gap: str) -> bool:
    """Whether ``gap`` joins two quantities into one compound (see :data:`_COMPOUND_GAP`)."""
    if _COMPOUND_GAP.fullmatch(gap):
        return True
    return (bool(_PUNCT_COMPOUND_GAP.fullmatch(gap)) and (larger.unit, smaller.unit) in _COMPOUND_PAIRS
            and smaller.in_unit(larger.unit) < 1)


def same_value(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def quantity_supported(q: Quantity, facts: list[Quantity], counts=frozenset()) -> bool:
    """Whether a quantity in the copy restates one in the facts.

    A unitless number matches any fact with the same value (or the length of a list
    fact); a number with a unit needs a fact with a unit of the same dimension: the same
    value in the same unit, or a conversion right to the precision the copy states (and
    within 5%).
    """
    if q.unit is None and any(same_value(q.value, n) for n in counts):
        return True
    for f in facts:
        if q.unit is None:
            if same_value(q.value, f.value):
                return True
        elif f.unit is None:
            continue  # "12 guy points" does not make "12 in" true
        elif f.unit == q.unit:
            if same_value(q.value, f.value):
                return True
        elif f.dimension == q.dimension and _close_conversion(q, f.in_unit(q.unit)):
            return True
    return False


def _close_conversion(q: Quantity, converted: float) -> bool:
    half_step = 0.5 * 10 ** -q.decimals + 1e-9
    return abs(converted - q.value) <= half_step and abs(converted - q.value) <= 0.05 * abs(converted)
