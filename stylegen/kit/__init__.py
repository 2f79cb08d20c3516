"""The brand kit: brand.yaml and its strict loading, and the task prompts it defines."""
