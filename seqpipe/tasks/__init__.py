"""Tasks: what a pipeline learns. Each task is one package that declares itself with ``register_task``.

Importing this package registers the built-in tasks and their stages without importing
TensorFlow; see :class:`seqpipe.tasks.base.Task` for the contract.
"""

from seqpipe.tasks import captioning, classification, language_model, regression, tagging, translation  # noqa: E402,F401,E501  (registers them)
from seqpipe.tasks.base import TASKS, Task, get_task, register_task

__all__ = ["TASKS", "Task", "get_task", "register_task"]
