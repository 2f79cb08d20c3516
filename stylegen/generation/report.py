"""The run report: ``report.json``, ``report.md`` and ``report.png``, computed from the ledger.

Because the figures come from the ledger (not from in-memory counters), a resumed run
reports on the whole run, every session together.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from stylegen.plotting import pyplot

REPORT_JSON, REPORT_MD, REPORT_PNG = "report.json", "report.md", "report.png"


def build_report(ledger, settings: dict) -> dict:
    """Every figure of the report as a JSON-ready dict.

    A multi-brand run (``settings["brands"]``, rows and attempts tagged with their brand)
    also gets ``brands``: the same figures per brand, each with that brand's settings.
    """
    rows = ledger.finished_rows()
    attempts = ledger.attempt_rows()
    report = {"settings": settings, **_figures(rows, attempts, ledger.sessions()), "ratings": rating_summary(ledger)}
    names = list(settings.get("brands") or {}) + [r.brand for r in rows if r.brand] + \
        [a["brand"] for a in attempts if a.get("brand")]
    if names:
        report["brands"] = {
            name: {"settings": (settings.get("brands") or {}).get(name, {}),
                   **_figures([r for r in rows if r.brand == name], [a for a in attempts if a.get("brand") == name])}
            for name in dict.fromkeys(names)}
    return report


def _figures(rows: list, attempts: list[dict], sessions: list[dict] | None = None) -> dict:
    """The report's figures over ``rows`` and ``attempts`` (wall time only when ``sessions``)."""
    generated = [r for r in rows if r.source == "validation"]
    accepted = sum(1 for r in rows if r.status == "accepted")
    return {
        "rows": {"finished": len(rows), "accepted": accepted, "rejected": len(rows) - accepted,
                 "rejected_input": sum(1 for r in rows if r.source == "catalog"),
                 "rejected_validation": sum(1 for r in generated if r.status == "rejected"),
                 "generated": len(generated)},
        "pass_rate": {"first_attempt": rate(sum(r.first_pass for r in generated), len(generated)),
                      "after_retries": rate(sum(r.status == "accepted" for r in generated), len(generated))},
        "attempts_histogram": _attempts_histogram(attempts),
        "rounds_histogram": _histogram(attempts, "round"),
        "fixes_by_rule": _fixes(attempts),
        "failures_by_rule": failures_by_rule(attempts),
        "rejects_by_rule": dict(Counter(rule for r in rows if r.status == "rejected"
                                        for rule in r.rules).most_common()),
        "throughput": _throughput(attempts, generated, sessions or []),
    }


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to 4 decimals; None when there is nothing to count."""
    return round(part / whole, 4) if whole else None


def _attempts_histogram(attempts: list[dict]) -> dict:
    """How many (row, task) pairs needed 1, 2, 3 ... attempts (candidates count as attempts)."""
    return _histogram(attempts, "attempt")


def _histogram(attempts: list[dict], column: str) -> dict:
    """How many (row, task) pairs reached 1, 2, 3 ... of ``column`` (attempt or round)."""
    last: dict[tuple, int] = {}
    for a in attempts:
        key = (a["row_key"], a["task"])
        last[key] = max(last.get(key, 0), a.get(column) or 1)
    counts = Counter(last.values())
    return {str(k): counts.get(k, 0) for k in range(1, max(counts, default=0) + 1)}  # empty bins too


def _fixes(attempts: list[dict]) -> dict:
    """Deterministic fixes kept per rule over every candidate (what the fixes saved)."""
    counts: Counter = Counter()
    for a in attempts:
        for fix in json.loads(a.get("fixes") or "[]"):
            counts[fix["rule"]] += 1
    return dict(counts.most_common())


def failures_by_rule(attempts: list[dict], top: int | None = None) -> dict:
    """Error-level findings per rule over every attempt (what the retries were fighting).

    Args:
        attempts: ledger attempt rows (``Ledger.attempt_rows``); ``findings`` is JSON.
        top: keep only the ``top`` most frequent rules (None: all).

    Returns:
        Rule id -> count, most frequent first.
    """
    counts: Counter = Counter()
    for a in attempts:
        counts.update(f["rule"] for f in json.loads(a["findings"]) if f.get("level") == "error")
    return dict(counts.most_common(top))


def _throughput(attempts: list[dict], generated: list, sessions: list[dict]) -> dict:
    tokens = sum(a["new_tokens"] for a in attempts)
    gen_s = sum(a["gen_seconds"] for a in attempts)
    val_s = sum(a["validate_seconds"] for a in attempts)
    wall = sum((s["ended"] or s["started"]) - s["started"] for s in sessions)
    return {"attempts": len(attempts), "new_tokens": tokens, "generate_seconds": round(gen_s, 2),
            "validate_seconds": round(val_s, 2), "wall_seconds": round(wall, 2),
            "tokens_per_second": round(tokens / gen_s, 1) if gen_s else None,
            "seconds_per_product": round(wall / len(generated), 3) if generated and wall else None}


def write_report(run_dir: Path, ledger, settings: dict) -> dict:
    """Write report.json, report.md and report.png into ``run_dir``; returns the report."""
    report = build_report(ledger, settings)
    run_dir = Path(run_dir)
    (run_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (run_dir / REPORT_MD).write_text(format_markdown(report), encoding="utf-8")
    write_chart(report, run_dir / REPORT_PNG)
    return report


def _loop(settings: dict) -> str:
    note = "a corrective note" if settings.get("feedback", True) else "fresh samples, no corrective note"
    loop = (f"{settings.get('candidates', 1)} candidate(s) per field per round, up to"
            f" {settings.get('max_attempts')} round(s), {note}")
    assembled = settings.get("assemble") or []
    if not assembled:
        return loop
    after = "then the model's rounds" if settings.get("fallback", "model") == "model" else "no model rounds after it"
    return f"copy assembled from the facts first for {', '.join(assembled)} ({after}); model: {loop}"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def format_markdown(report: dict) -> str:
    """The report as a short Markdown page (with a section per brand in a multi-brand run)."""
    rows, rates, tp = report["rows"], report["pass_rate"], report["throughput"]
    settings = report["settings"]
    brands = report.get("brands") or {}
    if brands:
        base = next((b["settings"].get("base_model") for b in brands.values() if b["settings"]), None)
        header = (f"{len(brands)} brands in one run ({', '.join(f'`{n}`' for n in brands)}), run file"
                  f" `{settings.get('runs')}`, base model `{base}`; a section per brand below.")
        loop = "each brand's own candidates and rounds, see its section"
    else:
        header = (f"Brand kit `{settings.get('brand')}`, catalog `{settings.get('catalog')}`, "
                  f"base model `{settings.get('base_model')}`, adapter `{settings.get('adapter')}`.")
        loop = _loop(settings)
    lines = [
        "# stylegen generate: run report", "", header, "",
        "| rows | accepted | rejected (input) | rejected (validation) |", "|---|---|---|---|",
        f"| {rows['finished']} | {rows['accepted']} | {rows['rejected_input']} | {rows['rejected_validation']} |", "",
        f"Pass rate of generated products: **{_pct(rates['first_attempt'])}** on the first attempt, "
        f"**{_pct(rates['after_retries'])}** after retries ({loop}; the first attempt is"
        " the first round of candidates).", "",
        "## Rounds per field", "", "| rounds | fields |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in report.get("rounds_histogram", {}).items()], "",
        "## Deterministic fixes kept, by rule", "", "| rule | fixes |", "|---|---|",
        *[f"| {rule} | {n} |" for rule, n in report.get("fixes_by_rule", {}).items()], "",
        "## Error-level findings by rule (all attempts)", "",
        "| rule | findings | rejected products |", "|---|---|---|",
        *[f"| {rule} | {n} | {report['rejects_by_rule'].get(rule, 0)} |"
          for rule, n in report["failures_by_rule"].items()],
        "", "## Throughput", "",
        f"{tp['new_tokens']} new tokens in {tp['attempts']} attempts; {tp['tokens_per_second']} tokens/s while "
        f"generating; {tp['seconds_per_product']} s per product over {tp['wall_seconds']} s of wall time "
        f"(generation {tp['generate_seconds']} s, validation {tp['validate_seconds']} s).", "",
        "Rejected products are in `rejects.jsonl` with every finding, for review; the ledger "
        "`ledger.sqlite` holds every attempt (prompt, seed, text, findings, timings).", "",
    ]
    for name, figures in brands.items():
        lines += _brand_markdown(name, figures)
    return "\n".join(lines + _ratings_markdown(report.get("ratings")))


def _brand_markdown(name: str, figures: dict) -> list[str]:
    """One brand's section of a multi-brand run's report."""
    settings, rows, rates, tp = figures["settings"], figures["rows"], figures["pass_rate"], figures["throughput"]
    sha = settings.get("adapter_sha256")
    adapter = f"`{settings.get('adapter')}` (sha256 `{sha[:12]}`)" if sha else "none (prompt-only)"
    return [
        f"## Brand `{name}`", "",
        f"Brand kit `{settings.get('brand')}`, catalog `{settings.get('catalog')}`, adapter {adapter}.", "",
        "| rows | accepted | rejected (input) | rejected (validation) |", "|---|---|---|---|",
        f"| {rows['finished']} | {rows['accepted']} | {rows['rejected_input']} | {rows['rejected_validation']} |", "",
        f"Pass rate: **{_pct(rates['first_attempt'])}** on the first attempt, **{_pct(rates['after_retries'])}**"
        f" after retries ({_loop(settings)}). {tp['new_tokens']} new tokens in {tp['attempts']} attempts"
        f" ({tp['generate_seconds']} s of generation, this brand's share of the shared batches).", "",
        "| rule | error findings (all attempts) | rejected products |", "|---|---|---|",
        *[f"| {rule} | {n} | {figures['rejects_by_rule'].get(rule, 0)} |"
          for rule, n in figures["failures_by_rule"].items()], "",
    ]


def rating_summary(ledger) -> dict:
    """The rating sheet's verdicts given in ``stylegen review``: counts per verdict and the share shipped."""
    verdicts = dict(Counter(v for (v,) in ledger.db.execute("SELECT verdict FROM review_ratings")))
    rated = sum(verdicts.values())
    return {"rated": rated, "verdicts": verdicts, "ship_rate": rate(verdicts.get("ship", 0), rated)}


def _ratings_markdown(ratings: dict | None) -> list[str]:
    if not ratings or not ratings["rated"]:
        return []
    return ["## Rating sheet (stylegen review)", "", "| verdict | products |", "|---|---|",
            *[f"| {v} | {ratings['verdicts'].get(v, 0)} |" for v in ("ship", "fix", "reject")], "",
            f"{ratings['rated']} product(s) rated; ship rate {ratings['ship_rate']:.1%}.", ""]


def write_chart(report: dict, path: Path) -> None:
    """A 2x2 PNG: pass rates, attempts histogram, failures by rule, throughput."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    rates = report["pass_rate"]
    axes[0, 0].bar(["first attempt", "after retries"],
                   [100 * (rates[k] or 0) for k in ("first_attempt", "after_retries")],
                   color=["#9bb", "#376"])
    axes[0, 0].bar_label(axes[0, 0].containers[0], fmt="%.0f%%")
    axes[0, 0].set(title="Pass rate of generated products (%)", ylim=(0, 105))
    hist = report["attempts_histogram"]
    axes[0, 1].bar(list(hist) or ["-"], list(hist.values()) or [0], color="#689")
    axes[0, 1].set(title="Attempts per task output", xlabel="attempts", ylabel="outputs")
    rules = list(report["failures_by_rule"].items())[:10][::-1]
    axes[1, 0].barh([r for r, _ in rules] or ["none"], [n for _, n in rules] or [0], color="#b65")
    axes[1, 0].set(title="Error findings by rule (all attempts)")
    axes[1, 0].tick_params(axis="y", labelsize=7)
    _throughput_panel(axes[1, 1], report["throughput"])
    fig.suptitle(f"stylegen generate: {report['rows']['finished']} rows, "
                 f"{report['rows']['accepted']} accepted, {report['rows']['rejected']} rejected")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _throughput_panel(ax, tp: dict) -> None:
    ax.axis("off")
    text = "\n".join([
        "Throughput",
        f"tokens/s while generating: {tp['tokens_per_second']}",
        f"seconds per product: {tp['seconds_per_product']}",
        f"attempts: {tp['attempts']}, new tokens: {tp['new_tokens']}",
        f"generate {tp['generate_seconds']} s, validate {tp['validate_seconds']} s",
    ])
    ax.text(0.02, 0.95, text, va="top", family="monospace", fontsize=9)
