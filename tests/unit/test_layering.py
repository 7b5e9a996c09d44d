"""The house rules of the layout: data flows one way and rules stay pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "rules": {"gateway", "drivers", "simulators", "asyncio", "time", "socket", "sqlite3",
              "os", "subprocess", "datetime.datetime.now"},
    "drivers": {"gateway", "rules", "simulators"},
    "simulators": {"gateway", "rules"},
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        hit = imports(path) & FORBIDDEN[package]
        if hit:
            bad.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(hit))}")
    assert not bad, "\n".join(bad)


def test_desk_needs_no_gateway_runtime() -> None:
    """The desk runs centrally, beside the broker: nothing of a gateway's runtime or the demo
    (and so no simulators, no Modbus) may come in with it."""
    bad = []
    for path in sorted((ROOT / "gateway" / "desk").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                if name.startswith(("gateway.runtime", "gateway.demo", "simulators", "drivers")):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_rules_never_read_the_clock() -> None:
    for path in sorted((ROOT / "rules").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for call in ("time.time(", "datetime.now(", "monotonic(", "open("):
            assert call not in text, f"{path.relative_to(ROOT)} calls {call}"
