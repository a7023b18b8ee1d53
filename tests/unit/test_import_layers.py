"""The import-layer contract: no package imports one above it, and runtime code never imports development tooling.

Every `import`/`from ... import` of the project's packages is read from the source with `ast` — including imports
inside functions, which run just as surely, only later — so the test needs nothing installed or running.
The table is also in docs/architecture.md; change both together.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runtime layers, bottom to top. A package may import packages of a strictly lower layer, never its own layer's
# siblings and never a higher one. ingest and analytics are peers: data flows ingest → database → analytics, so
# analytics reads what the database holds and never ingest's code (the shared ticker shape is upbit_core's).
LAYERS: list[tuple[str, ...]] = [
    ("upbit_core",),  # settings, logging setup, version, Upbit message shape, severity scale; imports nothing of ours
    ("db",),  # connections, migrations, maintenance
    ("ingest", "analytics"),  # writes ticks into the database / reads facts out of it
    ("llm", "anomaly"),  # Claude and offline analyst over analytics / the detector over the database
    ("alerts",),  # Slack and webhook delivery of anomaly events
    ("celery_app", "upbit_mcp", "dashboard"),  # the processes that serve people and schedules
    ("upbit_llm",),  # the `upbit-llm` CLI, supervisor, demo, local services: the composition root
]
RANK: dict[str, int] = {pkg: rank for rank, layer in enumerate(LAYERS) for pkg in layer}

# Development tooling: may import any runtime package; runtime packages never import it (a module path prefix).
DEV_TOOLING: tuple[str, ...] = ("fake_upbit", "bench", "anomaly.evaluate", "tests")

# Where each package's source lives (upbit_mcp sits inside the `mcp/` folder, which is not a package).
SOURCE_DIRS: dict[str, str] = {pkg: pkg for pkg in RANK} | {"upbit_mcp": "mcp/upbit_mcp"}
DEV_DIRS: dict[str, str] = {"fake_upbit": "fake_upbit", "bench": "bench", "tests": "tests"}

# Imports that break the table on purpose, each with its reason. (importer module, imported module prefix) → why.
ALLOWED: dict[tuple[str, str], str] = {
    # The CLI is the composition root: its `fake-upbit` and `demo` commands start development tooling (imported
    # inside the command, only when that command runs; `upbit-llm bench` loads `bench.*` by name the same way).
    ("upbit_llm.commands.fake_upbit", "fake_upbit"): "the `upbit-llm fake-upbit` command runs the simulator",
    ("upbit_llm.demo.history", "fake_upbit"): "`upbit-llm demo` publishes simulated warm-up history",
}


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name of the importing file
    imported: str  # dotted module name it imports
    where: str  # path:line


def _module_name(pkg: str, directory: Path, path: Path) -> str:
    parts = list(path.relative_to(directory).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([pkg, *parts])


def _imports(module: str, path: Path) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    out: list[Edge] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from pkg import sub` may name a submodule: keep both spellings so prefixes match either.
            names = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        else:
            continue
        out.extend(Edge(module, name, f"{shown}:{node.lineno}") for name in names if name)
    return out


def _all_edges() -> list[Edge]:
    edges: list[Edge] = []
    for pkg, rel in (SOURCE_DIRS | DEV_DIRS).items():
        directory = ROOT / rel
        for path in sorted(directory.rglob("*.py")):
            edges.extend(_imports(_module_name(pkg, directory, path), path))
    return edges


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _is_dev(module: str) -> bool:
    return any(_matches(module, prefix) for prefix in DEV_TOOLING)


def _allowed(edge: Edge) -> bool:
    return any(
        _matches(edge.importer, importer) and _matches(edge.imported, imported) for importer, imported in ALLOWED
    )


def _violations(edges: list[Edge]) -> list[str]:
    found: set[str] = set()
    for edge in edges:
        top_from, top_to = edge.importer.split(".")[0], edge.imported.split(".")[0]
        if _is_dev(edge.importer) or _allowed(edge):
            continue
        if _is_dev(edge.imported):
            found.add(f"{edge.where}: runtime {edge.importer} imports development tooling {edge.imported}")
        elif top_to in RANK and top_from != top_to and RANK[top_to] >= RANK[top_from]:
            found.add(
                f"{edge.where}: {edge.importer} (layer {RANK[top_from]}) imports {edge.imported} "
                f"(layer {RANK[top_to]}); a package may only import lower layers"
            )
    return sorted(found)


def test_no_package_imports_a_higher_layer_or_development_tooling() -> None:
    violations = _violations(_all_edges())
    assert violations == [], "import-layer contract broken:\n" + "\n".join(violations)


def test_every_allowed_exception_is_still_needed() -> None:
    edges = _all_edges()
    unused = [
        pair
        for pair in ALLOWED
        if not any(_matches(e.importer, pair[0]) and _matches(e.imported, pair[1]) for e in edges)
    ]
    assert unused == [], f"remove these from ALLOWED (and docs/architecture.md): {unused}"


def test_every_project_package_has_a_layer_or_is_development_tooling() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} | {"upbit_mcp"}
    unplaced = sorted(pkg for pkg in packages if pkg not in RANK and not _is_dev(pkg))
    assert unplaced == [], f"give these packages a layer in LAYERS (and docs/architecture.md): {unplaced}"


def test_the_contract_reads_imports_inside_functions_and_flags_upward_ones(tmp_path: Path) -> None:
    source = tmp_path / "raw.py"
    source.write_text("def f():\n    from upbit_llm.cli import main\n    if main:\n        import fake_upbit.sources\n")
    problems = _violations(_imports("analytics.raw", source))
    assert any("raw.py:2: analytics.raw (layer 2) imports upbit_llm.cli" in p for p in problems)
    assert "raw.py:4: runtime analytics.raw imports development tooling fake_upbit.sources" in problems


def test_downward_imports_and_development_tooling_importing_runtime_pass() -> None:
    edges = [
        Edge("analytics.raw", "upbit_core.market_fields", "a:1"),
        Edge("upbit_llm.cli", "upbit_core.settings", "b:1"),
        Edge("bench.ingest", "upbit_llm.services", "c:1"),
        Edge("upbit_llm.commands.fake_upbit", "fake_upbit.server", "d:1"),
    ]
    assert _violations(edges) == []


def test_siblings_in_one_layer_do_not_import_each_other() -> None:
    problems = _violations([Edge("analytics.raw", "ingest.ticker", "raw.py:10")])
    assert problems == [
        "raw.py:10: analytics.raw (layer 2) imports ingest.ticker (layer 2); a package may only import lower layers"
    ]
