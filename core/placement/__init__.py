"""Placement: whether a task may go on an offered host, given where its siblings already run."""
