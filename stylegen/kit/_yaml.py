"""YAML loading that remembers the line of every mapping key, for error messages."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stylegen.errors import ConfigError


class LineDict(dict):
    """A dict from YAML that also knows the 1-based line of each key (``.lines``)."""

    lines: dict


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
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
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def line_of(mapping: Any, key: str) -> int | None:
    """The 1-based line of ``key`` in a mapping loaded by :func:`load_yaml`, if known."""
    return getattr(mapping, "lines", {}).get(key)
