"""The ``stylegen`` command line: parse options, call one library function, map exit codes.

Exit codes: 0 success; 1 the command ran and found a failing condition (findings at or
above ``--fail-level``, reject rate above ``--max-reject-rate``); 2 usage or
configuration error; 3 internal error (a one-line message; the traceback only with
``stylegen --debug``). Heavy libraries are imported inside the library functions, so
``stylegen --help`` stays fast.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from stylegen.errors import StylegenError

BRAND_OPTION = click.option(
    "--brand", "brand_dir", default="brand", show_default=True,
    type=click.Path(file_okay=True, dir_okay=True), help="Brand kit folder (or its brand.yaml).",
)


INTERNAL_ERROR = 3  # a crash: never 1, which means "findings found"


def _handle_errors(func):
    """Turn stylegen's own errors into a clean message and exit code 2, and crashes into exit code 3.

    A crash prints one line naming the error; the traceback only under ``stylegen --debug``.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StylegenError as exc:
            for line in str(exc).splitlines() or [exc.__class__.__name__]:
                click.echo(f"error: {line}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the last guard: exit 3, not a traceback and exit 1
            ctx = click.get_current_context(silent=True)
            if ctx is not None and (ctx.find_root().obj or {}).get("debug"):
                import traceback

                traceback.print_exc()
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            click.echo(f"internal error: {type(exc).__name__}{': ' + detail if detail else ''} "
                       "(run with stylegen --debug for the traceback)", err=True)
            sys.exit(INTERNAL_ERROR)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stylegen")
@click.option("--debug", is_flag=True, help="Print the traceback of an internal error (exit code 3).")
@click.pass_context
def cli(ctx, debug):
    """stylegen keeps a brand's written voice consistent at scale.

    Fine-tune for style (train), prompt for task (generate), and check every
    word against the brand's rules (validate).
    """
    ctx.obj = {"debug": debug}


# --- brand -----------------------------------------------------------------


@cli.group()
def brand():
    """Inspect and check a brand kit."""


@brand.command("check")
@click.argument("brand_dir", default="brand", type=click.Path())
@_handle_errors
def brand_check(brand_dir):
    """Check a brand kit and every rule of its validator suites, without validating copy."""
    from stylegen.validation.rules import check_brand_kit

    summary = check_brand_kit(brand_dir)
    click.echo(summary)


@cli.group()
def phrasebook():
    """The brand phrasebook: sentence frames mined from the approved copy (issue 21)."""


@phrasebook.command("build")
@BRAND_OPTION
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="File to write [default: the kit's generation.phrasebook].")
@_handle_errors
def phrasebook_build(brand_dir, out):
    """Mine the training split of the approved copy and write the phrasebook file."""
    from stylegen.generation.phrasebook import build_phrasebook_for

    click.echo(build_phrasebook_for(brand_dir, out))


# --- validate ----------------------------------------------------------------
# (validate command: see below, owned by the validators work)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@BRAND_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="Output format (sarif: SARIF 2.1.0 for code-scanning UIs).")
@click.option("--fail-level", type=click.Choice(["error", "warning", "suggestion"]), default="error",
              show_default=True, help="Exit 1 when a finding reaches this level.")
@click.option("--suite", "suites", multiple=True, metavar="NAME",
              help="Validator suite to run instead of brand.yaml's list (repeatable).")
@click.option("--field", "field_name", default=None, metavar="NAME",
              help="Task field that .txt/.md files are checked as (default: description).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to FILE instead of standard output.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes for large inputs (2,000+ records)  [default: CPU count].")
@_handle_errors
def validate(paths, brand_dir, fmt, fail_level, suites, field_name, output, jobs):
    """Validate existing copy against the brand's validator suites.

    PATHS are JSONL or CSV records, .txt/.md files, folders of them, or - for stdin.
    Exit code 0 when no finding reaches --fail-level, 1 when one does, 2 for usage or
    configuration errors.
    """
    from stylegen.validation.validator import validate_paths

    if output:  # before any work: a report that cannot be written must not cost a whole run
        _check_output_path(output)
    report = validate_paths(list(paths), brand_dir, list(suites) or None, field_name,
                            jobs=jobs or os.cpu_count() or 1)
    text = report.render(fmt)
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise click.UsageError(f"--output: cannot write {output}: {exc.strerror}") from None
    else:
        click.echo(text, nl=False)
    sys.exit(report.exit_code(fail_level))


def _check_output_path(output: str) -> None:
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise click.UsageError(f"--output: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise click.UsageError(f"--output: cannot write into {folder}")

# --- models / train ----------------------------------------------------------
# (models and train commands, owned by the training work)


@cli.group()
def models():
    """List and prepare base models (the embedded default is converted once, then cached)."""


@models.command("list")
@_handle_errors
def models_list():
    """Show the embedded base models and whether they are prepared."""
    from stylegen.models import format_models, list_models

    click.echo(format_models(list_models()))


@models.command("prepare")
@click.argument("base_model", default="smollm2-135m-instruct")
@click.option("--force", is_flag=True, help="Convert again even if a prepared copy exists.")
@_handle_errors
def models_prepare(base_model, force):
    """Convert an embedded model to safetensors under $STYLEGEN_HOME (or fetch an HF model into its cache)."""
    from stylegen.models import prepare_base_model

    click.echo(prepare_base_model(base_model, force=force, progress=lambda m: click.echo(m, err=True)))


def _lora_overrides(values: dict, sets: tuple) -> dict:
    """Explicit LoRA/trainer flags plus ``--set key=value`` pairs (values parsed as YAML)."""
    import yaml

    # click gives repeated options as tuples; the strict config wants YAML's lists
    overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None and v != ()}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected key=value", param_hint="--set")
        overrides[key.strip()] = yaml.safe_load(raw)
    return overrides


@cli.command("train")
@BRAND_OPTION
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Adapter folder to write.")
@click.option("--data", type=click.Path(exists=True), help="Training data file or folder [default: training.data].")
@click.option("--base-model", help="Embedded alias, HF causal LM id or local folder [default: model.base_model].")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in OUT/checkpoints.")
@click.option("--overwrite", is_flag=True, help="Replace an adapter (or unfinished run) already in OUT.")
@click.option("--seed", type=int, help="Random seed [default: training.seed].")
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after N optimizer steps (quick runs).")
@click.option("--r", "--lora-r", "r", type=click.IntRange(min=1), help="LoRA rank (PEFT `r`).")
@click.option("--lora-alpha", "--lora_alpha", "lora_alpha", type=int, help="LoRA alpha (PEFT `lora_alpha`).")
@click.option("--lora-dropout", "--lora_dropout", "lora_dropout", type=float, help="PEFT `lora_dropout`.")
@click.option("--target-modules", "--target_modules", "target_modules", multiple=True,
              help="PEFT `target_modules` (repeat the option for several).")
@click.option("--epochs", "num_train_epochs", type=float, help="Number of epochs (`num_train_epochs`).")
@click.option("--learning-rate", "learning_rate", type=float, help="Peak learning rate.")
@click.option("--batch-size", "per_device_train_batch_size", type=click.IntRange(min=1), help="Examples per batch.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any other brand.yaml training key, e.g. --set layers_to_transform=[20,21,22].")
@click.option("--keep-checkpoints", is_flag=True, help="Keep OUT/checkpoints after the run.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@_handle_errors
def train_cmd(brand_dir, out, data, base_model, resume, overwrite, seed, max_steps, sets, keep_checkpoints,
              no_progress, **lora):
    """Train a LoRA brand-style adapter from approved copy.

    Validates the approved copy with the brand's rules, drops duplicates, splits by a hash
    of the record id, trains with completion-only loss and writes OUT: the PEFT adapter,
    chat template, manifest.json, training_curve.png and a README model card. Prints the
    held-out perplexity under the base model and with the adapter.
    """
    from stylegen.training.adapter import summary_line
    from stylegen.training.trainer import train

    manifest = train(brand_dir, out, data=data, base_model=base_model, resume=resume, seed=seed,
                     max_steps=max_steps, overrides=_lora_overrides(lora, sets), overwrite=overwrite,
                     keep_checkpoints=keep_checkpoints, progress=not no_progress,
                     echo=lambda m: click.echo(m, err=True))
    click.echo(summary_line(manifest, out))

# --- generate ----------------------------------------------------------------
# (generate command, owned by the generation work)


@cli.command()
@BRAND_OPTION
@click.option("--catalog", "catalog", default="catalog/sample_catalog.csv", show_default=True,
              type=click.Path(dir_okay=False), help="Product catalog, CSV or JSONL.")
@click.option("--out", "out", default="runs/nightly", show_default=True, type=click.Path(file_okay=False),
              help="Run directory; re-running with the same one resumes.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Only the first N catalog rows.")
@click.option("--dry-run", is_flag=True, help="Render the prompts into the run directory; generate nothing.")
@click.option("--adapter", type=click.Path(file_okay=False), default=None,
              help="LoRA adapter folder (default: brand.yaml model.adapter).")
@click.option("--no-adapter", is_flag=True, help="Prompt-only: the base model without an adapter.")
@click.option("--max-reject-rate", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Exit 1 when the share of rejected rows is above this.")
@click.option("--seed", type=int, default=None, help="Run seed (default: brand.yaml generation.seed).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Prompts per batch (default: brand.yaml generation.batch_size).")
@click.option("--max-attempts", type=click.IntRange(min=1), default=None,
              help="Rounds per field (default: brand.yaml generation.max_attempts).")
@click.option("--candidates", type=click.IntRange(min=1), default=None,
              help="Candidates sampled per field per round (default: brand.yaml generation.candidates).")
@click.option("--runner", type=click.Choice(["local", "ray"]), default=None,
              help="local: one process; ray: a Ray Data actor pool (RAY_ADDRESS, else a local cluster)."
                   " Default: brand.yaml generation.runner (local).")
@click.option("--actors", type=click.IntRange(min=1), default=2, show_default=True,
              help="Ray runner: actors in the pool, each holding one engine.")
@click.option("--runs", "runs", type=click.Path(dir_okay=False), default=None,
              help="Run file (YAML) listing several brands for one run: brands: [{brand, catalog, name, limit,"
                   " adapter, no_adapter}], out. Replaces --brand, --catalog, --limit, --adapter, --no-adapter.")
@_handle_errors
def generate(brand_dir, catalog, out, limit, dry_run, adapter, no_adapter, max_reject_rate, seed, batch_size,
             max_attempts, candidates, runner=None, actors=2, runs=None):
    """Nightly job: write product copy for a catalog, validate, fix, select, retry.

    Each field gets several candidates; the best valid one (after the rules' fixes) is kept.
    Outputs go to OUT/outputs.jsonl, failures (with every finding) to OUT/rejects.jsonl;
    OUT/ledger.sqlite records every candidate, OUT/report.md summarizes the run and
    OUT/review-sample.html is a rating sheet of accepted products for a person.
    With --runs FILE, several brands run in one night into one run directory: each row with
    its own brand's prompts, adapter and validators, the base model loaded once.
    Exit code 0; 1 when the reject rate is above --max-reject-rate; 2 for usage errors.
    """
    from stylegen.generation.run import GenerateOptions, run_generate

    if runs:
        _check_run_file_flags()
    elif adapter and no_adapter:
        raise click.UsageError("--adapter and --no-adapter exclude each other")
    given_out = click.get_current_context().get_parameter_source("out") not in (None, ParameterSource.DEFAULT)
    summary = run_generate(GenerateOptions(
        brand=brand_dir, catalog=catalog, out=out if given_out or not runs else None, limit=limit, dry_run=dry_run,
        adapter=adapter, no_adapter=no_adapter, max_reject_rate=max_reject_rate, seed=seed, batch_size=batch_size,
        max_attempts=max_attempts, candidates=candidates, runner=runner, actors=actors, runs=runs))
    for line in summary.lines():
        click.echo(line)
    sys.exit(summary.exit_code)


def _check_run_file_flags() -> None:
    """``generate --runs FILE``: the options a run file replaces must not be given too."""
    ctx = click.get_current_context()
    clash = [flag for name, flag in (("brand_dir", "--brand"), ("catalog", "--catalog"), ("limit", "--limit"),
                                     ("adapter", "--adapter"), ("no_adapter", "--no-adapter"),
                                     ("actors", "--actors"))
             if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)]
    if clash:
        raise click.UsageError(f"--runs takes each brand's kit, catalog, limit and adapter from the run file;"
                               f" drop {', '.join(clash)} (or put them in the run file)")

# --- eval --------------------------------------------------------------------
# (eval command, owned by the evaluation work)


def _arms(ctx, param, value):
    return tuple(a.strip() for a in value.split(",") if a.strip())


@cli.command("eval")
@BRAND_OPTION
@click.option("--adapter", type=click.Path(file_okay=False), default=None,
              help="Adapter folder (default: brand.yaml model.adapter); its manifest gives the held-out split.")
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Approved records to evaluate on instead of the adapter's held-out split.")
@click.option("--out", default="runs/eval", show_default=True, type=click.Path(file_okay=False),
              help="Report folder: eval.json, eval.md, eval.png and one generate run per arm.")
@click.option("--arms", default="prompt-only,adapter", show_default=True, callback=_arms,
              help="Comma-separated arms: prompt-only, adapter, adapter+few-shot, base.")
@click.option("--limit", type=click.IntRange(min=1), default=12, show_default=True,
              help="Held-out records to use (the first N by id); keeps the sample brand under 15 minutes on 2 CPUs.")
@click.option("--all", "all_records", is_flag=True, help="Use every held-out record (ignores --limit).")
@click.option("--shots", type=click.IntRange(min=0), default=3, show_default=True,
              help="Few-shot examples per request (training split only) for the few-shot arms.")
@click.option("--seed", type=int, default=None, help="Sampling seed (default: brand.yaml generation.seed).")
@click.option("--max-attempts", type=click.IntRange(min=1), default=None,
              help="Attempts per output (default: brand.yaml generation.max_attempts).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Prompts per batch (default: brand.yaml generation.batch_size).")
@click.option("--price-per-1k-tokens", type=click.FloatRange(min=0), default=None,
              help="Price of 1,000 tokens (prompt + generated); adds a cost per 1,000 products.")
@click.option("--voice-model", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Brand-voice model file (default: voice-model.json in the brand folder, if any).")
@click.option("--base-model", default=None, help="Base model (default: brand.yaml model.base_model).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads (default: every usable CPU; use fewer on a busy machine).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@_handle_errors
def eval_cmd(brand_dir, adapter, data, out, arms, limit, all_records, shots, seed, max_attempts, batch_size,
             price_per_1k_tokens, voice_model, base_model, threads, no_progress):
    """Compare the style adapter with the best prompt on held-out approved copy.

    Arms run on the same base model, records and seed: prompt-only (brand voice, rules
    and few-shot examples from the training split), adapter (short task prompt), and
    optionally adapter+few-shot and base. Writes OUT/eval.json, eval.md (arms x metrics
    table and a verdict line) and eval.png.
    """
    from stylegen.evaluation.evaluate import EvalOptions, run_eval

    result = run_eval(EvalOptions(
        brand=brand_dir, adapter=adapter, data=data, out=out, arms=arms, limit=None if all_records else limit,
        shots=shots, seed=seed, max_attempts=max_attempts, batch_size=batch_size,
        price_per_1k_tokens=price_per_1k_tokens, voice_model=voice_model, base_model=base_model, threads=threads,
        progress=not no_progress))
    for line in result.lines():
        click.echo(line)


@cli.group()
def voice():
    """The brand-voice score: fit it, make its contrast text, score copy."""


@voice.command("contrast")
@BRAND_OPTION
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="JSONL file to write (default: voice-model.contrast.jsonl in the brand folder).")
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Approved copy (default: brand.yaml training.data).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only N approved records (held-out records first).")
@click.option("--adapter", type=click.Path(file_okay=False), default=None,
              help="Take the held-out split from this adapter's manifest.")
@click.option("--seed", type=int, default=None, help="Sampling seed (default: brand.yaml generation.seed).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Prompts per batch.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch threads.")
@_handle_errors
def voice_contrast(brand_dir, out, data, limit, adapter, seed, batch_size, threads):
    """Write the base model's outputs for the approved records' prompts (contrast text).

    Appends to OUT and skips records already there, so an interrupted run resumes.
    """
    from stylegen.generation.contrast import generate_contrast

    summary = generate_contrast(brand_dir, out=out, data=data, limit=limit, seed=seed, batch_size=batch_size,
                                adapter=adapter, threads=threads, echo=lambda m: click.echo(m, err=True))
    click.echo(f"{summary['written']} record(s) written to {summary['path']} ({summary['records']} in scope,"
               f" {summary['new_tokens']} tokens in {summary['seconds']} s)")


@voice.command("fit")
@BRAND_OPTION
@click.option("--contrast", "contrast", multiple=True, type=click.Path(exists=True),
              help="Contrast records (repeatable; default: voice-model.contrast.jsonl in the brand folder).")
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Approved copy (default: brand.yaml training.data).")
@click.option("--adapter", type=click.Path(file_okay=False), default=None,
              help="Take the held-out split from this adapter's manifest.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Model file to write (default: voice-model.json in the brand folder).")
@click.option("--max-terms", type=click.IntRange(min=10), default=4000, show_default=True,
              help="n-grams kept in the model (largest weights).")
@_handle_errors
def voice_fit(brand_dir, contrast, data, adapter, out, max_terms):
    """Fit the brand-voice score: approved copy vs contrast text, calibrated on held-out records.

    Prints the held-out ROC AUC and what each threshold of the `voice` rule passes and flags.
    """
    from stylegen.training.voice_fit import FitOptions, fit_summary, fit_voice

    model, path = fit_voice(brand_dir, contrast=list(contrast) or None, data=data, adapter=adapter, out=out,
                            options=FitOptions(max_terms=max_terms))
    click.echo(fit_summary(model, path))


@voice.command("score")
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@BRAND_OPTION
@click.option("--model", "model_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Voice model file (default: voice-model.json in the brand folder).")
@click.option("--field", "field_name", default=None, metavar="NAME",
              help="Task field that .txt/.md files are scored as (default: description).")
@_handle_errors
def voice_score(paths, brand_dir, model_path, field_name):
    """Print the brand-voice score of every field of the records in PATHS (JSONL, CSV, text, -)."""
    from stylegen.validation.voice import score_paths

    rows = score_paths(list(paths), brand_dir, model_path, field_name)
    for r in rows:
        click.echo(f"{r['where']}: {r['id'] or '-'} {r['field']}: {r['score']:.2f} ({r['words']} words)")
    if rows:
        click.echo(f"mean brand-voice score: {sum(r['score'] for r in rows) / len(rows):.2f} over {len(rows)}"
                   " field(s)")


@cli.command("review")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (keep it local).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free).")
@click.option("--reviewer", default=lambda: os.environ.get("USER") or "reviewer",
              help="Name recorded with every decision [default: $USER].")
@click.option("--approved", type=click.Path(dir_okay=False), default=None,
              help="Approved-edits file (training_data format) [default: RUN_DIR/approved-edits.jsonl].")
@click.option("--export", type=click.Path(dir_okay=False), default=None,
              help="Write the decisions as JSONL to this file and exit (no server).")
@_handle_errors
def review(run_dir, host, port, reviewer, approved, export):
    """Review what a run quarantined in the browser: approve, edit or reject, and rate the sample.

    Prints an address with a random token; every request needs it.
    """
    from stylegen.review.app import ReviewOptions, run_review

    count = run_review(ReviewOptions(run_dir, host, port, reviewer, approved, export), echo=click.echo)
    if export:
        click.echo(f"{count} decision(s) written to {export}")


@cli.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["shopify-csv", "csv", "jsonl"]), default="shopify-csv",
              show_default=True, help="Shopify product import CSV, plain CSV (id + one column a task) or JSONL.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="File to write [default: standard output].")
@_handle_errors
def export_cmd(run_dir, fmt, output):
    """Write a run's accepted copy in a shop platform's import format; rejected rows are never exported."""
    from stylegen.generation.export import export_run

    text, count = export_run(run_dir, fmt, output)
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"{count} accepted product(s) written to {output}", err=True)


@cli.command("init")
@click.argument("target", type=click.Path(file_okay=False))
@click.option("--from", "source", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Approved copy: CSV, JSONL (flat or the training format) or a Shopify product export.")
@click.option("--copy-field", "copy_fields", multiple=True, metavar="NAME",
              help="A copy column, drafted as a task (repeatable; default: description, meta_description and"
                   " bullets where present, else every column averaging 15+ words).")
@click.option("--fact-field", "fact_fields", multiple=True, metavar="NAME",
              help="A fact column (repeatable; default: every other column but the id).")
@click.option("--id-field", default="id", show_default=True, help="The record id column.")
@click.option("--name", default=None, help="The brand name (default: as the copy spells the folder's name).")
@_handle_errors
def init_cmd(target, source, copy_fields, fact_fields, id_field, name):
    """Draft a brand kit in TARGET from approved copy, then check the copy against it."""
    from stylegen.init.kit import InitOptions, init_brand

    result = init_brand(InitOptions(Path(target), Path(source), list(copy_fields), list(fact_fields), id_field, name,
                                    progress=lambda line: click.echo(line, err=True)))
    click.echo(result.summary())


def main():
    """Console-script entry point."""
    cli()
