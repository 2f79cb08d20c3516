"""Training-data preparation: read, validate with the brand's rules, dedupe, split, tokenize.

Accepted inputs (a file or a folder of them, read in sorted order):

* **approved copy** (the brand format, see docs/DESIGN.md): ``{"id", "facts", <task fields>}``.
  Every task field present becomes one example, rendered by :mod:`stylegen.kit.prompts`, the
  same renderer generation uses. The copy is checked with the brand's validators first:
  an error-level finding excludes that task's example (or the whole record when the
  finding is not tied to one field), or refuses the run when ``on_invalid: refuse``.
  With ``on_invalid: mask`` a finding that marks characters of the copy (an unsupported
  claim, a banned word) masks the completion tokens over those characters out of the loss
  instead, and the rest of the text still teaches the voice; a finding without a span
  (schema, word counts, readability) still excludes, since there is nothing to mask.
* **prompt/completion** JSONL (TRL style): ``{"prompt": str | messages, "completion": str |
  messages}``. A string prompt becomes the user turn (after the brand's short system
  line); the completion is the assistant turn.
* **messages** JSONL (TRL style): ``{"messages": [...]}`` ending with an assistant turn;
  only that last turn carries loss.

The last two formats have no task field, so the brand's validators do not see them.
Duplicates are dropped (exact, and near duplicates of the same task by word 3-gram
Jaccard similarity), and the split is a hash of the record id, so adding records later
never moves an existing record to the other side.
"""
from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from stylegen.errors import DataError
from stylegen.kit import prompts
from stylegen.validation.corpus import data_files, files_sha256, held_out_ids, is_eval  # noqa: F401 (re-exported)
from stylegen.validation.records import parse_field_key, read_records, task_of
from stylegen.validation.validator import Validator


_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Example:
    """One training example: the rendered prompt and the completion that carries the loss."""

    id: str               # "<record id>/<task>" (or "<record id>" for chat formats)
    record_id: str        # what the split hashes: all tasks of a record land on one side
    task: str | None
    prompt: str
    completion: str
    source: str           # "file:line"
    masked: tuple = ()    # MaskedSpan(s) of the completion kept out of the loss (on_invalid: mask)


@dataclass(frozen=True)
class MaskedSpan:
    """Characters of a completion that carry no loss: what an error-level rule marked."""

    rule: str             # "Suite.Rule" that marked it
    start: int            # character offsets in Example.completion
    end: int
    text: str             # the characters, for the manifest


@dataclass
class PreparedData:
    """The outcome of :func:`prepare_dataset`: the split plus everything that was dropped and why."""

    train: list[Example]
    eval: list[Example]
    excluded: list[dict] = field(default_factory=list)     # failed validation / malformed
    duplicates: list[dict] = field(default_factory=list)
    too_long: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    data_sha256: str = ""

    def split_ids(self) -> dict:
        """Record ids on each side of the split (for the manifest)."""
        return {"train": sorted({e.record_id for e in self.train}), "eval": sorted({e.record_id for e in self.eval})}

    def summary(self) -> str:
        """Counts and token-length statistics, as printed before training."""
        s = self.stats
        lines = [f"data: {len(self.files)} file(s), {s['records']} record(s), {s['examples']} example(s) rendered",
                 f"  excluded {len(self.excluded)} (validation/malformed), {len(self.duplicates)} duplicate(s),"
                 f" {len(self.too_long)} over max_length",
                 f"  split: {len(self.train)} train / {len(self.eval)} eval examples"
                 f" ({len(self.split_ids()['eval'])} eval records)"]
        for part in ("prompt", "completion", "total"):
            t = s["tokens"][part]
            lines.append(f"  {part} tokens: min {t['min']}, median {t['median']}, p95 {t['p95']}, max {t['max']}")
        return "\n".join(lines + self.masked_lines() + self.excluded_lines() + [f"warning: {w}" for w in self.warnings])

    def masked_lines(self) -> list[str]:
        """How many completion tokens ``on_invalid: mask`` kept out of the loss, by rule."""
        masked = self.stats.get("masked_tokens") or {}
        if not masked.get("total"):
            return []
        rules = ", ".join(f"{rule} {n}" for rule, n in masked["by_rule"].items())
        of = sum(masked["completion_tokens"].values())
        return [f"  masked (no loss): {masked['total']} of {of} completion tokens, in {len(masked['examples'])}"
                f" example(s); by rule: {rules}"]

    def excluded_lines(self, limit: int = 50) -> list[str]:
        """Every excluded example by rule and record (approved copy is never dropped silently)."""
        if not self.excluded:
            return []
        rules = ", ".join(f"{rule} {n}" for rule, n in excluded_by_rule(self.excluded).items())
        lines = [f"  excluded by rule: {rules}"]
        for item in self.excluded[:limit]:
            what = f"{item.get('id') or ''}" + (f" [{item['task']}]" if item.get("task") else "")
            lines.append(f"    {item['source']}: {what} {'; '.join(item['reasons'])}")
        if len(self.excluded) > limit:
            lines.append(f"    ... and {len(self.excluded) - limit} more (all in the adapter manifest)")
        return lines


def load_examples(brand, files: list[Path], tokenizer, mask: bool = False) -> tuple[list[Example], list[dict], int]:
    """Read every file, validate approved copy and render examples.

    Args:
        mask: ``on_invalid: mask``: error findings with a span mask those characters out of the
            loss (:attr:`Example.masked`) instead of excluding the example.

    Returns:
        ``(examples, excluded, records)``: the rendered examples, the rows or fields left out
        (each a dict with ``source``, ``id``, ``reasons``) and the number of records read.
    """
    chat = [p for p in files if _is_chat_file(p)]
    # Approved copy of all files is validated in one batch (one spaCy pass).
    examples, excluded, records = _approved_examples(brand, [p for p in files if p not in chat], tokenizer, mask)
    for path in chat:
        ex, bad, n = _chat_examples(brand, path, tokenizer)
        examples += ex
        excluded += bad
        records += n
    return examples, excluded, records


def _is_chat_file(path: Path) -> bool:
    """True when the first row of a JSONL file is in prompt/completion or messages format."""
    if path.suffix.lower() != ".jsonl":
        return False
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(row, dict) and ("messages" in row or ("prompt" in row and "completion" in row))
    return False


def _approved_examples(brand, paths: list[Path], tokenizer, mask: bool = False):
    """Examples from files of approved copy, after the brand's validators."""

    records, input_findings = [], []
    for path in paths:
        recs, finds = read_records(path, brand)
        records += recs
        input_findings += finds
    excluded = [_exclusion(f.path, f.line, f.id, [f.message], f.field) for f in input_findings]
    usable = [r for r in records if r.id]
    problems = {id(r): _shape_problems(brand, r) for r in usable}
    for record in usable:
        if problems[id(record)]:
            excluded.append(_exclusion(record.path, record.line, record.id, problems[id(record)]))
    usable = [r for r in usable if not problems[id(r)]]
    errors = _validation_errors(brand, usable)
    examples = []
    for record in usable:
        ex, bad = _record_examples(brand, tokenizer, record, errors.get(id(record), []), mask)
        examples += ex
        excluded += bad
    rows = {(r.path, r.line) for r in records} | {(f.path, f.line) for f in input_findings}
    return examples, excluded, len(rows)


def _record_examples(brand, tokenizer, record, errors: list, mask: bool) -> tuple[list[Example], list[dict]]:
    """One record's examples (one per task field) and its exclusions, given its error findings."""
    blocked, spanned = _sort_errors(errors, brand.tasks, mask)
    if None in blocked:  # a record-level error (schema, id): none of its fields are used
        return [], [_exclusion(record.path, record.line, record.id, blocked[None])]
    examples, excluded = [], []
    for task in (t for t in brand.tasks if t in record.fields):
        rendered = prompts.render_example(tokenizer, brand, task, record.facts, record.fields[task])
        masked, unplaced = masked_spans(record.fields[task], rendered["completion"], spanned.get(task, []))
        reasons = blocked.get(task, []) + unplaced
        if reasons:
            excluded.append(_exclusion(record.path, record.line, record.id, reasons, task))
            continue
        examples.append(Example(id=f"{record.id}/{task}", record_id=record.id, task=task,
                                source=f"{record.path}:{record.line}", masked=tuple(masked), **rendered))
    return examples, excluded


def _sort_errors(errors: list, tasks, mask: bool) -> tuple[dict, dict]:
    """``(blocked, spanned)``: messages that exclude, per task (None: the whole record), and
    the findings whose span is masked instead, per task (only when ``mask``)."""
    blocked: dict = {}
    spanned: dict = {}
    for finding in errors:
        task = task_of(finding.field, tasks)
        if mask and task is not None and finding.span is not None:
            spanned.setdefault(task, []).append(finding)
        else:
            blocked.setdefault(task, []).append(_reason(finding))
    return blocked, spanned


def _reason(finding) -> str:
    return f"{finding.rule}: {finding.message}"


def masked_spans(value, completion: str, findings: list) -> tuple[list[MaskedSpan], list[str]]:
    """Place findings' spans (offsets in a field's text as written) in the rendered completion.

    A text field is the completion's text stripped; a list field's items are its lines, in
    order. Each field text is found in the completion rather than re-derived, so this holds
    whatever the renderer puts around it.

    Returns:
        ``(spans, unplaced)``: the completion spans, and a reason for each finding whose span
        could not be placed (its example is then excluded, never trained on unmasked).
    """
    starts = _field_starts(value, completion)
    spans, unplaced = [], []
    for finding in findings:
        base = starts.get(parse_field_key(finding.field)[1])
        start, end = (base + finding.span[0], base + finding.span[1]) if base is not None else (0, 0)
        text = completion[start:end]
        if base is None or not text or (finding.match is not None and text != finding.match):
            unplaced.append(f"{_reason(finding)} (its span is not in the rendered completion, nothing to mask)")
            continue
        spans.append(MaskedSpan(rule=finding.rule, start=start, end=end, text=text))
    return spans, unplaced


def _field_starts(value, completion: str) -> dict:
    """Where offset 0 of each field text falls in the completion: ``{None: pos}`` for a text
    field, ``{i: pos}`` for list item ``i``; texts not found are left out."""
    texts = {None: value} if isinstance(value, str) else dict(enumerate(value or []))
    starts, cursor = {}, 0
    for key, text in texts.items():
        text = str(text)
        stripped = text.strip()
        at = completion.find(stripped, cursor) if stripped else -1
        if at >= 0:
            starts[key] = at - (len(text) - len(text.lstrip()))
            cursor = at + len(stripped)
    return starts


def _shape_problems(brand, record) -> list[str]:
    """Why a row cannot be a training record at all (no facts, no task field)."""
    problems = []
    if not isinstance(record.facts, dict) or not record.facts:
        problems.append("missing 'facts' (an object with the product facts the prompt is built from)")
    if not any(task in record.fields for task in brand.tasks):
        extra = ", ".join(sorted(record.fields)) or "none"
        problems.append(f"no task field (expected one of: {', '.join(brand.tasks)}; found: {extra})")
    return problems


def _validation_errors(brand, records) -> dict:
    """Error-level findings per record: ``{id(record): [Finding]}``."""
    if not records:
        return {}
    errors: dict = {}
    for record, findings in zip(records, Validator(brand).check(records)):
        errors[id(record)] = [f for f in findings if f.level == "error"]
    return errors


def _chat_examples(brand, path: Path, tokenizer):
    """Examples from prompt/completion or messages JSONL (not seen by the brand's validators)."""
    examples, excluded, rows = [], [], 0
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        rows += 1
        try:
            row = json.loads(line)
            messages, answer = _chat_turns(brand, row)
        except (json.JSONDecodeError, ValueError) as exc:
            excluded.append(_exclusion(str(path), lineno, None, [str(exc)]))
            continue
        rendered = prompts.split_conversation(tokenizer, messages, answer)
        rid = str(row.get("id") or hashlib.sha256(line.encode()).hexdigest()[:16])
        examples.append(Example(id=rid, record_id=rid, task=row.get("task"), source=f"{path}:{lineno}", **rendered))
    return examples, excluded, rows


def _chat_turns(brand, row) -> tuple[list[dict], str]:
    """``(prompt messages, assistant answer)`` of a TRL-style row; ValueError names what is wrong."""
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a JSON object, got {type(row).__name__}")
    if "messages" in row:
        turns = _message_list(row["messages"], "messages")
        if not turns or turns[-1]["role"] != "assistant":
            raise ValueError("messages: the last message must have role 'assistant'")
        prompt, answer = turns[:-1], turns[-1]["content"]
    elif "prompt" in row and "completion" in row:
        prompt = row["prompt"]
        prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _message_list(prompt, "prompt")
        completion = row["completion"]
        if isinstance(completion, list):
            completion = _message_list(completion, "completion")[-1]["content"] if completion else ""
        if not isinstance(completion, str):
            raise ValueError("completion: must be a string or a list of messages")
        answer = completion
    else:
        raise ValueError(f"expected 'messages' or 'prompt' + 'completion' keys, found: {', '.join(sorted(row))}")
    if not answer.strip():
        raise ValueError("the assistant answer is empty")
    if not prompt or prompt[0]["role"] != "system":  # same short system line as the renderer
        prompt = [{"role": "system", "content": prompts.default_system(brand)}] + prompt
    return prompt, answer


def _message_list(value, key: str) -> list[dict]:
    ok = isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value)
    if not ok:
        raise ValueError(f"{key}: must be a list of {{'role': str, 'content': str}} messages")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _exclusion(path, line, rid, reasons, task=None) -> dict:
    where = f"{path}:{line}" if line else str(path)
    return {"source": where, "id": rid, "task": task, "reasons": list(reasons)}


def dedupe(examples: list[Example], threshold: float = 0.85) -> tuple[list[Example], list[dict]]:
    """Drop exact duplicates (same prompt and completion, case and spacing ignored) and near
    duplicates (same task, completion word 3-gram Jaccard >= ``threshold``); first one wins."""
    kept, dropped, seen = [], [], {}
    index: dict = {}  # (task, shingle) -> positions in kept: candidates without all-pairs work
    shingles_of: list[set] = []
    for ex in examples:
        key = (_norm(ex.prompt), _norm(ex.completion))
        if key in seen:
            dropped.append({"id": ex.id, "source": ex.source, "duplicate_of": seen[key], "kind": "exact"})
            continue
        shingles = _shingles(ex.completion)
        match = _near_match(ex.task, shingles, index, shingles_of, threshold)
        if match is not None:
            dropped.append({"id": ex.id, "source": ex.source, "duplicate_of": kept[match].id, "kind": "near"})
            continue
        seen[key] = ex.id
        for sh in shingles:
            index.setdefault((ex.task, sh), []).append(len(kept))
        kept.append(ex)
        shingles_of.append(shingles)
    return kept, dropped


def _near_match(task, shingles: set, index: dict, shingles_of: list, threshold: float) -> int | None:
    shared: dict[int, int] = {}
    for sh in shingles:
        for pos in index.get((task, sh), ()):
            shared[pos] = shared.get(pos, 0) + 1
    for pos, n in shared.items():
        union = len(shingles) + len(shingles_of[pos]) - n
        if union and n / union >= threshold:
            return pos
    return None


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _shingles(text: str) -> set:
    words = _WORD.findall(text.lower())
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


def split(examples: list[Example], eval_fraction: float) -> tuple[list[Example], list[Example]]:
    """Deterministic split by record id (:func:`stylegen.validation.corpus.held_out_ids`)."""
    held = held_out_ids([e.record_id for e in examples], eval_fraction)
    return [e for e in examples if e.record_id not in held], [e for e in examples if e.record_id in held]


def tokenize(tokenizer, example) -> dict:
    """Token ids and labels with the prompt masked (-100) and every completion token, the
    end-of-turn token included, carrying loss, except the tokens that overlap a span of
    ``example.masked`` (found by the tokenizer's offset mapping). Prompt and completion are
    tokenized apart, as generation sees them (the prompt alone, then the model's own tokens).

    Args:
        example: an :class:`Example` (or any object with ``prompt`` and ``completion``).

    Returns:
        ``input_ids``, ``labels``, ``attention_mask``, ``prompt_len`` and ``masked_tokens``
        (``{rule: tokens masked}``).
    """
    prompt_ids = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    spans = getattr(example, "masked", ())
    if spans and not getattr(tokenizer, "is_fast", False):
        raise DataError(f"{getattr(example, 'source', 'an example')}: training.on_invalid: mask needs a fast"
                        " tokenizer (its offset mapping places the masked characters); use exclude")
    encoded = tokenizer(example.completion, add_special_tokens=False, return_offsets_mapping=bool(spans))
    completion_ids = encoded["input_ids"]
    labels, counts = (_masked_labels(completion_ids, encoded["offset_mapping"], spans) if spans
                      else (list(completion_ids), {}))
    return {"input_ids": prompt_ids + completion_ids, "labels": [-100] * len(prompt_ids) + labels,
            "attention_mask": [1] * (len(prompt_ids) + len(completion_ids)), "prompt_len": len(prompt_ids),
            "masked_tokens": counts}


def _masked_labels(ids: list[int], offsets: list, spans) -> tuple[list[int], dict]:
    """Labels with every token that overlaps a span set to -100 (a token half inside a claim
    still writes part of it); each masked token is counted once, for the first rule covering it."""
    labels, counts = list(ids), {}
    for i, (start, end) in enumerate(offsets):
        rule = next((s.rule for s in spans if start < s.end and s.start < end), None)
        if rule is not None:
            labels[i] = -100
            counts[rule] = counts.get(rule, 0) + 1
    return labels, counts


def token_stats(rows: list[dict]) -> dict:
    """min/median/p95/max of prompt, completion and total token counts."""
    parts = {"prompt": [r["prompt_len"] for r in rows],
             "completion": [len(r["input_ids"]) - r["prompt_len"] for r in rows],
             "total": [len(r["input_ids"]) for r in rows]}
    return {name: _describe(values) for name, values in parts.items()}


def masked_token_stats(train: list[Example], held: list[Example], rows: dict) -> dict:
    """Masked completion tokens (``on_invalid: mask``) per rule and per side of the split, and
    the masked examples with their spans, for the manifest."""
    by_rule: dict[str, int] = {}
    sides = {"train": 0, "eval": 0}
    listed = []
    for side, examples in (("train", train), ("eval", held)):
        for ex in (e for e in examples if e.masked):
            counts = rows[ex.id]["masked_tokens"]
            for rule, n in counts.items():
                by_rule[rule] = by_rule.get(rule, 0) + n
            sides[side] += sum(counts.values())
            listed.append({"id": ex.id, "source": ex.source, "split": side, "tokens": sum(counts.values()),
                           "spans": [{"rule": s.rule, "start": s.start, "end": s.end, "text": s.text}
                                     for s in ex.masked]})
    completion = {side: sum(len(rows[e.id]["input_ids"]) - rows[e.id]["prompt_len"] for e in examples)
                  for side, examples in (("train", train), ("eval", held))}
    return {"total": sum(by_rule.values()), **sides, "completion_tokens": completion,
            "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))), "examples": listed}


def _describe(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "median": 0, "p95": 0, "max": 0, "sum": 0}
    ordered = sorted(values)
    return {"min": ordered[0], "median": statistics.median(ordered), "p95": ordered[int(0.95 * (len(ordered) - 1))],
            "max": ordered[-1], "sum": sum(ordered)}


def prepare_dataset(brand, tokenizer, data: str | Path | None = None, settings=None) -> PreparedData:
    """Everything before training: read, validate, dedupe, split, tokenize, count.

    Args:
        brand: the BrandKit (tasks, validators, training settings).
        tokenizer: the base model's tokenizer (its chat template renders the prompts).
        data: a file or folder; default ``brand.training.data``.
        settings: TrainingSettings to use instead of ``brand.training``.

    Raises:
        DataError: no usable example remains, or ``on_invalid: refuse`` and some copy failed,
            with the reasons per file:line.
    """
    settings = settings or brand.training
    files = data_files(Path(data) if data is not None else brand.resolve(settings.data))
    examples, excluded, records = load_examples(brand, files, tokenizer, mask=settings.on_invalid == "mask")
    if excluded and settings.on_invalid == "refuse":
        raise DataError(_refusal(f"{len(excluded)} approved example(s) failed validation (on_invalid: refuse)",
                                 excluded))
    _check_excluded_share(excluded, len(examples), settings.max_excluded_share)
    examples, duplicates = dedupe(examples, settings.near_duplicate_threshold)
    rows = {e.id: tokenize(tokenizer, e) for e in examples}
    too_long = [{"id": e.id, "source": e.source, "tokens": len(rows[e.id]["input_ids"])}
                for e in examples if len(rows[e.id]["input_ids"]) > settings.max_length]
    long_ids = {t["id"] for t in too_long}
    examples = [e for e in examples if e.id not in long_ids]
    if not examples:
        raise DataError(_refusal(f"no usable training examples in {', '.join(map(str, files))}"
                                 f" ({records} record(s) read)", excluded))
    train, held = split(examples, settings.eval_fraction)
    prepared = PreparedData(train=train, eval=held, excluded=excluded, duplicates=duplicates, too_long=too_long,
                            files=[str(f) for f in files], data_sha256=files_sha256(files))
    prepared.stats = {"records": records, "examples": len(examples) + len(duplicates) + len(too_long),
                      "tokens": token_stats([rows[e.id] for e in examples]),
                      "masked_tokens": masked_token_stats(train, held, rows)}
    if len(train) < settings.min_examples:
        prepared.warnings.append(f"only {len(train)} usable training examples (fewer than {settings.min_examples}):"
                                 " the adapter may learn little style; add approved copy")
    return prepared


_RULE_ID = re.compile(r"^([A-Z][\w]*\.[A-Z][\w]*): ")


def excluded_by_rule(excluded: list[dict]) -> dict[str, int]:
    """How many excluded examples each rule caused (``Stylegen.Input`` for malformed rows), most first."""
    counts: dict[str, int] = {}
    for item in excluded:
        rules = {m.group(1) for m in map(_RULE_ID.match, item["reasons"]) if m} or {"Stylegen.Input"}
        for rule in rules:
            counts[rule] = counts.get(rule, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _check_excluded_share(excluded: list[dict], kept: int, limit: float) -> None:
    """Stop when the validators would leave out more than ``limit`` of the approved examples."""
    total = kept + len(excluded)
    if not kept or len(excluded) / total <= limit:
        return  # nothing kept at all: the "no usable training examples" refusal says more
    by_rule = ", ".join(f"{rule} {n}" for rule, n in excluded_by_rule(excluded).items())
    raise DataError(_refusal(
        f"the brand's validators would exclude {len(excluded)} of {total} approved examples"
        f" ({len(excluded) / total:.0%}, over training.max_excluded_share {limit:g}); the rules that do it:"
        f" {by_rule}. Fix those rules (or the copy), or raise the limit", excluded))


def _refusal(headline: str, excluded: list[dict], limit: int = 20) -> str:
    lines = [headline]
    for item in excluded[:limit]:
        what = f" {item['id']}" if item.get("id") else ""
        what += f" [{item['task']}]" if item.get("task") else ""
        lines.append(f"{item['source']}:{what} {'; '.join(item['reasons'])}")
    if len(excluded) > limit:
        lines.append(f"... and {len(excluded) - limit} more")
    return "\n".join(lines)


def example_dict(example: Example) -> dict:
    """An Example as a plain dict (for JSONL dumps and tests)."""
    return asdict(example)
