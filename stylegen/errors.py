"""Errors that the CLI maps to exit codes.

Library code raises these; ``stylegen.cli`` turns them into messages and exit code 2.
"""
from __future__ import annotations


class StylegenError(Exception):
    """Base class for every error stylegen raises on purpose."""

    exit_code = 2


class ConfigError(StylegenError):
    """One or more problems in a configuration file (brand kit, rule, schema).

    Every problem is a full sentence naming ``file:line: key.path``; all of a file's
    problems are collected and reported at once instead of one per run.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DataError(StylegenError):
    """Input data that makes a whole command impossible (empty file, unusable dataset)."""


class BusyError(StylegenError):
    """Another process holds the run directory's lock."""
