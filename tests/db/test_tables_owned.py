"""表归属 / No capability reaches another's tables through a package's re-exports.

The import contracts (`.importlinter`) protect each capability's `models` module, but a package that
re-exports a table (`from zhifu.payments import payments`) would hand it past them. This reads every module of
`src/zhifu` and refuses a `from zhifu.<owner> import <table>` outside the owner, naming the file and line."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

from sqlalchemy import Table

import zhifu

SRC = Path(zhifu.__file__).parent


def _tables_of(package: str) -> set[str]:
    """The names under which a capability package exposes its tables."""
    mod = importlib.import_module(package)
    return {name for name, value in vars(mod).items() if isinstance(value, Table)}


def _offences() -> list[str]:
    packages = [m.name for m in pkgutil.iter_modules([str(SRC)]) if m.ispkg]
    exposed = {f"zhifu.{p}": _tables_of(f"zhifu.{p}") for p in packages if p not in ("db", "core")}
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent)
        if "migrations" in rel.parts:
            continue
        owner = "zhifu." + rel.parts[1].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in exposed and node.module != owner:
                for alias in node.names:
                    if alias.name in exposed[node.module]:
                        out.append(f"{rel}:{node.lineno}: {node.module}.{alias.name}")
    return out


def test_no_module_imports_another_capabilitys_table_through_its_package() -> None:
    assert _offences() == [], "read through the owner's read module (e.g. zhifu.payments.read) instead"


def test_the_check_sees_a_re_exported_table() -> None:
    assert {"payments", "refunds"} <= _tables_of("zhifu.payments")
    assert "merchants" in _tables_of("zhifu.merchants")
