"""The embedded-cluster fixtures of tests/core, for the security tests."""

from tests.core.conftest import cluster, make_cluster

__all__ = ["cluster", "make_cluster"]
