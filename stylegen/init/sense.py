"""The sense checks and the generation defaults of a drafted kit (``stylegen init``).

A drafted kit enables the built-in ``Sense`` suite (off-topic, contradiction, identity,
unit sense, name spelling) at the levels the suite ships, then each rule is measured on
the held-out side of the kit's own training split
(:func:`stylegen.validation.calibration.approved_flag_rate`): approved copy is good copy,
so every record a rule would flag at error level is a false flag. A rule that flags more
than :data:`FALSE_FLAG_BOUND` of that copy is loosened (off-topic: a wider allowance of
unsupported words, written as the kit's own ``validators/Sense/OffTopic.yml``) and, if it
still does, set to ``warning`` in brand.yaml. brand.yaml states every figure; init prints them.

Generation: a drafted kit assembles every task from its facts first and, with no
measurement of this brand's model outputs, quarantines a field whose assembled copy fails
(``fallback: none``) instead of letting a small model write it freely.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from stylegen.generation.assemble import variants
from stylegen.kit.brand import load_brand
from stylegen.kit.prompts import parse_completion
from stylegen.validation.cadence import brand_cadences
from stylegen.validation.calibration import approved_flag_rate
from stylegen.validation.corpus import held_out_ids, load_corpus
from stylegen.validation.records import Record
from stylegen.validation.rules import load_rules
from stylegen.validation.suites import BUILTIN_DIR
from stylegen.validation.validator import Validator

SUITE = "Sense"
# A rule may flag at most this share of held-out approved copy and stay an error.
FALSE_FLAG_BOUND = 0.05
# The one loosening step of the off-topic rule: Halyard & Hem's setting for a small corpus.
LOOSER_OFFTOPIC = {"max_share": 0.2, "max_allowed": 3}
FALLBACK_NOTE = ("no measurement of this brand's model outputs yet: a field whose assembled copy fails is"
                 " quarantined for a person (fallback none). To let the model write such fields, run"
                 " `python benchmarks/bench_quality.py --brand KIT --catalog FILE --set fallback=model` and set"
                 " `fallback: model` only if its accepted copy passes the Sense checks and reads true")


MIN_HELD_OUT = 20  # held-out records below which the rates come from cross-validation
CV_FOLDS = 5


@dataclass
class SenseRule:
    """One Sense rule measured on the held-out approved copy.

    Attributes:
        id: the rule id (``Sense.OffTopic``).
        level: the level the kit ships it at.
        shipped_level: the level the built-in suite gives it.
        records: held-out approved records checked.
        flagged: of those, records the rule flags (as if it were an error).
        action: what init did: ``kept``, ``loosened`` or ``warning``.
        loosened_from: the rate before loosening (``None`` when not loosened).
    """

    id: str
    level: str
    shipped_level: str
    records: int
    flagged: int
    action: str = "kept"
    loosened_from: float | None = None
    folds: int | None = None  # None: the held-out split; k: k-fold cross-validation over every record

    @property
    def rate(self) -> float:
        """The false-flag rate on held-out approved copy."""
        return self.flagged / self.records if self.records else 0.0

    def describe(self) -> str:
        """One line for init's summary and for brand.yaml."""
        how = "" if self.folds is None else f" in {self.folds}-fold cross-validation"
        figure = f"flags {self.flagged}/{self.records} held-out approved records{how} ({self.rate:.1%})"
        if self.action == "warning":
            loosened = (f" (after loosening validators/Sense/{self.id.split('.')[1]}.yml; was {self.loosened_from:.1%})"
                        if self.loosened_from is not None else "")
            return f"{self.id}: {figure}{loosened}, over the {FALSE_FLAG_BOUND:.0%} bound: set to warning"
        if self.action == "loosened":
            return (f"{self.id}: {figure} after loosening (was {self.loosened_from:.1%}, over the"
                    f" {FALSE_FLAG_BOUND:.0%} bound): validators/Sense/{self.id.split('.')[1]}.yml")
        return f"{self.id}: {figure}, {self.level}"


def calibrate_sense(kit: Path) -> list[SenseRule]:
    """Measure every Sense rule of the kit in ``kit`` and loosen the ones over the bound.

    Writes ``validators/Sense/OffTopic.yml`` when the off-topic rule is loosened; the
    levels are for :func:`validators_yaml` to write.
    """
    measured = _measure(kit)
    over = [r for r in measured if r.rate > FALSE_FLAG_BOUND and r.shipped_level == "error"]
    if any(r.id == f"{SUITE}.OffTopic" for r in over):
        _write_looser_offtopic(kit)
        again = {r.id: r for r in _measure(kit)}[f"{SUITE}.OffTopic"]
        rule = next(r for r in measured if r.id == again.id)
        rule.loosened_from, rule.flagged, rule.action = rule.rate, again.flagged, "loosened"
    for rule in measured:
        if rule.rate > FALSE_FLAG_BOUND and rule.shipped_level == "error":
            rule.level, rule.action = "warning", "warning"
    return measured


def _measure(kit: Path) -> list[SenseRule]:
    """Each Sense rule's flags on the held-out approved copy, every rule counted as an error."""
    brand = load_brand(kit)
    rules = load_rules(brand, [SUITE], include_off=True)
    shipped = {r.id: r.level for r in rules}
    for rule in rules:
        rule.level = "error"  # a warning rule's rate says whether it could be an error
    folds = _folds(brand)
    result = approved_flag_rate(brand, rules, folds=folds)
    return [SenseRule(rid, level, level, result["records"], result["by_rule"][rid], folds=folds)
            for rid, level in shipped.items()]


def _folds(brand) -> int | None:
    """Cross-validation where the held-out split is too small to measure a 5% rate: with
    fewer than MIN_HELD_OUT held-out records one false flag would be 12% (Luma's 8)."""
    corpus = load_corpus(brand)
    held = len(corpus.held_out() & {r.id for r in corpus.with_facts()})
    return None if held >= MIN_HELD_OUT else CV_FOLDS


def _write_looser_offtopic(kit: Path) -> None:
    """The kit's own OffTopic rule: the built-in one with :data:`LOOSER_OFFTOPIC`."""
    data = yaml.safe_load((BUILTIN_DIR / SUITE / "OffTopic.yml").read_text(encoding="utf-8"))
    data.update(LOOSER_OFFTOPIC)
    folder = kit / "validators" / SUITE
    folder.mkdir(parents=True, exist_ok=True)
    header = ("# Drafted by stylegen init: the built-in Sense.OffTopic flagged more than "
              f"{FALSE_FLAG_BOUND:.0%} of the held-out\n# approved copy, so its allowance of unsupported words "
              f"is widened ({', '.join(f'{k} {v}' for k, v in LOOSER_OFFTOPIC.items())}).\n")
    (folder / "OffTopic.yml").write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def validators_yaml(rules: list[SenseRule]) -> list[str]:
    """brand.yaml's ``validators`` section: the suites, each Sense figure, the levels init set."""
    out = ["validators:", "  path: validators",
           "  # Default and Sense: the built-in rules (Sense: off-topic, contradiction, identity, unit sense,",
           "  # name spelling, learned from this kit's approved copy); Drafted: the rules drafted from the corpus.",
           "  suites: [Default, Sense, Drafted]",
           f"  # Sense calibrated by init on the held-out approved copy (bound {FALSE_FLAG_BOUND:.0%} false flags):"]
    out += [f"  #   {r.describe()}" for r in rules]
    if any(r.id == f"{SUITE}.Identity" and r.level == "warning" for r in rules):
        out.append("  # Sense.Identity ships as a warning: human copy calls a tent 'a tunnel'; it ranks candidates.")
    levels = [r for r in rules if r.level != r.shipped_level]
    if levels:
        out += ["  levels:"] + [f"    {r.id}: {r.level}  # over the bound on held-out approved copy" for r in levels]
    return out + [""]


def write_validators(kit: Path, rules: list[SenseRule]) -> None:
    """Replace brand.yaml's ``validators`` section (its last) with the calibrated one."""
    path = kit / "brand.yaml"
    text = path.read_text(encoding="utf-8")
    head = text[:text.index("\nvalidators:\n") + 1]
    path.write_text(head + "\n".join(validators_yaml(rules)), encoding="utf-8")


def generation_yaml(tasks: list[str]) -> list[str]:
    """brand.yaml's lines for ``generation.assemble`` and ``fallback`` (the safe choice), with why."""
    return ["  # Assembled first: every task is stated from the facts (docs/REAL_BRAND.md), so its copy",
            "  # says nothing the facts do not hold; a small model's free copy reads wrong (issue 22).",
            f"  assemble: [{', '.join(tasks)}]",
            *(f"  # {line}" for line in _wrapped(FALLBACK_NOTE[0].upper() + FALLBACK_NOTE[1:] + ".")),
            "  fallback: none"]


def generation_note(tasks: list[str]) -> str:
    """What init prints about the generation defaults it chose."""
    return f"generation: assemble {', '.join(tasks)} from the facts first; {FALLBACK_NOTE}"


def _wrapped(text: str, width: int = 92) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line] if line else lines


@dataclass
class AssemblyCheck:
    """How a task's assembled copy fares on the held-out approved records' facts.

    Attributes:
        task: the task.
        passed: records whose assembled text has no error-level finding.
        records: records checked.
        top_rule: the rule failing most of the others, with its first message (``""``: none).
    """

    task: str
    passed: int
    records: int
    top_rule: str = ""

    def describe(self) -> str:
        """One line for init's summary: the share that would ship, and what stops the rest."""
        line = f"assembled {self.task} passes on {self.passed}/{self.records} held-out records' facts"
        if self.passed < self.records and self.top_rule:
            advice = ("widen that bound in schema.json if the assembled copy reads right to you"
                      if self.top_rule.startswith("Default.Schema") else "a person reads them in the quarantine")
            line += f"; the rest would be quarantined, mostly by {self.top_rule} ({advice})"
        return line


def measure_assembly(kit: Path, tasks: dict[str, str]) -> list[AssemblyCheck]:
    """Validate each task's assembled texts for the held-out records' facts as the night
    does: a record passes when one of its first ``generation.candidates`` variants (in the
    kit's cadence) has no error-level finding."""
    brand = load_brand(kit)
    records = load_corpus(brand).with_facts()
    held = held_out_ids([r.id for r in records], brand.training.eval_fraction)
    facts = [r.facts for r in records if r.id in held]
    cadences = brand_cadences(brand, tasks, brand.generation.cadence)
    texts = [{t: variants(f, t, kind, brand.generation.candidates, catalog=brand.catalog, cadence=cadences[t])
              for t, kind in tasks.items()} for f in facts]
    built, owner = [], []
    for i, (f, by_task) in enumerate(zip(facts, texts)):
        for v in range(max(len(x) for x in by_task.values())):
            fields = {t: parse_completion(brand, t, x[min(v, len(x) - 1)]) for t, x in by_task.items()}
            built.append(Record(id=f"assembled-{i}-{v}", fields=fields, facts=f))
            owner.append(i)
    findings = Validator(brand).check(built)
    return [_assembly_check(task, findings, owner) for task in tasks]


def _assembly_check(task: str, findings: list, owner: list[int]) -> AssemblyCheck:
    """Count the records with a variant whose ``task`` field (or one of its items) has no
    error-level finding; the rule that stops the rest, from each one's first variant."""
    errors: dict[int, list] = {}
    for i, found in zip(owner, findings):
        errs = [f for f in found if f.level == "error" and (f.field or "").split("[")[0] == task]
        if i not in errors:
            errors[i] = errs  # the first variant's errors name what stops the record
        elif not errs:
            errors[i] = []  # a later variant passes: the night ships that one
    failing = [errs for errs in errors.values() if errs]
    rules = Counter(errs[0].rule for errs in failing)
    first = {errs[0].rule: errs[0].message for errs in failing}
    top = rules.most_common(1)[0][0] if rules else ""
    return AssemblyCheck(task, len(errors) - len(failing), len(errors), f"{top} ({first[top]})" if top else "")
