"""Training-data preparation: read, validate with the brand's rules, dedupe, split, tokenize.

Accepted inputs (a file or a folder of them, read in sorted order):

* **approved copy** (the brand format, see docs/DESIGN.md): ``{"id", "facts", <task fields>}``.
  Every task field present becomes one example, rendered by :mod:`stylegen.kit.prompts`, the
  same renderer generation uses. The copy is checked with the brand's validators first:
  an error-level finding excludes that task's example (or the whole record when the
  finding is not tied to one field), or refuses the run when ``on_invalid: refuse``.
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
from stylegen.validation.records import read_records, task_of
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
        return "\n".join(lines + self.excluded_lines() + [f"warning: {w}" for w in self.warnings])

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


def load_examples(brand, files: list[Path], tokenizer) -> tuple[list[Example], list[dict], int]:
    """Read every file, validate approved copy and render examples.

    Returns:
        ``(examples, excluded, records)``: the rendered examples, the rows or fields left out
        (each a dict with ``source``, ``id``, ``reasons``) and the number of records read.
    """
    chat = [p for p in files if _is_chat_file(p)]
    # Approved copy of all files is validated in one batch (one spaCy pass).
    examples, excluded, records = _approved_examples(brand, [p for p in files if p not in chat], tokenizer)
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


def _approved_examples(brand, paths: list[Path], tokenizer):
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
    blocked = _validation_errors(brand, usable)
    examples = []
    for record in usable:
        bad = blocked.get(id(record), {})
        if None in bad:  # a record-level error (schema, id): none of its fields are used
            excluded.append(_exclusion(record.path, record.line, record.id, bad[None]))
            continue
        for task in brand.tasks:
            if task not in record.fields:
                continue
            if task in bad:
                excluded.append(_exclusion(record.path, record.line, record.id, bad[task], task))
                continue
            rendered = prompts.render_example(tokenizer, brand, task, record.facts, record.fields[task])
            examples.append(Example(id=f"{record.id}/{task}", record_id=record.id, task=task,
                                    source=f"{record.path}:{record.line}", **rendered))
    rows = {(r.path, r.line) for r in records} | {(f.path, f.line) for f in input_findings}
    return examples, excluded, len(rows)


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
    """Error-level findings per record: ``{id(record): {task or None: [messages]}}``."""
    if not records:
        return {}

    blocked: dict = {}
    for record, findings in zip(records, Validator(brand).check(records)):
        for finding in findings:
            if finding.level != "error":
                continue
            task = task_of(finding.field, brand.tasks)
            blocked.setdefault(id(record), {}).setdefault(task, []).append(f"{finding.rule}: {finding.message}")
    return blocked


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


def tokenize(tokenizer, example: Example) -> dict:
    """Token ids and labels with the prompt masked (-100) and every completion token, the
    end-of-turn token included, carrying loss. Prompt and completion are tokenized apart,
    as generation sees them (the prompt alone, then the model's own tokens)."""
    prompt_ids = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(example.completion, add_special_tokens=False)["input_ids"]
    return {"input_ids": prompt_ids + completion_ids, "labels": [-100] * len(prompt_ids) + completion_ids,
            "attention_mask": [1] * (len(prompt_ids) + len(completion_ids)), "prompt_len": len(prompt_ids)}


def token_stats(rows: list[dict]) -> dict:
    """min/median/p95/max of prompt, completion and total token counts."""
    parts = {"prompt": [r["prompt_len"] for r in rows],
             "completion": [len(r["input_ids"]) - r["prompt_len"] for r in rows],
             "total": [len(r["input_ids"]) for r in rows]}
    return {name: _describe(values) for name, values in parts.items()}


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
    examples, excluded, records = load_examples(brand, files, tokenizer)
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
                      "tokens": token_stats([rows[e.id] for e in examples])}
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
