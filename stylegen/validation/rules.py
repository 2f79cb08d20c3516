"""Rules as data: ``validators/<Suite>/<Rule>.yml`` loaded into :class:`Rule` objects.

A rule file names a check type with ``extends`` and sets the keys every rule has plus the
keys its check type declares (see :mod:`stylegen.validation.checks`)::

    extends: existence            # one of the registered check types
    message: "Say it plainly: '{match}' is hype."
    level: error                  # error | warning | suggestion (default warning)
    fields: [description, bullets]   # default: every task field of the brand
    description: Words the brand never uses.   # optional, shown by `brand check` and SARIF
    fix: remove                   # optional: a deterministic fix (see :class:`Fix`)
    tokens: [amazing, awesome]    # type-specific

The rule id is ``<SuiteFolder>.<FileStem>`` (``KettleCairn.Hype``). brand.yaml
``validators.levels`` overrides a rule's level by id, or turns it ``off``. Problems in
any rule file (broken YAML, unknown keys, unknown ``extends``, bad levels, bad fields, a
``fix`` that is unknown or makes no sense for the check type) are collected over *all*
files and raised as one :class:`~stylegen.errors.ConfigError`. The fixes themselves are
applied by :mod:`stylegen.validation.fixes`.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from stylegen.errors import ConfigError
from stylegen.kit.roles import role_of
from stylegen.kit.yaml_lines import line_of, load_yaml, short
from stylegen.kit.brand import load_brand
from stylegen.kit.config import load_dataclass, Problems
from stylegen.validation.checks import check_types
from stylegen.validation.findings import LEVELS
from stylegen.validation.suites import available_suites, BUILTIN_DIR, suite_files, suites_dir


COMMON_KEYS = ("extends", "message", "level", "fields", "description", "fix")
FIX_ACTIONS = ("replace", "remove", "strip_period", "capitalize", "truncate", "drop_sentence")
FIX_KEYS = ("action", "with")
# The fix actions that make sense per built-in check type: span actions need a match with
# a span in a field's text; truncate needs a maximum the rule itself sets. A check type
# may declare its own with a class attribute ``fix_actions``; one that declares none and
# is not listed here gets the span actions when it checks texts (scope "text"), else none.
_SPAN_FIXES = ("replace", "remove", "drop_sentence")
TYPE_FIXES = {
    "existence": _SPAN_FIXES,
    "tone": _SPAN_FIXES,
    "substitution": ("replace",),
    "pattern": ("replace", "remove", "strip_period", "capitalize", "drop_sentence"),
    "grounding": ("remove", "drop_sentence"),
    "occurrence": ("truncate",),
    "schema": ("truncate",),
    "readability": (),
    "voice": (),
}
_TRUNCATE_COUNTS = ("words", "characters", "sentences")


@dataclass(frozen=True)
class Fix:
    """A rule's deterministic fix: the ``fix:`` key, ``fix: remove`` or ``fix: {action: ...}``.

    ``replacement`` is the ``with:`` text of ``action: replace`` (substitution rules take
    the swap value of each match instead).
    """

    action: str
    replacement: str | None = None

    def describe(self) -> str:
        """``remove`` or ``replace with '.'``, for ``stylegen brand check``."""
        return self.action if self.replacement is None else f"{self.action} with {self.replacement!r}"


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
    fix: Fix | None = None
    check: Any = field(default=None, repr=False)

    def applies_to(self, name: str) -> bool:
        """Whether the rule checks the field ``name``."""
        return self.fields is None or name in self.fields


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
            # a name given on the command line (--suite) is not brand.yaml's fault
            where = "--suite" if suites else f"{brand.file}: validators.suites"
            problems.append(f"{where}: suite {short(suite)} not found in {suites_dir(brand)} or the built-in "
                            f"suites (available: {', '.join(known) or 'none'})")
            continue
        for file in suite_files(brand, suite):
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
        rule.fix = _fix(data, rule.extends, types[rule.extends], probs)
        _prepare_check(rule, data, brand, types[rule.extends], probs)
        _fix_fits_options(rule, data, probs)
    problems.extend(probs)
    return rule if not probs else None


def _common(file: Path, suite: str, data: dict, brand, types: dict, probs: Problems) -> Rule | None:
    """The keys every rule has; ``None`` when ``extends`` is unusable."""
    extends = data.get("extends")
    valid = ", ".join(sorted(types))
    if extends is None:
        probs.add(data, None, "extends", f"required key is missing (valid check types: {valid})")
    elif extends not in types:
        probs.add(data, "extends", "extends", f"unknown check type {short(extends)} (valid: {valid})")
    # the common keys are checked even when extends is unusable: every problem at once
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        probs.add(data, "message" if "message" in data else None, "message", "required: a non-empty string")
        message = ""
    _check_format(message, data, probs)
    level = data.get("level", "warning")
    if level not in LEVELS:
        probs.add(data, "level", "level", f"must be one of {', '.join(LEVELS)} (got {short(level)})")
    fields = _fields(data, brand, probs)
    description = data.get("description", "")
    if not isinstance(description, str):
        probs.add(data, "description", "description", "must be a string")
    if extends not in types:  # the type's own keys cannot be checked without a type
        return None
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
            probs.add(data, "fields", f"fields[{i}]", f"unknown field {short(name)} (valid: {', '.join(valid)})")
    return [str(v) for v in value]


def fix_actions(cls) -> tuple[str, ...]:
    """The fix actions that make sense for check type ``cls`` (see :data:`TYPE_FIXES`)."""
    declared = getattr(cls, "fix_actions", None)
    if declared is not None:
        return tuple(declared)
    if cls.type_name in TYPE_FIXES:
        return TYPE_FIXES[cls.type_name]
    return _SPAN_FIXES if getattr(cls, "scope", "text") == "text" else ()


def _fix(data: dict, extends: str, cls, probs: Problems) -> Fix | None:
    """The ``fix`` key: an action name, or a mapping ``{action: ..., with: ...}``."""
    if "fix" not in data:
        return None
    value = data["fix"]
    spec, where = ({"action": value}, data) if isinstance(value, str) else (value, value)
    if not isinstance(spec, dict):
        probs.add(data, "fix", "fix", f"must be an action name or a mapping with `action` "
                                      f"(valid actions: {', '.join(FIX_ACTIONS)})")
        return None
    before = len(probs)
    for key in spec:
        if key not in FIX_KEYS:
            probs.add(spec, key, f"fix.{key}", f"unknown key (valid keys: {', '.join(FIX_KEYS)})")
    action = _fix_action(spec, where, data, extends, cls, probs)
    replacement = _fix_with(spec, action, extends, data, probs)
    return Fix(action, replacement) if action is not None and len(probs) == before else None


def _fix_action(spec: dict, where, data: dict, extends: str, cls, probs: Problems) -> str | None:
    """The action, checked against the known ones and against the check type."""
    keypath = "fix" if where is data else "fix.action"
    key = "fix" if where is data else "action"
    action = spec.get("action")
    if action is None:
        probs.add(data, "fix", "fix.action", f"required key is missing (valid: {', '.join(FIX_ACTIONS)})")
        return None
    if action not in FIX_ACTIONS:
        probs.add(where, key, keypath, f"unknown action {short(action)} (valid: {', '.join(FIX_ACTIONS)})")
        return None
    allowed = fix_actions(cls)
    if action not in allowed:
        valid = ", ".join(allowed) or "none: no fix applies to this check type"
        probs.add(where, key, keypath, f"action {short(action)} makes no sense for extends: {extends} "
                                       f"(valid for {extends}: {valid})")
        return None
    return action


def _fix_with(spec: dict, action: str | None, extends: str, data: dict, probs: Problems) -> str | None:
    """The ``with`` text: required by ``replace`` except on substitution rules, else unused."""
    value = spec.get("with")
    if action != "replace":
        if "with" in spec and action is not None:
            probs.add(spec, "with", "fix.with", f"only used with action replace (not {action})")
        return None
    if extends in ("substitution", "name"):
        if "with" in spec:
            probs.add(spec, "with", "fix.with", f"not used with extends: {extends} "
                                                "(each match is replaced by its swap value or the name's spelling)")
        return None
    if not isinstance(value, str) or not value:
        where = spec if "with" in spec else data
        probs.add(where, "with" if "with" in spec else "fix", "fix.with",
                  "required for action replace: a non-empty string (the text that replaces the match;"
                  " use action remove to delete it)")
        return None
    return value


def _fix_fits_options(rule: Rule, data: dict, probs: Problems) -> None:
    """Checks of the fix against the rule's own options (once the check is prepared)."""
    fix = rule.fix
    if fix is None or rule.check is None or fix.action != "truncate" or rule.extends != "occurrence":
        return
    opts = rule.check.options
    if opts.count not in _TRUNCATE_COUNTS:
        probs.add(data, "fix", "fix", f"truncate cannot shorten count: {opts.count} "
                                      f"(only {', '.join(_TRUNCATE_COUNTS)})")
    elif opts.max is None:
        probs.add(data, "fix", "fix", "truncate cuts to the rule's max, and this rule sets none")


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


def _source(file) -> str:
    """Where a rule file came from: "built-in" or its path (a kit file or an override)."""
    path = Path(file)
    return "built-in" if BUILTIN_DIR in path.resolve().parents else str(path)


def fact_role_lines(catalog) -> list[str]:
    """``brand check``'s table of the catalog's facts: variable, column, role, and whence the role."""
    lines = [f"catalog: {len(catalog.fields)} facts (variable, column, role)"]
    for var, spec in catalog.fields.items():
        role = role_of(var, catalog)
        whence = ("role: in brand.yaml" if spec.role else "named like the role" if role != "text"
                  else "no role: free text")
        lines.append(f"  {var:24} {spec.column[:40]:40} {role:14} {whence}")
    return lines


def check_brand_kit(brand_dir: str | Path) -> str:
    """Load a brand kit and every rule of its suites; return a readable summary.

    Raises:
        ConfigError: with every problem of the brand kit, or (once it loads) of the rules.
    """

    brand = load_brand(brand_dir)
    rules = load_rules(brand, include_off=True)
    lines = [f"{brand.file}: ok: brand {brand.name!r}, tasks {', '.join(brand.tasks)}, "
             f"schema {brand.schema}, {len(brand.claim_terms)} claim terms"]
    lines += fact_role_lines(brand.catalog)
    for suite in brand.validators.suites:
        mine = [r for r in rules if r.suite == suite]
        lines.append(f"{suite}: {len(mine)} rules")
        for r in mine:
            level = r.level if r.level == r.default_level else f"{r.level} (brand override of {r.default_level})"
            fix = f"  fix: {r.fix.describe()}" if r.fix is not None else ""
            lines.append(f"  {r.id:32} {r.extends:13} {level}{fix}  [{_source(r.file)}]")
    return "\n".join(lines)
