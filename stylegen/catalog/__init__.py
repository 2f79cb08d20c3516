"""The catalog: product rows read from CSV, JSONL or a platform export, mapped by the brand kit."""
