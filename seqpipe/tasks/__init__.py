"""Task-specific model helpers (inputs, predictions, serving signatures).

``ROLES`` names the columns each task reads from its data (``data.source.columns`` maps
them to a file's columns); the first role is the model's raw-text input.
"""

ROLES = {
    "classification": ("text", "label"),
    "translation": ("source", "target"),
    "language_model": ("text",),  # data.split.group_by names an extra column to split by
    "tagging": ("tokens", "tags"),  # whitespace-separated tokens and as many tags
}
