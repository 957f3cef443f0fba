"""An emulator of the AceProject web API for development, tests and benchmarks.

Public entry points: ``create_app`` (ASGI app), ``generate`` / ``DatasetSize`` (data),
``Faults`` (fault switches), ``ace_sandbox.testing.SandboxServer`` (a loopback server for
tests) and ``ace_sandbox.server.run`` (standalone server). See README.md.
"""

from ace_sandbox.app import SandboxApp, SandboxConfig, create_app
from ace_sandbox.data import DEMO_PASSWORD, DatasetSize, generate
from ace_sandbox.faults import Faults
from ace_sandbox.store import Account, Store

__all__ = [
    "DEMO_PASSWORD",
    "Account",
    "DatasetSize",
    "Faults",
    "SandboxApp",
    "SandboxConfig",
    "Store",
    "create_app",
    "generate",
]
