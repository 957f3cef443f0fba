"""The sync tests' environments: the app over each database, talking to a sandbox."""

from tests.sync.conftest import env, own_env, own_sandbox  # noqa: F401  (fixtures)
