"""YAML loading that remembers the line of every mapping key, for error messages."""
from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml

from stylegen.errors import ConfigError


class LineDict(dict):
    """A dict from YAML that also knows the 1-based line of each key (``.lines``)."""

    lines: dict


MAX_BYTES = 1_000_000  # a brand kit or rule file is a few KB; more is a mistake or an attack
MAX_ALIASES = 100  # alias references per document: stops "billion laughs" expansion bombs


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that counts alias references, refusing a document with too many."""

    _aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(_Limit(f"more than {MAX_ALIASES} alias references (*name)", mark))
        return super().compose_node(parent, index)


class _Limit(str):
    """A limit problem with the mark of where it was hit."""

    def __new__(cls, text: str, mark):
        obj = super().__new__(cls, text)
        obj.mark = mark
        return obj


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise yaml.YAMLError(_Limit(f"a mapping key must be a plain value, got {type(key).__name__}",
                                        key_node.start_mark)) from None
        if key in mapping.lines:
            loader.duplicates.append(f"{loader.name}:{line}: {short(key)}: duplicate key "
                                     f"(first at line {mapping.lines[key]}); write each key once")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines.setdefault(key, line)
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; mappings come back as :class:`LineDict`.

    Raises:
        ConfigError: the file is missing or is not valid YAML (with the line of the error).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{path}:1: file too large ({len(text):,} characters; the limit is {MAX_BYTES:,})")
    loader = None
    try:
        loader = _LineLoader(text)  # the reader already refuses control characters here
        loader.name, loader.duplicates = str(path), []
        data = loader.get_single_data()
        if loader.duplicates:
            raise ConfigError(loader.duplicates)
        return data
    except yaml.YAMLError as exc:
        limit = exc.args[0] if exc.args and isinstance(exc.args[0], _Limit) else None
        mark = limit.mark if limit is not None else getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = limit if limit is not None else (getattr(exc, "problem", None) or str(exc))
        raise ConfigError(f"{where}: invalid YAML: {_cut(str(problem))}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def short(value: Any, limit: int = 60) -> str:
    """A bounded ``repr(value)`` (at most about ``limit`` characters), so an error never quotes a huge value.

    ``reprlib`` stops at a few items and levels, so even an alias-expanded structure is
    cheap to describe; a string is cut to its first ``limit`` characters.
    """
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + f"...' ({len(value):,} characters)"
    shortener = reprlib.Repr()
    shortener.maxstring, shortener.maxother, shortener.maxlevel = limit, limit, 2
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 4
    text = shortener.repr(value)
    return text if len(text) <= limit + 20 else text[:limit + 20] + "..."


def line_of(mapping: Any, key: str) -> int | None:
    """The 1-based line of ``key`` in a mapping loaded by :func:`load_yaml`, if known."""
    return getattr(mapping, "lines", {}).get(key)
