"""The conventions an import linter cannot see (docs/conventions.md), checked on the source.

- Routes never end a transaction: the unit of work (`dependencies/get_db.py`) commits or
  rolls back, before the response is sent.
- SQL that differs between SQLite and PostgreSQL sits behind `app/connection/`: no other module
  asks which database it runs on.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
DIALECT_NAMES = {"postgresql", "sqlite"}
# Column types adapt values per dialect in SQLAlchemy's own per-dialect hooks
# (`process_bind_param`), which receive the dialect as an argument.
DIALECT_ALLOWED = {APP / "models" / "base.py"}


def _modules(*parts: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(APP.joinpath(*parts).rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(APP.parent)}:{getattr(node, 'lineno', '?')}"


def transaction_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback", "close"}
    ]


def dialect_checks(tree: ast.AST) -> list[ast.AST]:
    """Comparisons against a dialect's name, or reads of `<something>.dialect.name`."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value in DIALECT_NAMES for o in operands):
                found.append(node)
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "name"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "dialect"
        ):
            found.append(node)
    return found


def test_routes_never_commit_roll_back_or_close_a_session() -> None:
    offenders = [
        _where(path, call) for path, tree in _modules("routes") for call in transaction_calls(tree)
    ]
    assert offenders == []


def test_only_the_database_layer_asks_which_database_it_runs_on() -> None:
    offenders = [
        _where(path, node)
        for path, tree in _modules()
        if not path.is_relative_to(APP / "connection")
        and not path.is_relative_to(APP / "alembic" / "versions")
        and path not in DIALECT_ALLOWED
        for node in dialect_checks(tree)
    ]
    assert offenders == []


def test_the_checks_find_what_they_look_for() -> None:
    """The two scans above report an empty list; make sure they would see an offender."""
    route = ast.parse("async def f(session):\n    await session.commit()\n")
    service = ast.parse(
        "def f(session):\n"
        "    if session.get_bind().dialect.name == 'postgresql':\n"
        "        pass\n"
        "    return settings_name != 'sqlite'\n"
    )
    assert len(transaction_calls(route)) == 1
    assert len(dialect_checks(service)) == 3  # the comparison, its `.dialect.name`, the other
