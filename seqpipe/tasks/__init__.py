"""Task-specific model helpers (inputs, predictions, serving signatures)."""
