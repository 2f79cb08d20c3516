"""Generation: catalog reading, engines, the nightly run loop, its ledger and report."""
