"""Stages, the run context that carries artifacts between them, and the runner."""
