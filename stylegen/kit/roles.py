"""Fact roles: what each catalog fact *is*, so that readers need not know its column name.

A brand's catalog calls its facts what it likes (``details``, ``fabric``, ``title``,
``wt``); the readers of facts (the assembler, coverage, grounding, the sense checks) need
to know which one is the product's name, its list of features, its materials, its
weight. ``brand.yaml`` says so per prompt variable::

    catalog:
      fields:
        details: {column: details, list: true, role: features}
        fabric: {column: fabric, role: materials}

A variable without ``role:`` gets the role it is named after (``features`` is the
``features`` role; a few spelling variants such as ``colour`` or ``title`` too), else
``text``: free text that grounding reads as support and nothing else interprets. So the
sample kits, whose variables are named like roles, need no ``role:`` at all.

:func:`facts_by_role` is the one reader: it re-keys a row's facts by role, and every
consumer reads the role-keyed mapping. It is idempotent (role-keyed facts map to
themselves), so code that holds no brand kit may call it again on facts already re-keyed.
"""
from __future__ import annotations

from typing import Any

# role -> what the readers do with it (shown by `stylegen brand check` and in errors)
ROLES: dict[str, str] = {
    "name": "the product's name: the assembler's subject, the name check",
    "category": "one value: lexicon and off-topic vocabulary per category",
    "features": "a list of details: assembler sentences and bullets, coverage",
    "materials": "a list or a fabric line: the material sentence, blend shares, '100% X' of a sole material",
    "weight": "a mass: the lead sentence, coverage",
    "dimensions": "a size: 'it measures', bare numbers read as inches or feet",
    "capacity": "a volume or a count of people: the lead sentence, coverage",
    "colors": "a list of colours: 'it comes in'",
    "sizes": "a list of sizes: 'it comes in sizes S, M and L'",
    "fit": "how it fits ('Slim fit', 'Regular fit, hip length'): 'it has a slim fit'",
    "use": "what it is for (activity, climate, season): the use sentence, coverage",
    "care": "the care line: the last sentence",
    "certifications": "certifications and labels: one sentence each, coverage",
    "origin": "where it is made: 'it is made in Portugal'",
    "price": "a price",
    "audience": "who it is for (men, women, kids)",
    "attribute": "a closed label (pattern, style): support only",
    "flag": "Yes/No: support only",
    "text": "free text: support only (the default)",
}
# Spellings of a role name that a variable may carry without ``role:`` (the default role).
_ALIASES = {"feature": "features", "material": "materials", "color": "colors", "colour": "colors",
            "colours": "colors", "size": "sizes", "certification": "certifications", "dimension": "dimensions",
            "title": "name", "product_name": "name", "categories": "category", "made_in": "origin"}
# Roles whose values several variables may add up (a list); the others keep one value.
# one slot: (facts, catalog, facts by role) of the record being read; read, never mutate, the result
_LAST: list = [None, None, None]
LIST_ROLES = frozenset({"features", "materials", "colors", "sizes", "use", "certifications", "attribute", "flag",
                        "text", "audience"})


def default_role(variable: str) -> str:
    """The role of a variable that declares none: its own name when that is a role, else ``text``."""
    key = variable.strip().lower()
    return key if key in ROLES else _ALIASES.get(key, "text")


def role_of(variable: str, catalog=None) -> str:
    """The role of prompt variable ``variable`` under ``catalog`` (``brand.catalog``; None: by name)."""
    spec = catalog.fields.get(variable) if catalog is not None else None
    declared = getattr(spec, "role", None)
    return declared or default_role(variable)


def roles_of(catalog) -> dict[str, str]:
    """variable -> role for every field of a catalog mapping."""
    return {var: role_of(var, catalog) for var in catalog.fields}


def facts_by_role(facts: dict | None, catalog=None) -> dict[str, Any]:
    """A row's facts keyed by role: the one reader of facts by what they are.

    One variable of a role gives its value as it is (a string or a list), so facts
    named like roles come back unchanged. Several variables of a list role add up to
    one list, in the order of the facts; for a one-value role the first non-empty wins.

    The result is shared while the same facts object comes back: read it, never change it.

    Args:
        facts: a row's facts keyed by prompt variable (``CatalogRow.facts``, a record's facts).
        catalog: ``brand.catalog``; None reads every key by its name (:func:`default_role`).
    """
    if _LAST[0] is facts and _LAST[1] is catalog and facts is not None:
        return _LAST[2]  # the fields and bullets of one record: the same object, for the readers' caches
    grouped: dict[str, list] = {}
    for key, value in (facts or {}).items():
        if value in (None, "", [], ()):
            continue
        grouped.setdefault(role_of(key, catalog), []).append(value)
    _LAST[:] = [facts, catalog, {role: _merge(role, values) for role, values in grouped.items()}]
    return _LAST[2]


def _merge(role: str, values: list) -> Any:
    if len(values) == 1:
        return values[0]
    if role not in LIST_ROLES:
        return values[0]
    return [item for v in values for item in (v if isinstance(v, (list, tuple)) else [v])]


def role_value(facts: dict | None, role: str, catalog=None) -> Any:
    """The value of one role in a row's facts (None when it has none)."""
    return facts_by_role(facts, catalog).get(role)
