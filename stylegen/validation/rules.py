"""Rules as data: ``validators/<Suite>/<Rule>.yml`` loaded into :class:`Rule` objects.

A rule file names a check type with ``extends`` and sets the keys every rule has plus the
keys its check type declares (see :mod:`stylegen.validation.checks`)::

    extends: existence            # one of the registered check types
    message: "Say it plainly: '{match}' is hype."
    level: error                  # error | warning | suggestion (default warning)
    fields: [description, bullets]   # default: every task field of the brand
    description: Words the brand never uses.   # optional, shown by `brand check` and SARIF
    tokens: [amazing, awesome]    # type-specific

The rule id is ``<SuiteFolder>.<FileStem>`` (``KettleCairn.Hype``). brand.yaml
``validators.levels`` overrides a rule's level by id, or turns it ``off``. Problems in
any rule file (broken YAML, unknown keys, unknown ``extends``, bad levels, bad fields) are
collected over *all* files and raised as one :class:`~stylegen.errors.ConfigError`.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from stylegen.errors import ConfigError
from stylegen.kit._yaml import line_of, load_yaml
from stylegen.kit.brand import load_brand
from stylegen.kit.config import load_dataclass, Problems
from stylegen.validation.checks import check_types
from stylegen.validation.findings import LEVELS


COMMON_KEYS = ("extends", "message", "level", "fields", "description")
RULE_SUFFIXES = (".yml", ".yaml")


@dataclass
class Rule:
    """One loaded rule: common settings plus its prepared check."""

    id: str
    suite: str
    extends: str
    message: str
    level: str
    file: Path
    fields: list[str] | None = None
    description: str = ""
    default_level: str = "warning"
    check: Any = field(default=None, repr=False)

    def applies_to(self, name: str) -> bool:
        """Whether the rule checks the field ``name``."""
        return self.fields is None or name in self.fields


def suites_dir(brand) -> Path:
    """The folder holding the brand's validator suites."""
    return brand.resolve(brand.validators.path)


def available_suites(brand) -> list[str]:
    """Names of the suite folders next to each other in the validators folder."""
    root = suites_dir(brand)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
        if root.is_dir() else []


def load_rules(brand, suites: list[str] | None = None, include_off: bool = False) -> list[Rule]:
    """Load every rule of ``suites`` (default: the brand's ``validators.suites``).

    Args:
        brand: the loaded BrandKit.
        suites: suite folder names to load instead of the brand's list.
        include_off: keep rules the brand turned ``off`` (level ``"off"``).

    Raises:
        ConfigError: every problem of every rule file and of the level overrides.
    """

    types = check_types()
    names = list(suites) if suites else list(brand.validators.suites)
    problems: list[str] = []
    rules: list[Rule] = []
    known = available_suites(brand)
    for suite in names:
        if suite not in known:
            problems.append(f"{brand.file}: validators.suites: suite {suite!r} not found in "
                            f"{suites_dir(brand)} (available: {', '.join(known) or 'none'})")
            continue
        for file in sorted(p for p in (suites_dir(brand) / suite).iterdir() if p.suffix in RULE_SUFFIXES):
            rule = _load_rule(file, suite, brand, types, problems)
            if rule is not None:
                rules.append(rule)
    _apply_levels(brand, rules, names, problems)
    if problems:
        raise ConfigError(problems)
    return [r for r in rules if include_off or r.level != "off"]


def _load_rule(file: Path, suite: str, brand, types: dict, problems: list[str]) -> Rule | None:
    """One rule file; problems go to ``problems`` and the rule is dropped if it has any."""
    try:
        data = load_yaml(file)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    probs = Problems(str(file))
    if not isinstance(data, dict):
        probs.add(None, None, "<top>", "a rule file must be a mapping of keys")
        problems.extend(probs)
        return None
    rule = _common(file, suite, data, brand, types, probs)
    if rule is not None:
        _prepare_check(rule, data, brand, types[rule.extends], probs)
    problems.extend(probs)
    return rule if not probs else None


def _common(file: Path, suite: str, data: dict, brand, types: dict, probs: Problems) -> Rule | None:
    """The keys every rule has; ``None`` when ``extends`` is unusable."""
    extends = data.get("extends")
    valid = ", ".join(sorted(types))
    if extends is None:
        probs.add(data, None, "extends", f"required key is missing (valid check types: {valid})")
        return None
    if extends not in types:
        probs.add(data, "extends", "extends", f"unknown check type {extends!r} (valid: {valid})")
        return None
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        probs.add(data, "message" if "message" in data else None, "message", "required: a non-empty string")
        message = ""
    _check_format(message, data, probs)
    level = data.get("level", "warning")
    if level not in LEVELS:
        probs.add(data, "level", "level", f"must be one of {', '.join(LEVELS)} (got {level!r})")
    fields = _fields(data, brand, probs)
    description = data.get("description", "")
    if not isinstance(description, str):
        probs.add(data, "description", "description", "must be a string")
    return Rule(id=f"{suite}.{file.stem}", suite=suite, extends=extends, message=message, level=level,
                default_level=level, file=file, fields=fields, description=str(description or "").strip())


def _check_format(message: str, data: dict, probs: Problems) -> None:
    try:
        list(string.Formatter().parse(message))
    except ValueError as exc:
        probs.add(data, "message", "message", f"bad placeholder syntax: {exc} (use {{{{ and }}}} for braces)")


def _fields(data: dict, brand, probs: Problems) -> list[str] | None:
    if "fields" not in data:
        return None
    value = data["fields"]
    value = [value] if isinstance(value, str) else value
    valid = list(brand.tasks)
    if not isinstance(value, list) or not value:
        probs.add(data, "fields", "fields", f"must be a list of task fields (valid: {', '.join(valid)})")
        return None
    for i, name in enumerate(value):
        if name not in valid:
            probs.add(data, "fields", f"fields[{i}]", f"unknown field {name!r} (valid: {', '.join(valid)})")
    return [str(v) for v in value]


def _prepare_check(rule: Rule, data: dict, brand, cls, probs: Problems) -> None:
    """Build the type's Options (unknown keys rejected) and run the check's setup."""
    options_fields = [f for f in getattr(cls.Options, "__dataclass_fields__", {})]
    valid = ", ".join(list(COMMON_KEYS) + options_fields)
    extra = {}
    for key, value in data.items():
        if key in COMMON_KEYS:
            continue
        if key not in options_fields:
            probs.add(data, key, key, f"unknown key for extends: {rule.extends} (valid keys: {valid})")
        else:
            extra[key] = value
    before = len(probs)
    options = load_dataclass(cls.Options, _with_lines(extra, data), probs)
    if options is None or len(probs) > before:
        return
    rule.check = cls(rule, options, brand)
    rule.check.setup(lambda key, message: probs.add(data, key, key, message))


def _with_lines(extra: dict, data: dict) -> dict:
    """A copy of ``extra`` that keeps the YAML line numbers of ``data`` for messages."""
    copy = type(data)(extra)
    if hasattr(data, "lines"):
        copy.lines = data.lines
    return copy


def _apply_levels(brand, rules: list[Rule], suites: list[str], problems: list[str]) -> None:
    """brand.yaml ``validators.levels``: per-rule overrides, checked against the loaded rules."""
    by_id = {r.id: r for r in rules}
    raw = load_yaml(brand.file)
    levels_map = (raw.get("validators") or {}).get("levels") if isinstance(raw, dict) else None
    for rule_id, level in brand.validators.levels.items():
        if rule_id in by_id:
            by_id[rule_id].level = level
        elif rule_id.split(".")[0] in suites or rule_id.split(".")[0] not in available_suites(brand):
            line = line_of(levels_map, rule_id)
            where = f"{brand.file}:{line}" if line else str(brand.file)
            valid = ", ".join(sorted(by_id)) or "none"
            problems.append(f"{where}: validators.levels.{rule_id}: no such rule (valid: {valid})")


def check_brand_kit(brand_dir: str | Path) -> str:
    """Load a brand kit and every rule of its suites; return a readable summary.

    Raises:
        ConfigError: with every problem of the brand kit, or (once it loads) of the rules.
    """

    brand = load_brand(brand_dir)
    rules = load_rules(brand, include_off=True)
    lines = [f"{brand.file}: ok: brand {brand.name!r}, tasks {', '.join(brand.tasks)}, "
             f"schema {brand.schema}, {len(brand.claim_terms)} claim terms"]
    for suite in brand.validators.suites:
        mine = [r for r in rules if r.suite == suite]
        lines.append(f"{suite}: {len(mine)} rules")
        for r in mine:
            level = r.level if r.level == r.default_level else f"{r.level} (brand override of {r.default_level})"
            lines.append(f"  {r.id:32} {r.extends:13} {level}")
    return "\n".join(lines)
