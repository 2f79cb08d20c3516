"""Strict loading of dataclasses from YAML mappings.

In the spirit of torchtune and PEFT's ``LoraConfig``: unknown keys are rejected, types
are checked, numbers are range-checked (a dataclass's ``RANGES`` class attribute maps a
field to a bound such as ``">=1"``, ``">0"``, ``"(0,1]"`` or ``"finite"``; ``ORDER`` lists
``(low, high)`` pairs such as ``("min", "max")`` that must not be reversed), and every
problem in a file is collected and reported at once, each naming ``file:line: key.path``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints

from stylegen.kit.yaml_lines import line_of, short

_MISSING = object()


class Problems(list):
    """Collects problem strings for one file; ``where()`` formats the location prefix."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def add(self, mapping: Any, key: str | None, keypath: str, message: str) -> None:
        line = line_of(mapping, key) if key is not None else None
        where = f"{self.file}:{line}" if line else self.file
        self.append(f"{where}: {keypath or '<top>'}: {message}")


def load_dataclass(cls: type, data: Any, problems: Problems, keypath: str = "") -> Any:
    """Build ``cls`` from a mapping, recording every problem instead of raising.

    Returns the instance (with defaults where a value was bad) or ``None`` when ``data``
    is not a mapping at all.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(None, None, keypath, f"must be a mapping, got {_kind(data)}")
        return None
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    valid = ", ".join(sorted(fields))
    for key in data:
        if key not in fields:
            problems.add(data, key, _join(keypath, key), f"unknown key (valid keys: {valid})")
    kwargs = {}
    for name, field in fields.items():
        sub = _join(keypath, name)
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], problems, data, name, sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.add(data, None, sub, "required key is missing")
    kwargs = {k: v for k, v in kwargs.items() if v is not _MISSING}
    for name, bound in getattr(cls, "RANGES", {}).items():
        if name in kwargs and not _in_range(kwargs[name], bound):
            problems.add(data, name, _join(keypath, name), f"must be {_describe(bound)} (got {short(kwargs[name])})")
            kwargs.pop(name)
    _check_order(cls, kwargs, data, problems, keypath)
    try:
        return cls(**kwargs)
    except TypeError:  # a required key was missing or bad: problems already say which
        return None


def _coerce(hint: Any, value: Any, problems: Problems, parent: Any, key: str, keypath: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, problems, parent, key, keypath)
    if dataclasses.is_dataclass(hint):
        result = load_dataclass(hint, value, problems, keypath)
        return _MISSING if result is None else result
    if origin is Literal:
        if value in args:
            return value
        choices = ", ".join(str(a) for a in args)
        problems.add(parent, key, keypath, f"must be one of {choices} (got {short(value)})")
        return _MISSING
    if origin is list:
        return _coerce_list(args[0] if args else Any, value, problems, parent, key, keypath)
    if origin is dict:
        return _coerce_dict(args[1] if args else Any, value, problems, parent, key, keypath)
    return _coerce_scalar(hint, value, problems, parent, key, keypath)


def _coerce_list(item: Any, value: Any, problems, parent, key, keypath):
    if isinstance(value, (str, int, float)) and item is str:
        value = [value]  # a single string where a list is allowed
    if not isinstance(value, list):
        problems.add(parent, key, keypath, f"must be a list, got {_kind(value)}")
        return _MISSING
    out = [_coerce(item, v, problems, parent, key, f"{keypath}[{i}]") for i, v in enumerate(value)]
    return [v for v in out if v is not _MISSING]


def _coerce_dict(item: Any, value: Any, problems, parent, key, keypath):
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(parent, key, keypath, f"must be a mapping, got {_kind(value)}")
        return _MISSING
    out = {str(k): _coerce(item, v, problems, value, k, _join(keypath, str(k))) for k, v in value.items()}
    return {k: v for k, v in out.items() if v is not _MISSING}


def _coerce_scalar(hint: Any, value: Any, problems, parent, key, keypath):
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML reads "3e-4" as a string
            return float(value)
        except ValueError:
            pass
    if hint in (str, int, float, bool) and isinstance(value, hint) and not (
        hint is int and isinstance(value, bool)
    ):
        return value
    problems.add(parent, key, keypath, f"must be {hint.__name__}, got {_kind(value)} {short(value)}")
    return _MISSING


def _check_order(cls: type, kwargs: dict, data: Any, problems: Problems, keypath: str) -> None:
    """A class's ``ORDER`` pairs ``(low, high)``: ``low`` may not exceed ``high`` (both dropped if it does)."""
    for low, high in getattr(cls, "ORDER", ()):
        lo, hi = kwargs.get(low), kwargs.get(high)
        if _number(lo) and _number(hi) and lo > hi:
            problems.add(data, low, _join(keypath, low), f"{low} ({short(lo)}) is more than {high} ({short(hi)}): "
                                                         f"no value can satisfy both")
            kwargs.pop(low)
            kwargs.pop(high)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _in_range(value: Any, bound: str) -> bool:
    """Whether a number is inside ``bound``: ``>=1``, ``>0``, an interval ``(0,1]``, or ``finite``."""
    if value is None or not isinstance(value, (int, float)):
        return True  # None (where allowed) and non-numbers are checked elsewhere
    if value != value or value in (float("inf"), float("-inf")):
        return False  # nan or infinity: never a valid setting
    if bound == "finite":  # a score that may be negative (Flesch reading ease)
        return True
    if bound.startswith(">="):
        return value >= float(bound[2:])
    if bound.startswith(">"):
        return value > float(bound[1:])
    lo, hi = (float(x) for x in bound[1:-1].split(","))
    above = value >= lo if bound[0] == "[" else value > lo
    below = value <= hi if bound[-1] == "]" else value < hi
    return above and below


def _describe(bound: str) -> str:
    if bound == "finite":
        return "a finite number"
    if bound.startswith(">="):
        return f"at least {bound[2:]}"
    if bound.startswith(">"):
        return f"greater than {bound[1:]}"
    lo, hi = bound[1:-1].split(",")
    return (f"{'at least' if bound[0] == '[' else 'greater than'} {lo} and "
            f"{'at most' if bound[-1] == ']' else 'less than'} {hi}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), type(value).__name__)
