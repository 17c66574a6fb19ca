"""Thermos: the executor that runs one Aurora task's processes inside the task's sandbox."""
