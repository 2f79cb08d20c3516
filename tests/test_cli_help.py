"""Every command's --help works, and importing the CLI stays light (no torch/spaCy)."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from stylegen.cli import cli


def _commands(group: click.Group, prefix=()):
    """Every command path of the CLI, groups included, found by walking the click tree."""
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))
        else:
            yield prefix + (name,)


COMMANDS = list(_commands(cli))


def test_core_commands_exist():
    assert {("validate",), ("brand", "check"), ("review",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "stylegen")
def test_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command = cli
    for name in path:
        command = command.commands[name]
    first_words = " ".join((command.help or "").split()[:5])  # click rewraps (and splits at hyphens)
    assert first_words and first_words in " ".join(result.output.split())


def test_validate_help_lists_the_options():
    out = CliRunner().invoke(cli, ["validate", "--help"]).output
    for option in ("--brand", "--format", "--fail-level", "--suite", "--field", "--output"):
        assert option in out
    assert "text|json|sarif" in out


def test_importing_the_cli_loads_no_heavy_library():
    code = ("import sys, stylegen.cli, stylegen.validation.validator, stylegen.validation.rules, stylegen.validation.findings, stylegen.validation.records\n"
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'spacy', 'textstat', 'matplotlib')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at CLI start: {out.stdout.strip()}"
