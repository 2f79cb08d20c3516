"""Run validator suites over records, batched, and the ``stylegen validate`` job.

:class:`Validator` is what train, generate and validate share: it loads the brand's rules
once, and :meth:`Validator.check` runs them over a list of records: every rule says how
much spaCy annotation each text needs (tokens, tags or a parse; cheap prefilters keep the
tagger and parser off texts that cannot match), and one batched ``nlp.pipe`` pass per
level annotates those texts (identical texts once). Each rule sees the shared Doc; no
rule calls ``nlp()`` itself. See docs/VALIDATORS.md.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from stylegen.errors import ConfigError
from stylegen.kit.brand import load_brand
from stylegen.validation.checks import ANNOTATIONS, Check, Target
from stylegen.validation.findings import at_or_above, Finding, FORMATTERS, LEVELS
from stylegen.validation import nlp
from stylegen.validation.records import field_texts, read_records, Record, skipped_rows
from stylegen.validation.normalize import confusable_findings, invisible_findings, normalize_record
from stylegen.validation.patterns import PatternTimeout, TIMEOUT_RULE
from stylegen.validation.rules import load_rules


CHUNK = 2000  # records per Validator.check call in validate_paths (bounds Doc memory)
PARALLEL_CHUNK = 500  # records per task when checking in worker processes
WARM_UP = 20  # records checked in the parent before forking (loads spaCy, builds matchers)
_WORKER: "Validator | None" = None  # the validator a forked worker inherits


class Validator:
    """The brand's rules, ready to check records.

    Args:
        brand: the loaded BrandKit.
        suites: suite names to use instead of the brand's ``validators.suites``.

    Raises:
        ConfigError: a rule file or level override is wrong (all problems at once).
    """

    def __init__(self, brand, suites: list[str] | None = None):
        self.brand = brand
        self.rules = load_rules(brand, suites)
        # per task field: the rules that may want a spaCy Doc of its texts
        self._doc_rules = {name: [r for r in self.rules if r.applies_to(name) and _may_need_doc(r.check)]
                           for name in brand.tasks}

    def check(self, records: list[Record]) -> list[list[Finding]]:
        """Findings per record, in the order of ``records``.

        Batched: one spaCy ``nlp.pipe`` pass per annotation level over all field texts
        that need a Doc (identical texts are processed once).
        """
        records = [normalize_record(rec) for rec in records]  # rules see NFKC text without invisibles
        docs = self._docs(records)
        return [self._check_record(rec, docs) for rec in records]

    def check_parallel(self, records: list[Record], jobs: int) -> list[list[Finding]]:
        """Like :meth:`check`, spread over ``jobs`` forked worker processes.

        A few records are checked here first, which loads the pipeline and builds every
        matcher; the workers are forked after that and share them copy-on-write, so only
        records and findings cross process boundaries. Call it from a process that has
        not started torch threads (the CLI's validate path), since forking those can hang.
        """
        if jobs <= 1 or len(records) < 4 * PARALLEL_CHUNK:
            return [per for i in range(0, len(records), CHUNK) for per in self.check(records[i:i + CHUNK])]
        import multiprocessing

        global _WORKER
        _WORKER = self
        first = self.check(records[:WARM_UP])
        rest = records[WARM_UP:]
        chunks = [rest[i:i + PARALLEL_CHUNK] for i in range(0, len(rest), PARALLEL_CHUNK)]
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            parts = pool.map(_check_in_worker, chunks, chunksize=1)
        return first + [per for part in parts for per in part]

    def _docs(self, records: list[Record]) -> dict[str, object]:
        """spaCy Docs by text: one batched pass per annotation level that some text needs.

        Each rule says, per text, how much annotation it needs (``Check.needs_for``);
        a text gets the most any rule asks for, and most texts need only the tokenizer,
        so the tagger and parser run on the few texts that can match a rule needing them.
        """

        rank = {level: i for i, level in enumerate(ANNOTATIONS)}
        need: dict[str, int] = {}
        for rec in records:
            for _, name, text in field_texts(rec):
                for rule in self._doc_rules.get(name, ()):
                    level = rule.check.needs_for(text)
                    if level is not None and rank[level] > need.get(text, -1):
                        need[text] = rank[level]
        docs: dict[str, object] = {}
        for i, level in enumerate(ANNOTATIONS):
            texts = [t for t, r in need.items() if r == i]
            if texts:
                docs.update(zip(texts, nlp.parse(texts, level=level)))
        return docs

    def _check_record(self, record: Record, docs: dict) -> list[Finding]:
        findings: list[Finding] = []
        texts = list(field_texts(record))
        for rule in self.rules:
            for target in _targets(rule, record, texts, docs, self.brand):
                try:
                    for hit in rule.check.check(target):
                        findings.append(_finding(rule, hit, target, record))
                except PatternTimeout as exc:  # a finding, never a hang: the other rules still run
                    findings.append(_timeout_finding(rule, target, record, exc))
        if record.offsets:
            original = replace(record, fields=record.original)
            texts_as_written = list(field_texts(original))
            findings += invisible_findings(record, texts_as_written) + confusable_findings(record, texts_as_written)
        if record.note:
            findings = [_waive(f, record.note) for f in findings]
        order = {key: i for i, (key, _, _) in enumerate(texts)}
        if record.positions:  # text files: real positions
            findings.sort(key=lambda f: (f.line or 0, f.col or 0))
        else:  # records: field by field, then by offset inside the field
            findings.sort(key=lambda f: (order.get(f.field, -1), f.col or 0))
        return findings


def _may_need_doc(check) -> bool:
    return getattr(check, "scope", "text") == "text" and (
        check.needs_doc or check.needs_parser or type(check).needs_for is not _base_needs_for())


def _base_needs_for():
    return Check.needs_for


def _targets(rule, record: Record, texts: list, docs: dict, brand):
    """What a rule looks at in a record, by its check's scope."""
    scope = getattr(rule.check, "scope", "text")
    if scope == "record":
        yield Target(record=record, brand=brand)
    elif scope == "field":
        for name, value in record.fields.items():
            if name in brand.tasks and rule.applies_to(name):
                yield Target(record=record, brand=brand, key=name, name=name, value=value,
                             text=value if isinstance(value, str) else None)
    else:
        for key, name, text in texts:
            if name in brand.tasks and rule.applies_to(name):
                yield Target(record=record, brand=brand, key=key, name=name, text=text, value=text,
                             doc=docs.get(text))


_NOTE_WORD = re.compile(r"[A-Za-z][\w]*\.[A-Za-z][\w]*")


def _waive(finding: Finding, note: str) -> Finding:
    """A record's ``note`` that names a rule id waives that rule for the record: the
    finding stays in the report, as a suggestion that says so (documented exceptions)."""
    if finding.rule not in _NOTE_WORD.findall(note):
        return finding
    return replace(finding, level="suggestion", message=f"{finding.message} (waived by the record's note)")


class _Keep(dict):
    """format_map helper: unknown placeholders stay as written."""

    def __missing__(self, key):
        return "{" + key + "}"


def format_message(template: str, values: dict) -> str:
    """Fill ``{name}`` placeholders that are known; leave the others as written."""
    try:
        return string.Formatter().vformat(template, (), _Keep(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


def _finding(rule, hit, target: Target, record: Record) -> Finding:
    key = hit.key or target.key
    text = target.text if hit.key is None else None
    spanned = text is not None and hit.start is not None and hit.end is not None
    match = text[hit.start:hit.end] if spanned else None
    values = {"match": match or "", "field": key or "", **hit.values}
    message = format_message(rule.message, values)
    start, end = hit.start, hit.end
    mapping = (record.offsets or {}).get(key) if text is not None else None
    if mapping is not None:  # normalised text: report positions in the text as written
        start = mapping[min(start, len(mapping) - 1)] if start is not None else None
        end = mapping[min(end, len(mapping) - 1)] if end is not None else None
        text = _original_text(record, key)
        if spanned and start is not None and end is not None:
            match = text[start:end]  # the match as written ("¾-inch"), not as normalised
    line, col = record.line, None
    if text is not None and start is not None:
        line, col = record.locate(key, start, text)
    span = (start, end) if spanned else None
    return Finding(rule=rule.id, level=rule.level, message=message, path=record.path, line=line, col=col,
                   id=record.id, field=key, span=span, match=match)


def _original_text(record: Record, key: str) -> str:
    """The as-written text of field ``key`` (``name`` or ``name[i]``) of a normalised record."""
    name, _, index = key.partition("[")
    value = record.original[name]
    return value[int(index[:-1])] if index else value


def _timeout_finding(rule, target: Target, record: Record, exc: PatternTimeout) -> Finding:
    key = target.key
    return Finding(rule=TIMEOUT_RULE, level="error", path=record.path, line=record.line, id=record.id, field=key,
                   message=f"rule {rule.id} ({rule.file}) ran past its {exc.limit:g} s time limit on "
                           f"{key or 'this record'}; the field was not checked by it")


@dataclass
class ValidationReport:
    """What ``stylegen validate`` found: findings in input order, and what was checked."""

    findings: list[Finding]
    records: int
    rules: dict = field(default_factory=dict)  # rule id -> description (for SARIF)
    skipped: list[str] = field(default_factory=list)  # "path:line" of input rows that could not be read

    def render(self, fmt: str = "text") -> str:
        """The report as ``text``, ``json`` or ``sarif``."""
        if fmt == "sarif":
            return FORMATTERS[fmt](self.findings, self.records, rules=self.rules)
        return FORMATTERS[fmt](self.findings, self.records, skipped=self.skipped)

    def exit_code(self, fail_level: str = "error") -> int:
        """0 when no finding reaches ``fail_level``, else 1."""
        return 1 if at_or_above(self.findings, fail_level) else 0


def _check_in_worker(records: list[Record]) -> list[list[Finding]]:
    return _WORKER.check(records)


def validate_paths(paths: list[str], brand_dir: str | Path = "brand", suites: list[str] | None = None,
                   field_name: str | None = None, jobs: int = 1) -> ValidationReport:
    """Validate copy in files, folders or ``-`` (stdin) against the brand's suites.

    Args:
        paths: inputs (JSONL, CSV, .txt, .md, folders of them, ``-``).
        brand_dir: the brand kit folder.
        suites: suite names instead of the brand's ``validators.suites``.
        field_name: the field .txt/.md texts are checked as (default ``description``).
        jobs: worker processes for large inputs (1: check in this process).

    Raises:
        ConfigError: the brand kit or a rule is wrong.
        DataError: an input path cannot be read.
    """

    brand = load_brand(brand_dir)
    if field_name is not None and field_name not in brand.tasks:
        raise ConfigError(f"--field: unknown field {field_name!r} (valid: {', '.join(brand.tasks)})")
    validator = Validator(brand, suites)
    findings, count, skipped = [], 0, []
    for path in paths:
        records, input_findings = read_records(path, brand, field_name)
        count += len(records)
        skipped += skipped_rows(records, input_findings)
        found = list(input_findings)
        for per_record in validator.check_parallel(records, jobs):
            found.extend(per_record)
        # stable sort (files of a folder are read in sorted order): a record keeps its own order
        found.sort(key=lambda f: (f.path or "", f.line or 0))
        findings.extend(found)
    return ValidationReport(findings, count, {r.id: r.description or r.message for r in validator.rules}, skipped)



__all__ = ["Validator", "ValidationReport", "validate_paths", "format_message", "LEVELS"]
