"""The house rules of src/orginvite (README, "Architecture"), read from the source: every import statement of every
module, at module level, inside functions and under ``TYPE_CHECKING`` alike (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "orginvite"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The module of ours that ``import name`` loads (a name inside a module counts as that module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """The modules of ours that ``module`` imports. ``import a.b`` also runs ``a/__init__``, but a package's
    ``__init__`` loading its own submodules is how packages work, not a circle: only the named module counts."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import sub" imports the submodule when there is one, else a name of pkg
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _in(module: str, wing: str) -> bool:
    return module == wing or module.startswith(wing + ".")


def test_the_graph_sees_the_wings() -> None:
    # a parser that found nothing would pass every rule below
    assert "orginvite.login.middleware" in MODULES and "orginvite.sessions.cookie" in MODULES
    assert "orginvite.login.callback" in GRAPH["orginvite.login.middleware"]
    assert "orginvite.sessions.signing" in GRAPH["orginvite.sessions.cookie"]
    assert "orginvite.emails.model" in GRAPH["orginvite.management.invite"]  # a function-level import counts


def test_no_import_circles_anywhere() -> None:
    cycles = []
    for module in sorted(GRAPH):
        if module in _closure(module):
            cycles.append(module)
    assert cycles == [], f"modules that import themselves through others: {cycles}"


def test_config_imports_nothing_of_login_sessions_or_management() -> None:
    bad = [m for m in _closure("orginvite.config")
           if any(_in(m, w) for w in ("orginvite.login", "orginvite.sessions", "orginvite.management"))]
    assert bad == []


def test_sessions_never_import_login() -> None:
    bad = {m: sorted(t for t in GRAPH[m] if _in(t, "orginvite.login")) for m in GRAPH if _in(m, "orginvite.sessions")}
    assert {m: t for m, t in bad.items() if t} == {}


def test_management_imports_nothing_of_login_or_sessions() -> None:
    bad = [(m, t) for m in GRAPH if _in(m, "orginvite.management") for t in _closure(m)
           if _in(t, "orginvite.login") or _in(t, "orginvite.sessions")]
    assert bad == []


def test_the_dev_tenant_and_the_app_side_stay_apart() -> None:
    tenant = [m for m in GRAPH if _in(m, "orginvite.devtenant")]
    for module in tenant:
        wrong = [t for t in GRAPH[module] if any(_in(t, w) for w in (
            "orginvite.login", "orginvite.sessions", "orginvite.management", "orginvite.tenancy"))]
        assert wrong == [], module
    app_side = [m for m in GRAPH if any(_in(m, w) for w in (
        "orginvite.config", "orginvite.login", "orginvite.sessions", "orginvite.tenancy", "orginvite.management",
        "orginvite.i18n", "orginvite.emails"))]
    for module in app_side:
        assert not any(_in(t, "orginvite.devtenant") for t in _closure(module)), module


PURE = ["orginvite.links", "orginvite.loopback", "orginvite.text", "orginvite.login.claims", "orginvite.tenancy.rules",
        "orginvite.i18n.locales", "orginvite.i18n.names"]
#: What pure logic may import: standard library modules without files, sockets, processes, event loops or
#: environment, and Babel for CLDR's reference data (likely subtags; read-only, loaded on first use).
PURE_IMPORTS = {"__future__", "collections", "dataclasses", "functools", "hashlib", "ipaddress", "math", "re",
                "typing", "unicodedata", "urllib", "babel"}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only: nothing runs them)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def _absolute_import_tops(node: ast.AST) -> list[str]:
    """The top-level packages an import statement names (none for a relative import or another node)."""
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level:
        return [(node.module or "").split(".")[0]]
    return []


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io_and_no_asgi(module: str) -> None:
    ours = {module} | _closure(module)
    assert all(m in PURE or m == "orginvite.errors" or m == "orginvite" for m in ours - {module}), sorted(ours)
    for name in ours:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        for node in _runtime_nodes(tree):
            for top in _absolute_import_tops(node):
                assert top == "orginvite" or top in PURE_IMPORTS, f"{name} imports {top}"
    # and at run time: importing it loads no web, network or I/O library
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('starlette', 'httpx2', 'asyncio', 'socket', 'sqlite3', 'jinja2', 'babel')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_middleware_only_routes() -> None:
    # the route table, tenant binding and the pass-through: each route lives in its own module
    assert len(MODULES["orginvite.login.middleware"].read_text(encoding="utf-8").splitlines()) <= 250
    for route in ("login", "interstitial", "callback", "logout"):
        assert f"orginvite.login.{route}" in MODULES


def test_no_module_outside_the_dev_tenant_reaches_600_lines() -> None:
    long = {m: n for m, p in MODULES.items()
            if not _in(m, "orginvite.devtenant") and (n := len(p.read_text(encoding="utf-8").splitlines())) >= 600}
    assert long == {}


def test_our_code_imports_httpx2_not_httpx() -> None:
    # Authlib (>= 1.9) and Starlette's TestClient build on httpx2 when it is installed: a client, transport or
    # exception class of the old httpx mixed in would not be the type they expect or raise (issue 15)
    root = SRC.parent
    stray = []
    for folder in ("src", "tests", "example_app", "benchmarks"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if set(_absolute_import_tops(node)) & {"httpx", "httpcore"}:
                    stray.append(f"{path.relative_to(root)}:{node.lineno}")
    assert stray == []
