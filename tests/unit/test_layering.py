"""The house rules of the layout: data flows one way, rules stay pure, the packages of gateway/
keep to their floors, and no module imports itself back through others (no import cycles,
counting imports inside functions and under TYPE_CHECKING).

The checks are functions of a source tree, so a test can feed them a tree with a deliberately
forbidden import and see them fail.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rules", "drivers", "gateway", "simulators", "bench")

FORBIDDEN = {
    "rules": {"gateway", "drivers", "simulators", "asyncio", "time", "socket", "sqlite3",
              "os", "subprocess", "datetime.datetime.now"},
    "drivers": {"gateway", "rules", "simulators"},
    "simulators": {"gateway", "rules"},
}


@dataclass(frozen=True)
class Rule:
    """Modules under ``who`` must not import ``what`` (a module or package), unless the
    importer is under one of ``unless``."""

    who: str
    what: str
    unless: tuple[str, ...] = ()
    why: str = ""


RULES = (
    Rule("gateway", "gateway.cli", unless=("gateway.cli",),
         why="the command line is the top floor: nothing is built on it"),
    Rule("gateway", "gateway.demo", unless=("gateway.cli", "gateway.demo"),
         why="the demo is reached only from the command line"),
    Rule("gateway", "simulators", unless=("gateway.demo",),
         why="only gateway.demo may run simulators; production code never does"),
    Rule("gateway.alarms", "gateway.runtime", why="the ledger does not know who runs it"),
    Rule("gateway.outputs", "gateway.runtime", why="sinks do not know who runs them"),
    Rule("gateway.notify", "gateway.runtime", why="the notifier does not know who runs it"),
    Rule("gateway.actions", "gateway.runtime",
         why="actions see the runtime through their ActionHost protocol only"),
    Rule("gateway.config", "gateway.runtime", why="configuration is read before anything runs"),
    Rule("gateway.records", "gateway.runtime", why="the core contract depends on nothing above"),
)


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def module_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module → the modules of the tree it imports: every import statement, at the top, in a
    function or under ``if TYPE_CHECKING``; ``from pkg import name`` counts as importing
    ``pkg.name`` when that is a module, else ``pkg``."""
    files: dict[str, Path] = {}
    for pkg in packages:
        for path in (root / pkg).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(m for a in node.names if (m := known(a.name)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    pkg = pkg[:len(pkg) - node.level + 1]
                    base = ".".join([*pkg, base] if base else pkg)
                deps.update(m for a in node.names
                            if (m := known(f"{base}.{a.name}") or known(base)))
        deps.discard(mod)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _under(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def violations(graph: dict[str, set[str]], rules: tuple[Rule, ...] = RULES) -> list[str]:
    out = []
    for mod, deps in sorted(graph.items()):
        for rule in rules:
            if not _under(mod, rule.who) or any(_under(mod, u) for u in rule.unless):
                continue
            for dep in sorted(deps):
                if _under(dep, rule.what):
                    out.append(f"{mod} imports {dep}: {rule.why}")
    return out


# ---------------------------------------------------------------------------- the real tree


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


def test_gateway_packages_keep_to_their_floors() -> None:
    assert violations(module_graph(ROOT)) == []


def test_no_import_cycles() -> None:
    assert cycles(module_graph(ROOT)) == []


def test_at_most_eight_modules_at_the_root_of_gateway() -> None:
    root_modules = sorted(p.name for p in (ROOT / "gateway").glob("*.py"))
    assert len(root_modules) <= 8, root_modules


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/support; a test module is never imported."""
    bad = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad.extend(f"{path.relative_to(ROOT)} imports {n}" for n in names
                       if n.startswith("tests.") and n.rpartition(".")[2].startswith("test_"))
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------- the checks fail


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for pkg in ("gateway", "gateway/alarms", "gateway/runtime", "gateway/outputs"):
        (tmp_path / pkg).mkdir(parents=True, exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    """The ledger reaching into the runtime, inside a function, is caught and explained."""
    root = _tree(tmp_path, {
        "gateway/runtime/gateway.py": "from gateway.alarms.ledger import Ledger\n",
        "gateway/alarms/ledger.py": """
            class Ledger:
                def peek(self) -> None:
                    from gateway.runtime import gateway  # forbidden: alarms -> runtime
            """,
    })
    found = violations(module_graph(root, ("gateway",)))
    assert found == ["gateway.alarms.ledger imports gateway.runtime.gateway: the ledger does "
                     "not know who runs it"]


def test_an_import_cycle_through_a_function_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "gateway/outputs/a.py": "from gateway.outputs.b import B\n",
        "gateway/outputs/b.py": """
            def later() -> None:
                from gateway.outputs import a  # back to a: a cycle
            B = 1
            """,
    })
    assert cycles(module_graph(root, ("gateway",))) == [["gateway.outputs.a",
                                                         "gateway.outputs.b"]]


def own_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function less the functions defined in it, which are measured on their own
    (an app factory's route handlers, a parser's helpers)."""
    n = (fn.end_lineno or fn.lineno) - fn.lineno + 1
    stack: list[ast.AST] = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            n -= (node.end_lineno or node.lineno) - first + 1
        else:
            stack.extend(ast.iter_child_nodes(node))
    return n


def test_no_production_function_over_60_lines() -> None:
    """A function a reader cannot hold in view is split where its parts have names."""
    long = []
    for pkg in ("gateway", "rules", "drivers", "simulators"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = own_lines(node)
                    if n > 60:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {n}")
    assert not long, "\n".join(long)
