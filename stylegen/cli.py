"""The ``stylegen`` command line: parse options, call one library function, map exit codes.

Exit codes: 0 success; 1 the command ran and found a failing condition (findings at or
above ``--fail-level``, reject rate above ``--max-reject-rate``); 2 usage or
configuration error. Heavy libraries are imported inside the library functions, so
``stylegen --help`` stays fast.
"""
from __future__ import annotations

import functools
import sys

import click

from .errors import StylegenError

BRAND_OPTION = click.option(
    "--brand", "brand_dir", default="brand", show_default=True,
    type=click.Path(file_okay=True, dir_okay=True), help="Brand kit folder (or its brand.yaml).",
)


def _handle_errors(func):
    """Turn stylegen's own errors into a clean message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StylegenError as exc:
            for line in str(exc).splitlines() or [exc.__class__.__name__]:
                click.echo(f"error: {line}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stylegen")
def cli():
    """stylegen keeps a brand's written voice consistent at scale.

    Fine-tune for style (train), prompt for task (generate), and check every
    word against the brand's rules (validate).
    """


# --- brand -----------------------------------------------------------------


@cli.group()
def brand():
    """Inspect and check a brand kit."""


@brand.command("check")
@click.argument("brand_dir", default="brand", type=click.Path())
@_handle_errors
def brand_check(brand_dir):
    """Check a brand kit and every rule of its validator suites, without validating copy."""
    from .rules import check_brand_kit

    summary = check_brand_kit(brand_dir)
    click.echo(summary)


# --- validate ----------------------------------------------------------------
# (validate command: see below, owned by the validators work)

# --- models / train ----------------------------------------------------------
# (models and train commands, owned by the training work)

# --- generate ----------------------------------------------------------------
# (generate command, owned by the generation work)

# --- eval --------------------------------------------------------------------
# (eval command, owned by the evaluation work)


def main():
    """Console-script entry point."""
    cli()
