"""Findings: what a validator rule reports, and how findings are written out.

A :class:`Finding` names the rule (``Suite.Rule``), its level, a message and where the
problem is: a file position (``path``, ``line``, ``col``) and/or a record position
(``id``, ``field``). The formatters turn a list of findings into the three output formats
of ``stylegen validate``: ``text`` (one line per finding plus a summary), ``json`` and
``sarif`` (SARIF 2.1.0, for code-scanning UIs).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass

LEVELS = ("suggestion", "warning", "error")  # ascending severity
INPUT_RULE = "Stylegen.Input"  # malformed input records
_SARIF_LEVELS = {"suggestion": "note", "warning": "warning", "error": "error"}
_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass
class Finding:
    """One problem found by one rule in one place."""

    rule: str
    level: str
    message: str
    path: str | None = None
    line: int | None = None
    col: int | None = None
    id: str | None = None
    field: str | None = None
    span: tuple[int, int] | None = None
    match: str | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict without the empty keys."""
        data = asdict(self)
        if self.span is not None:
            data["span"] = list(self.span)
        return {k: v for k, v in data.items() if v is not None}

    def where(self) -> str:
        """``path:line:col`` when known, else ``id/field`` (for records from memory)."""
        if self.path is not None:
            parts = [self.path] + [str(v) for v in (self.line, self.col) if v is not None]
            return ":".join(parts)
        return "/".join(v for v in (self.id, self.field) if v) or "<record>"


def level_rank(level: str) -> int:
    """Severity as an integer: suggestion 0 < warning 1 < error 2."""
    return LEVELS.index(level)


def at_or_above(findings: list[Finding], level: str) -> list[Finding]:
    """The findings whose level is ``level`` or more severe."""
    rank = level_rank(level)
    return [f for f in findings if level_rank(f.level) >= rank]


def summarize(findings: list[Finding], records: int | None = None, top: int = 5,
              skipped: list[str] | None = None) -> dict:
    """Counts per level, the most frequent failing rules and the input rows skipped (``path:line``)."""
    levels = Counter(f.level for f in findings)
    rules = sorted(Counter(f.rule for f in findings).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    summary = {"findings": len(findings), "levels": {lv: levels.get(lv, 0) for lv in reversed(LEVELS)},
               "top_rules": [{"rule": r, "count": n} for r, n in rules]}
    if records is not None:
        summary["records"] = records
    if skipped:
        summary["skipped"] = list(skipped)
    return summary


def format_text(findings: list[Finding], records: int | None = None, skipped: list[str] | None = None) -> str:
    """One line per finding (``path:line:col: Suite.Rule [level] message``) and a summary.

    ``skipped`` names the input rows that could not be read at all (``path:line``); the
    summary counts them, so "N findings in M records" never hides a row that was not checked.
    """
    lines = [printable(f"{f.where()}: {f.rule} [{f.level}] {_with_field(f)}") for f in findings]
    summary = summarize(findings, records)
    counts = ", ".join(f"{n} {lv}{'s' if n != 1 else ''}" for lv, n in summary["levels"].items())
    checked = f" in {records} record{'s' if records != 1 else ''}" if records is not None else ""
    lines.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}{checked}: {counts}")
    if summary["top_rules"]:
        lines.append("most frequent: " + ", ".join(f"{t['rule']} ({t['count']})" for t in summary["top_rules"]))
    if skipped:
        shown = ", ".join(skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else "")
        lines.append(f"{len(skipped)} input row{'s' if len(skipped) != 1 else ''} skipped (unreadable, not "
                     f"checked): {shown}")
    return "\n".join(lines) + "\n"


def printable(text: str) -> str:
    """``text`` with control characters (NUL, ESC, newlines...) written as escapes.

    Ids and matches come from the input; printed raw, a NUL or an escape sequence would
    reach the terminal (which may act on it) and a newline would break one line per finding.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _with_field(f: Finding) -> str:
    # For records the field (and id) tells the reader where inside the line to look.
    if f.field is None:
        return f.message
    prefix = f"{f.id} " if f.id and f.path is not None else ""
    return f"{f.message} ({prefix}{f.field})" if f.path is not None else f.message


def format_json(findings: list[Finding], records: int | None = None, skipped: list[str] | None = None) -> str:
    """``{"findings": [...], "summary": {...}}`` with every finding's rule, level, message, place."""
    doc = {"findings": [f.to_dict() for f in findings], "summary": summarize(findings, records, skipped=skipped)}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def format_sarif(findings: list[Finding], records: int | None = None,
                 rules: dict[str, str] | None = None) -> str:
    """A SARIF 2.1.0 log with one run; ``rules`` maps rule id -> short description."""
    rule_ids = sorted({f.rule for f in findings} | set(rules or {}))
    descriptors = [{"id": r, "shortDescription": {"text": (rules or {}).get(r) or r}} for r in rule_ids]
    index = {r: i for i, r in enumerate(rule_ids)}
    results = [_sarif_result(f, index[f.rule]) for f in findings]
    run = {"tool": {"driver": {"name": "stylegen", "informationUri": "https://example.invalid/stylegen",
                               "rules": descriptors}},
           "results": results}
    log = {"$schema": _SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _sarif_result(f: Finding, rule_index: int) -> dict:
    result = {"ruleId": f.rule, "ruleIndex": rule_index, "level": _SARIF_LEVELS[f.level],
              "message": {"text": f.message}}
    if f.path is not None and f.path != "-":
        region = {k: v for k, v in (("startLine", f.line), ("startColumn", f.col)) if v is not None}
        location = {"physicalLocation": {"artifactLocation": {"uri": f.path.replace("\\", "/")}}}
        if region:
            location["physicalLocation"]["region"] = region
        result["locations"] = [location]
    props = {k: v for k, v in (("id", f.id), ("field", f.field), ("match", f.match)) if v is not None}
    if props:
        result["properties"] = props
    return result


FORMATTERS = {"text": format_text, "json": format_json, "sarif": format_sarif}
