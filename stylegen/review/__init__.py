"""The review app: a queue over a run's ledger to approve, edit or reject quarantined copy."""
