"""Build stylegen/init/data/voice_reference.json: word counts of reference product copy.

    python scripts/build_voice_reference.py

``stylegen init`` drafts the words a brand favours and never uses by comparing its
approved copy with this reference (log-odds, docs/REAL_BRAND.md). The reference is the
approved copy of the two sample brands (Kettle & Cairn, Halyard & Hem: every description,
meta description and bullet list), so it is offline, small and product copy, not general
English. Each word keeps the number of texts that use it, its count, and its most frequent
part of speech (spaCy), so a draft can leave nouns (the products themselves) out of the
words a brand never uses. Words seen once are left out. The output is deterministic.
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCES = [ROOT / "training_data" / "approved", ROOT / "samples" / "halyard-hem" / "training_data" / "approved"]
OUT = ROOT / "stylegen" / "init" / "data" / "voice_reference.json"
FIELDS = ("description", "meta_description", "bullets")


def reference_texts() -> list[str]:
    """Every copy field of every approved record of the sample brands (a list field joined)."""
    texts = []
    for folder in SOURCES:
        for path in sorted(folder.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                for name in FIELDS:
                    value = record.get(name)
                    text = "\n".join(value) if isinstance(value, list) else value
                    if text:
                        texts.append(text)
    return texts


def main() -> int:
    from stylegen.init.drafts import VOICE_WORD
    from stylegen.validation.nlp import parse

    texts = reference_texts()
    used_in, count, pos = Counter(), Counter(), defaultdict(Counter)
    for text, doc in zip(texts, parse(texts, level="tags")):
        words = [w.lower() for w in VOICE_WORD.findall(text)]
        count.update(words)
        used_in.update(set(words))
        for token in doc:
            pos[token.lower_][token.pos_] += 1
    words = {w: [used_in[w], n, (pos[w].most_common(1)[0][0] if pos[w] else "X")]
             for w, n in sorted(count.items()) if n >= 2}
    data = {"_comment": "built by scripts/build_voice_reference.py from the sample brands' approved copy:"
                        " word -> [texts using it, count, part of speech]",
            "texts": len(texts), "tokens": sum(count.values()), "words": words}
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(texts)} texts, {sum(count.values())} words, {len(words)} kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
