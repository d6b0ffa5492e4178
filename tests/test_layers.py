"""The four packages are layers: ``curator`` < ``classifiers`` < ``generators`` < ``pipelines`` (issue 26).

A module may import its own package and the ones below it, never one above: the foundation (``curator``:
schema, settings, readers, writers, filters, dedup, decontam) imports none of the others, ``classifiers``
(models, training, evaluation, the scoring stage and the scoring API) only ``curator``, ``generators``
(everything that talks to a teacher) no ``pipelines`` (the build, its steps, the ``curator`` command).
Every import counts, at module level or inside a function (an import deferred to a function is still a
dependency). The tests read the source (``ast``), so they import nothing and take well under a second.

Also checked: no import cycle between this repository's modules at module level, and none hidden in
function-level imports beyond the allow-lists below; no ``except ImportError`` around an import of this
repository's own modules (it would turn a syntax error there into a silently missing feature).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("curator", "classifiers", "generators", "pipelines")  # lowest first
RANK = {name: i for i, name in enumerate(LAYERS)}

# Module-level import cycles allowed (a cycle whose modules all start with one of these prefixes passes): none.
ALLOWED_MODULE_CYCLE_PREFIXES: tuple[str, ...] = ()

# Cycles that exist only through function-level imports (a deferred import that works around a cycle).
# A cycle passes if its modules all start with a prefix, or all belong to one listed group. Each entry is
# work left: break the cycle (move the shared piece down into its own module), then delete the entry.
ALLOWED_DEFERRED_CYCLE_PREFIXES: tuple[str, ...] = ()
ALLOWED_DEFERRED_CYCLES: tuple[frozenset[str], ...] = ()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    mods = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            mods[_module_name(path)] = path
    return mods


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names: ``from a import b`` is ``a.b`` when that is a module of this
    repository, else ``a``; relative imports are resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    subs = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES]
    return subs + ([source] if len(subs) < len(node.names) else [])


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, at module level)`` for every import in ``path``: module level, inside
    functions and classes; ``if TYPE_CHECKING:`` imports count as function level (not executed)."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((t, child.lineno, top) for t in _targets(child, module, path.name == "__init__.py"))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or _is_type_checking(child):
                visit(child, False)
            else:
                visit(child, top)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


IMPORTS = {module: _imports(module, path) for module, path in MODULES.items()}


def _resolve(target: str) -> str | None:
    """The repository module ``target`` names (its longest prefix that is one), or ``None``."""
    parts = target.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in MODULES:
            return name
    return None


def _cycles(module_level_only: bool) -> list[list[str]]:
    """Strongly connected components (more than one module) of the import graph."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imports in IMPORTS.items():
        for target, _, top in imports:
            resolved = _resolve(target)
            if resolved and resolved != module and (top or not module_level_only):
                graph[module].add(resolved)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in MODULES:  # iterative Tarjan
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _allowed(component: list[str], prefixes: tuple[str, ...], groups: tuple[frozenset[str], ...] = ()) -> bool:
    return any(all(m.startswith(p) for m in component) for p in prefixes) or any(set(component) <= g for g in groups)


def test_the_walk_sees_every_package_and_function_level_imports():
    assert {m.split(".")[0] for m in MODULES} == set(LAYERS)
    assert {"pipelines.cli", "classifiers.api.app", "classifiers.scoring", "generators.vllm_env"} <= set(MODULES)
    # a function-level import is seen: the CLI's build command imports the build inside the function
    assert any(t.startswith("pipelines.") and not top for t, _, top in IMPORTS["pipelines.cli.build"])


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{MODULES[module].relative_to(ROOT)}:{line}: {module} imports {target}"
        for module, imports in IMPORTS.items()
        for target, line, _ in imports
        if RANK.get(target.split(".")[0], -1) > RANK[module.split(".")[0]]
    ]
    assert not upward, "imports from a higher layer (curator < classifiers < generators < pipelines):\n" + "\n".join(
        upward
    )


def test_no_module_level_import_cycle():
    cycles = [c for c in _cycles(module_level_only=True) if not _allowed(c, ALLOWED_MODULE_CYCLE_PREFIXES)]
    assert not cycles, f"module-level import cycles: {cycles}"


def test_no_import_cycle_hidden_in_function_level_imports_beyond_the_allow_list():
    cycles = [
        c
        for c in _cycles(module_level_only=False)
        if not _allowed(c, ALLOWED_DEFERRED_CYCLE_PREFIXES, ALLOWED_DEFERRED_CYCLES)
    ]
    assert not cycles, f"import cycles through function-level imports (break them; see the allow-list): {cycles}"


def test_no_import_error_guard_around_this_repositorys_modules():
    guarded = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Try):
                continue
            names: set[str] = set()
            for handler in node.handlers:
                caught = handler.type
                elts = caught.elts if isinstance(caught, ast.Tuple) else [caught]
                names |= {e.id for e in elts if isinstance(e, ast.Name)}
            if not names & {"ImportError", "ModuleNotFoundError"}:
                continue
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        own = [t for t in _targets(sub, module, path.name == "__init__.py") if _resolve(t)]
                        guarded += [f"{path.relative_to(ROOT)}:{sub.lineno}: {t}" for t in own]
    assert not guarded, "`except ImportError` around this repository's own modules:\n" + "\n".join(guarded)


def test_the_console_script_is_the_pipelines_cli():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'curator = "pipelines.cli:main"' in text
