"""Validation: records, findings, rules as data, check types, NLP helpers, grounding, voice scoring."""
