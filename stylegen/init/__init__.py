"""``stylegen init``: a brand kit drafted from a brand's approved copy (uses validation and generation)."""
