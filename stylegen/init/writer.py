"""Writing the files of a drafted brand kit (``stylegen init``), each value with its source."""
from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stylegen.init import drafts as _drafts
from stylegen.init.sense import generation_yaml, validators_yaml
from stylegen.validation.nlp import load_nlp

_SENTENCE = re.compile(r"[.!?]+(?:\s|$)")
_PROMPTS = {"description": "Write the product description for {name}.",
            "meta_description": "Write the meta description for {name}.",
            "bullets": 'Write 3 to 5 feature bullets for {name}, one per line, starting with "- ".'}
# The sample brand's measured generation defaults (README, docs/QUALITY.md).
_GENERATION = """generation:
  # The sample brand's measured defaults (stylegen README, docs/QUALITY.md): with a small
  # model, several fresh candidates per field beat corrective notes.
  temperature: 0.3
  top_p: 0.9
  repetition_penalty: 1.1
  candidates: 4      # samples per field per round; the best valid one is kept
  max_attempts: 2    # rounds per field
  feedback: false    # no "Fix: ..." note in a retry prompt
  fixes: true        # the rules' deterministic fixes run before a round is spent
  lexicon: category  # each completion uses only its facts' words and this copy's words for that category
"""
_TRAINING = """training:
  data: training_data/approved  # the approved copy, converted by init
  # The sample brand's measured setting (docs/TRAINING.md): LoRA on every linear layer.
  r: 16
  lora_alpha: 32
  target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
  # On SmolLM2-135M (30 layers) training only the upper 12 is 2-3x faster on a CPU for
  # most of the gain; with another base model list its own layers, or remove the line.
  layers_to_transform: [18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
  num_train_epochs: 2
  learning_rate: 0.0003
  on_invalid: mask         # what an error-level rule marks (an unsupported claim) carries no loss;
                           # copy failing a rule without a span (word counts) is left out, and listed
  max_excluded_share: 0.2  # ... and training stops when that is more than a fifth of it
"""

@dataclass
class KitDraft:
    """Everything ``init`` read, ready to write as a kit."""
    target: Path
    source: Path
    name: str
    tasks: dict[str, str]  # task -> text | list
    fact_fields: list[str]
    records: list[dict]
    id_field: str
    folder: Path | None = None  # where the files are written (init's staging folder); default: target
    say: Callable[[str], None] | None = None  # progress lines on large inputs

    @property
    def out(self) -> Path:
        """The folder the kit's files go to; texts inside them name ``target``."""
        return self.folder or self.target

    def texts(self, record: dict) -> list[str]:
        """The copy of one record: each text field, and each item of a list field."""
        out = []
        for task, kind in self.tasks.items():
            out += [t for t in (record[task] if kind == "list" else [record[task]]) if t]
        return out

    def write(self) -> list[str]:
        """Write the kit's files; returns notes on what was drafted, for the summary."""
        stats = {t: _stats(self.records, t, k) for t, k in self.tasks.items()}
        self._write_training_data()
        _write_schema(self.out, self.tasks, stats)
        nlp = load_nlp()
        claims_note = self._write_claims(nlp)
        voice = self._draft_voice(nlp)
        readability = _drafts.draft_readability({t: [r[t] for r in self.records if r[t]]
                                                 for t, k in self.tasks.items() if k == "text"})
        terms = _drafts.draft_terminology(self.name, self.records, self.texts)
        name = terms.name_spellings.most_common(1)[0][0] if terms.name_spellings else self.name
        _write_rules(self.out, self.source, self.tasks, stats, bool(readability))
        (self.out / "brand.yaml").write_text(self._brand_yaml(name, stats, readability, terms, voice),
                                             encoding="utf-8")
        return [claims_note, "fact roles: " + ", ".join(f"{f} {d.role}" for f, d in self.roles.items()),
                f"readability floors for {', '.join(d.task for d in readability) or 'no field'}",
                f"{len(terms.candidates)} terminology candidate(s) in brand.yaml comments",
                f"voice: {len(voice.lines())} measured trait(s) of {voice.texts} {voice.task} texts" if voice
                else "voice: a placeholder (too few texts to measure)"]

    def _draft_voice(self, nlp):
        """The voice measured on the text field with the most words (else every copy text)."""
        text_tasks = [t for t, k in self.tasks.items() if k == "text"]
        all_texts = [t for r in self.records for t in self.texts(r)]
        if text_tasks:
            task = max(text_tasks, key=lambda t: sum(len(str(r[t]).split()) for r in self.records))
            texts = [r[task] for r in self.records]
        else:
            task, texts = next(iter(self.tasks)), all_texts
        names = {w.lower() for r in self.records for key, value in r["facts"].items()
                 if key in self.roles and self.roles[key].role == "name"
                 for v in (value if isinstance(value, list) else [value]) for w in _drafts.VOICE_WORD.findall(str(v))}
        return _drafts.draft_voice(texts, all_texts, names, task, nlp)

    def _write_training_data(self) -> None:
        data_dir = self.out / "training_data" / "approved"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "approved.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records), encoding="utf-8")

    def _write_claims(self, nlp) -> str:
        phrases = _drafts.fact_phrases(nlp, self.records, {f: d.role for f, d in self.roles.items()})
        drafts = _drafts.draft_claims(phrases)
        _drafts.settle_claims(drafts, self.records, phrases, self.texts, nlp, self.say)
        active = [d for d in drafts if not d.unsupported]
        lines = [f"# Drafted by stylegen init from the facts of {self.source.name}: review before use.",
                 "# One claim per line:  kind: form | form <= supporter | supporter  (see docs/GROUNDING.md).",
                 "# A term is a noun phrase of a claimable fact (materials, features, certifications)",
                 f"# seen in {_drafts.MIN_RECORDS}+ records; copy may name it only when its facts do.", ""]
        for d in active:  # claims.txt has no inline comments: the evidence goes on the line above
            lines += [f"# in the facts of {len(d.records)} records" + _supporter_note(d), d.line()]
        held = [d for d in drafts if d.unsupported and not d.generic]
        generic = [d.form for d in drafts if d.unsupported and d.generic]
        if generic:
            lines += ["", "# Left out as everyday words: the approved copy uses them without the fact at least",
                      "# as often as the facts hold them: " + ", ".join(generic)]
        if held:
            lines += ["", "# Left out: the approved copy names these without the fact (and no fact phrase",
                      "# with the same head noun): add the facts to those records, then uncomment."]
            for d in held:
                lines += [f"# used without the fact in {_ids(d.unsupported)}:", f"# {d.line()}"]
        (self.out / "claims.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return (f"{len(active)} claim term(s) in claims.txt, {len(held)} commented out for review,"
                f" {len(generic)} everyday word(s) left out")

    def _brand_yaml(self, name: str, stats: dict, readability, terms, voice) -> str:
        out = [f"# stylegen brand check {self.target}",
               f"# stylegen validate --brand {self.target} {self.target / 'training_data' / 'approved'}",
               f"# stylegen train --brand {self.target} --out {self.target / 'adapter'}",
               f"# stylegen generate --brand {self.target} --catalog CATALOG.csv --out runs/nightly", "#",
               f"# Drafted by `stylegen init` from {self.source.name} ({len(self.records)} approved records):"
               " review every value.", f"name: {json.dumps(name)}  # {_name_source(name, terms)}",
               *_voice_yaml(voice),
               "schema: schema.json  # bounds from the corpus",
               "claims: claims.txt  # fact noun phrases seen in 2+ records, for review", ""]
        out += _terminology_yaml(name, terms) + _readability_yaml(readability) + self._tasks_yaml(stats)
        out += self._catalog_yaml()
        out += ["model:",
                "  base_model: smollm2-135m-instruct  # the embedded default; or an HF causal LM id / local dir",
                "  adapter: adapter  # where the train command above writes it", ""]
        out += [_TRAINING, _GENERATION.rstrip("\n"), *generation_yaml(list(self.tasks)), ""]
        out += validators_yaml([])  # the Sense figures are written once init has measured them
        return "\n".join(out)

    def _tasks_yaml(self, stats: dict) -> list[str]:
        out = ["tasks:"]
        for task, kind in self.tasks.items():
            prompt = _PROMPTS.get(task, f"Write the {task.replace('_', ' ')} for {{name}}.")
            if "name" not in self.fact_fields:
                prompt = prompt.replace(" for {name}", "")
            tokens = min(512, math.ceil(stats[task]["words"][1] * (stats[task].get("items", (1, 1))[1]) * 1.5) + 16)
            out += [f"  {task}:  # copy column {task!r}",
                    f"    prompt: {json.dumps(prompt + chr(10) + '{facts}')}  # a starting prompt; edit it",
                    f"    kind: {kind}  # most values {'hold several lines' if kind == 'list' else 'are one text'}",
                    f"    max_new_tokens: {tokens}  # 1.5 tokens a word at the corpus' 98th percentile of words"]
        return out + [""]

    def _catalog_yaml(self) -> list[str]:
        out = ["catalog:", f"  id: {json.dumps(self.id_field)}  # the id column of {self.source.name}",
               "  # role: what each fact is (docs/REAL_BRAND.md, fact roles); the assembler, coverage,",
               "  # grounding and the checks read roles, not column names. Drafted: review them.", "  fields:"]
        for fact in self.fact_fields:
            values = [r["facts"][fact] for r in self.records if fact in r["facts"]]
            is_list = sum(isinstance(v, list) for v in values) > len(values) / 2
            draft = self.roles[fact]
            required = ", required: true" if draft.role == "name" else ""
            out.append(f"    {fact}: {{column: {json.dumps(fact)}{', list: true' if is_list else ''}{required},"
                       f" role: {draft.role}}}  # in {len(values)} of {len(self.records)} records;"
                       f" role from {draft.source}")
        return out + [""]

    @functools.cached_property
    def roles(self) -> dict[str, "_drafts.RoleDraft"]:
        """The drafted role of every fact column."""
        return {d.column: d for d in _drafts.draft_roles(self.records, self.fact_fields)}


def _stats(records, task, kind) -> dict:
    texts = [t for r in records for t in (r[task] if kind == "list" else [r[task]]) if t]
    if not texts:
        return {"n": 0, "chars": (1, 1), "words": (1, 1), "sentences": (1, 1), "items": (0, 0)}
    words = [len(t.split()) for t in texts]
    sentences = [max(1, len(_SENTENCE.findall(t))) for t in texts]
    chars = [len(t) for t in texts]
    stats = {"n": len(texts), "chars": (min(chars), max(chars)),
             "words": (int(_drafts.percentile(words, .02)), int(_drafts.percentile(words, .98))),
             "sentences": (int(_drafts.percentile(sentences, .02)), int(_drafts.percentile(sentences, .98)))}
    if kind == "list":
        items = [len(r[task]) for r in records]
        stats["items"] = (min(items), max(items))
    return stats


def _write_schema(target: Path, tasks: dict, stats: dict) -> None:
    props = {"id": {"type": "string", "minLength": 1, "maxLength": 64}, "facts": {"type": "object"},
             "note": {"type": "string"}}
    for task, kind in tasks.items():
        low, high = stats[task]["chars"]
        text = {"type": "string", "minLength": low, "maxLength": high}
        if kind == "list":
            lo, hi = stats[task]["items"]
            props[task] = {"type": "array", "minItems": lo, "maxItems": hi, "items": text}
        else:
            props[task] = text
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$comment": "drafted by stylegen init: bounds are the approved corpus' min and max per field",
              "type": "object", "required": ["id", *tasks], "properties": props, "additionalProperties": False}
    (target / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


_GROUNDED = """# Drafted by stylegen init. Copy may not state a number or a claims.txt term that the
# row's facts do not support (docs/GROUNDING.md).
extends: grounding
description: Every number and claimable term in the copy must be supported by the row's facts.
level: error
fix: drop_sentence
message: 'Unsupported {kind} claim "{match}": {reason}. Drop "{match}".'
"""
_READABILITY = """# Drafted by stylegen init: the floors are brand.yaml `readability` (the corpus' 2nd
# percentile per field), so about 2% of the approved copy gets this warning.
extends: readability
description: Readability floors from brand.yaml, drafted from the approved copy.
level: warning
target: brand
message: "{metric} is {score} (the approved copy's floor: {min}): use shorter sentences and plainer words."
"""
_BRAND_NAME = """# Drafted by stylegen init: the brand name as brand.yaml terminology.accept spells it.
extends: substitution
description: The brand's own spellings, case-exact (brand.yaml terminology.accept).
level: error
swap: brand.accept
lemma: false
# A catalog that writes the name in another case ("luma signature sleeves") costs no retry.
fix: replace
message: "Write the name exactly as '{swap}', not '{match}'."
"""

def _write_rules(target: Path, source: Path, tasks: dict, stats: dict, readability: bool) -> None:
    import yaml

    suite = target / "validators" / "Drafted"
    suite.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        for unit in ("words", "sentences"):
            low, high = stats[task][unit]
            rule = {"extends": "occurrence", "count": unit, "min": low, "max": high, "level": "warning",
                    "fields": [task],
                    "message": f"{task}: {{count}} {unit} (the approved copy's 2nd-98th percentile: {low}-{high})"}
            header = (f"# Drafted by stylegen init: 2nd-98th percentile of {unit} per {task}"
                      f" over {stats[task]['n']} approved texts in {source.name}\n")
            (suite / f"{task.title().replace('_', '')}{unit.title()}.yml").write_text(
                header + yaml.safe_dump(rule, sort_keys=False), encoding="utf-8")
    (suite / "Grounded.yml").write_text(_GROUNDED, encoding="utf-8")
    (suite / "BrandName.yml").write_text(_BRAND_NAME, encoding="utf-8")
    if readability:
        (suite / "Readability.yml").write_text(_READABILITY, encoding="utf-8")


def _terminology_yaml(name: str, terms) -> list[str]:
    out = ["terminology:", f"  accept: [{json.dumps(name)}]  # the brand name, case-exact (rule Drafted.BrandName)"]
    others = [(s, n) for s, n in terms.name_spellings.most_common() if s != name]
    if others:
        out.append("  # the copy also spells it: " + ", ".join(f"{json.dumps(s)} ({n}x)" for s, n in others)
                   + "; list one under swap to correct it")
    out.append("  swap: {}  # term: preferred term")
    if terms.candidates:
        out.append("  # candidates: words in 3+ approved texts that no English dictionary holds; add the")
        out.append("  # brand's own terms to accept (case-exact):")
        out.append("  #   " + ", ".join(f"{w} ({n} texts)" for w, n in terms.candidates))
    return out + ["  reject: {}  # term: why the brand never uses it", ""]


def _readability_yaml(readability) -> list[str]:
    if not readability:
        return ["# readability: no field has 10+ approved texts of 40+ words to draft a floor from", ""]
    out = ["readability:"]
    for d in readability:
        out.append(f"  {d.task}: {{metric: flesch_reading_ease, min: {d.minimum},"
                   f" min_words: {_drafts.READABILITY_MIN_WORDS}}}"
                   f"  # 2nd percentile of {d.scored} approved texts (lowest {d.lowest:.1f}, median {d.median:.1f})")
    return out + [""]


def _voice_yaml(voice) -> list[str]:
    """brand.yaml ``voice``: the measured traits, or the placeholder when there were too few texts."""
    if voice is None:
        return ['voice: "Describe the brand\'s voice in a sentence or two."  # a placeholder: too few texts to measure']
    return [f"# voice: measured on {voice.texts} approved {voice.task} texts ({voice.sentences} sentences); favoured",
            f"# and never-used words by log-odds against the product copy of {voice.reference_texts} reference texts",
            "# (stylegen's two sample brands). Edit it freely: the prompt-only arm of `stylegen eval`",
            "# and larger models read it as the brand's voice; add what no figure says (tone, humour).",
            "voice: |  # measured on the approved copy, each trait with its figure",
            *(f"  {line}" for line in voice.lines())]


def _name_source(name: str, terms) -> str:
    count = terms.name_spellings.get(name, 0)
    return f"as the approved copy spells it ({count}x)" if count else "from --name or the kit folder's name"


def _supporter_note(draft) -> str:
    if not draft.supporters:
        return ""
    return "; supporters: the copy names it where the facts say " + ", ".join(
        f"'{p}' ({_ids(ids)})" for p, ids in sorted(draft.supporters.items())[:4])


def _ids(ids: set[str], limit: int = 3) -> str:
    ordered = sorted(ids)
    more = f" +{len(ordered) - limit}" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more
