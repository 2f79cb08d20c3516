"""Training: approved copy -> examples, the LoRA trainer, and the adapter directory format."""
