"""The claim vocabulary of grounding: ``claims.txt`` parsed into :class:`ClaimTerm` objects.

A line is ``kind: form | form <= supporter | supporter``: the forms are spellings of the
claim (any of them in the copy is the claim), the supporters further fact phrases that also
support it. Every problem is reported at once with its file and line (ConfigError).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from stylegen.errors import ConfigError

TERM_KINDS = ("material", "technology", "feature", "certification", "guarantee", "term")
KINDS = ("number",) + TERM_KINDS


@dataclass(frozen=True)
class ClaimTerm:
    """One entry of the claim vocabulary.

    Attributes:
        kind: one of :data:`TERM_KINDS`.
        forms: spellings of the claim; any of them in the copy is the claim.
        supported_by: further fact phrases that also support it (``waterproof`` supports
            ``water-resistant``).
    """

    kind: str
    forms: tuple[str, ...]
    supported_by: tuple[str, ...] = ()


# --- the claim vocabulary -------------------------------------------------------------


def parse_claim_terms(lines: list[str], source: str = "claims") -> list[ClaimTerm]:
    """Parse claim-vocabulary lines: ``kind: form | form <= supporter | supporter``.

    Blank lines and ``#`` comments are skipped; a line without ``kind:`` is kind ``term``.

    Raises:
        ConfigError: every malformed line, each as ``source:line: what is wrong``.
    """
    terms, problems = [], []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        term, problem = _parse_term_line(line)
        if problem:
            problems.append(f"{source}:{lineno}: {problem}")
        else:
            terms.append(term)
    if problems:
        raise ConfigError(problems)
    return terms


def _parse_term_line(line: str) -> tuple[ClaimTerm | None, str | None]:
    kind, sep, rest = line.partition(":")
    if not sep or " " in kind.strip():
        kind, rest = "term", line  # a bare term; a colon inside a phrase is not a kind
    kind = kind.strip().lower()
    if kind not in TERM_KINDS:
        return None, f"unknown claim kind {kind!r} (valid: {', '.join(TERM_KINDS)})"
    claim, _, support = rest.partition("<=")
    forms = tuple(f.strip() for f in claim.split("|") if f.strip())
    supported_by = tuple(f.strip() for f in support.split("|") if f.strip())
    if not forms and "<=" not in rest:
        return None, f"kind {kind!r} with no claim term after it (write '{kind}: TERM' or '{kind}: TERM <= SUPPORT')"
    if not forms:
        return None, "no claim term before '<='"
    return ClaimTerm(kind, forms, supported_by), None


def load_claim_terms(path: str | Path) -> tuple[ClaimTerm, ...]:
    """Read and parse a claim-vocabulary file (cached per path while the file is unchanged).

    Raises:
        ConfigError: when the file cannot be read or has malformed lines.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read claim vocabulary: {exc.__class__.__name__}") from exc
    return _load_claim_terms(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _load_claim_terms(path: Path, mtime_ns: int, size: int) -> tuple[ClaimTerm, ...]:
    """:func:`load_claim_terms` for one version of the file (the stat fields key the cache:
    an edited claims.txt is read again, in a long-lived process or a test)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read claim vocabulary: {exc.__class__.__name__}") from exc
    return tuple(parse_claim_terms(lines, str(path)))


def brand_claim_terms(brand) -> tuple[ClaimTerm, ...]:
    """The brand kit's claim vocabulary (``claims:`` in brand.yaml), parsed (cached per file).

    Raises:
        ConfigError: the file cannot be read or has malformed lines.
    """
    return load_claim_terms(brand.resolve(brand.claims)) if brand.claims else ()


def as_claim_terms(claim_terms) -> tuple[ClaimTerm, ...]:
    """The vocabulary as a tuple, checked to be parsed :class:`ClaimTerm` objects.

    Raises:
        TypeError: an item is not a ClaimTerm (e.g. a raw claims.txt line: parse the file
            with :func:`load_claim_terms`, which reports malformed lines with file:line).
    """
    items = tuple(claim_terms or ())
    bad = next((t for t in items if not isinstance(t, ClaimTerm)), None)
    if bad is not None:
        raise TypeError(f"claim_terms must be ClaimTerm objects (from load_claim_terms), not {bad!r}")
    return items
