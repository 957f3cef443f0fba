"""The sync tests' app-with-sandbox fixtures, for the task tests that write through ACE."""

from tests.sync.conftest import env, own_env, own_sandbox

__all__ = ["env", "own_env", "own_sandbox"]
