"""Evaluation: the adapter against the best prompt-only baseline on held-out approved copy."""
