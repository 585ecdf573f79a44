"""Layers that only point down (issue 12, item 3).

Every Python file of the collection's code (module_utils, modules and the other plugins, ``verify/``) belongs to one
layer of the table below (the same table as in ``docs/design.md``, which a test keeps equal). A file may import
from its own layer and from any layer of a lower rank; an import of a higher rank points up, one of another layer
of the same rank points sideways: both are reported with the file, the line and both layers. A file in no layer,
or an import of the collection's own code that resolves to no layer, is reported too, so a new file must be placed
in the table before it can pass. Imports are read with ``ast`` (module level and inside functions alike, absolute
and relative); imports built at run time (``importlib``) are not seen, and the collection has none.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[4]
COLLECTION = "ansible_collections.aimemory.swarm."
MU = "plugins/module_utils/"


class Layer(NamedTuple):
    name: str
    rank: int
    paths: tuple[str, ...]  # files, or directories ending in "/", relative to the collection root


# rank 0 is the base; a layer stands on every layer of a lower rank
LAYERS = (
    Layer("history", 0, (MU + "_history.py", MU + "_ops.py")),
    Layer("utils", 0, (MU + "_attest.py", MU + "_endpoint.py", MU + "_process.py", MU + "_ssh_wait.py",
                       MU + "_releases.py")),
    Layer("workload", 1, (MU + "_workload/",)),
    Layer("nemesis", 1, (MU + "_nemesis/",)),
    Layer("provision", 1, (MU + "_do/", MU + "_build/", MU + "_swarm/")),
    Layer("checker", 2, (MU + "_checker/",)),
    Layer("modules", 3, ("plugins/modules/", "plugins/action/", "plugins/callback/")),
    Layer("verify", 4, ("verify/",)),
)
SCANNED = ("plugins/module_utils", "plugins/modules", "plugins/action", "plugins/callback", "verify")


def layer_of(path: str) -> Layer | None:
    """The layer of a file (``a/b.py``) or of a module path without suffix (``a/b``, a module or a package)."""
    stem = path[:-3] if path.endswith(".py") else path
    for layer in LAYERS:
        for entry in layer.paths:
            if entry.endswith("/") and (stem + "/").startswith(entry):
                return layer
            if stem + ".py" == entry:
                return layer
    return None


def internal_path(dotted: str) -> str | None:
    """``a/b`` for a module of the collection's own code (``ansible_collections.aimemory.swarm.a.b`` or
    ``verify.x``); None for anything else (the standard library, ansible, httpx, ...)."""
    if dotted.startswith(COLLECTION):
        return dotted[len(COLLECTION):].replace(".", "/")
    if dotted == "verify" or dotted.startswith("verify."):
        return dotted.replace(".", "/")
    return None


def dotted_of(path: str) -> str:
    """The module name a file is imported by: ``plugins/...`` under the collection, ``verify/...`` as it is."""
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    name = ".".join(parts)
    return name if parts[0] == "verify" else COLLECTION + name


class Edge(NamedTuple):
    path: str  # the importing file
    line: int
    module: str  # the module imported, absolute
    name: str | None = None  # ``from module import name`` (a module or a name in it); None for ``import module``


def imports_of(path: str, source: str) -> list[Edge]:
    """Every import of a file, relative ones made absolute; module level and inside functions alike."""
    found: list[Edge] = []
    package = dotted_of(path).split(".")
    if not path.endswith("/__init__.py"):
        package.pop()
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found += [Edge(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(package[:len(package) - node.level + 1] + ([module] if module else []))
            found += [Edge(path, node.lineno, module, alias.name) for alias in node.names]
    return sorted(found, key=lambda e: e.line)


def imported_layer(edge: Edge, modules: Collection[str] = ()) -> tuple[str, Layer | None] | None:
    """(module path, its layer) of an import of the collection's own code; None for any other import.
    ``from m import n`` is placed by ``m/n`` when that is one of the ``modules`` (paths without ``.py``; a package
    by its directory) or when ``m`` is in no layer (``from ..module_utils import _history``), else by ``m``."""
    path = internal_path(edge.module)
    if path is None:
        return None
    if edge.name is not None:
        inner = f"{path}/{edge.name}"
        if inner in modules or (layer_of(path) is None and layer_of(inner) is not None):
            return inner, layer_of(inner)
    return path, layer_of(path)


def module_paths(files: Iterable[str]) -> set[str]:
    """The importable paths of files: ``a/b`` for ``a/b.py``, ``a`` for ``a/__init__.py``."""
    return {f[:-len("/__init__.py")] if f.endswith("/__init__.py") else f[:-3] for f in files}


def violations(edges: Iterable[Edge], files: Iterable[str] = ()) -> list[str]:
    """Every import that points up or sideways or leaves the table, and every file in no layer (``files``, the
    files scanned, also tell a module from a name in ``from m import n``)."""
    files = list(files)
    modules = module_paths(files)
    found = [f"{path}: in no layer (add it to the layer table)" for path in files if layer_of(path) is None]
    for edge in edges:
        source = layer_of(edge.path)
        if source is None:
            found.append(f"{edge.path}: in no layer (add it to the layer table)")
            continue
        target = imported_layer(edge, modules)
        if target is None:
            continue
        module, layer = target
        where = f"{edge.path}:{edge.line}: layer {source.name} (rank {source.rank}) imports {module}"
        if layer is None:
            found.append(f"{where}, which is in no layer")
        elif layer.rank > source.rank:
            found.append(f"{where} of layer {layer.name} (rank {layer.rank}): points up")
        elif layer.rank == source.rank and layer.name != source.name:
            found.append(f"{where} of layer {layer.name} (rank {layer.rank}): points sideways")
    return sorted(set(found))


def scan(root: Path) -> tuple[list[str], list[Edge]]:
    """The files scanned under ``root`` and every import they hold."""
    files: list[str] = []
    edges: list[Edge] = []
    for top in SCANNED:
        for file in sorted((root / top).rglob("*.py")):
            path = file.relative_to(root).as_posix()
            files.append(path)
            edges += imports_of(path, file.read_text(encoding="utf-8"))
    return files, edges


# ------------------------------------------------------------------------------------------------------- the tree


def test_every_import_of_the_collection_points_down() -> None:
    files, edges = scan(ROOT)
    assert len(files) > 80, files  # the scan found the code
    assert violations(edges, files) == []


def test_the_history_layer_stands_on_nothing_above_it() -> None:
    """The finding of issue 12 that started this: the history layer imported the checker package."""
    _files, edges = scan(ROOT)
    history = [e for e in edges if layer_of(e.path) is LAYERS[0] and imported_layer(e) is not None]
    assert history, "the history files import nothing of the collection's, or were not scanned"
    assert {imported_layer(e) for e in history} == {(MU + "_ops", LAYERS[0])}  # _history.py imports _ops.py


def test_the_design_document_holds_the_same_table() -> None:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    table = []
    for row in section.splitlines():
        if re.match(r"\| \d+ \|", row):
            rank, name, paths = (c.strip() for c in row.strip().strip("|").split("|")[:3])
            table.append(Layer(name, int(rank), tuple(re.findall(r"`([^`]+)`", paths))))
    assert table == list(LAYERS)


# ------------------------------------------------------------------------------------------- the check can fail

UP = Edge(MU + "_history.py", 25, COLLECTION + "plugins.module_utils._checker.ops", "rfc3339")


def test_an_upward_import_is_reported_with_file_line_and_both_layers() -> None:
    assert violations([UP]) == [
        "plugins/module_utils/_history.py:25: layer history (rank 0) imports plugins/module_utils/_checker/ops "
        "of layer checker (rank 2): points up"]


def test_a_sideways_import_is_reported() -> None:
    edge = Edge(MU + "_workload/writes.py", 9, COLLECTION + "plugins.module_utils._nemesis.partition", "Partition")
    assert violations([edge]) == [
        "plugins/module_utils/_workload/writes.py:9: layer workload (rank 1) imports "
        "plugins/module_utils/_nemesis/partition of layer nemesis (rank 1): points sideways"]


def test_imports_that_point_down_or_stay_in_their_layer_are_not_reported() -> None:
    edges = [
        Edge(MU + "_checker/convergence.py", 1, COLLECTION + "plugins.module_utils._ops", "Write"),
        Edge(MU + "_checker/convergence.py", 2, COLLECTION + "plugins.module_utils._workload.records", "agreement"),
        Edge(MU + "_checker/convergence.py", 3, COLLECTION + "plugins.module_utils._checker.ops", "figure"),
        Edge(MU + "_ssh_wait.py", 4, COLLECTION + "plugins.module_utils._process", "run"),
        Edge("plugins/modules/history_check.py", 5, COLLECTION + "plugins.module_utils._checker.registry", "check"),
        Edge("verify/summary.py", 6, COLLECTION + "plugins.module_utils._checker", "registry"),
        Edge("verify/summary.py", 7, "verify.evidence", "load"),
        Edge(MU + "_history.py", 8, "fcntl"),
        Edge(MU + "_history.py", 9, "ansible.module_utils.basic", "AnsibleModule"),
    ]
    assert violations(edges) == []


def test_files_and_imports_outside_the_table_are_reported() -> None:
    edges = [Edge(MU + "_checker/ops.py", 3, COLLECTION + "plugins.module_utils._new", "thing")]
    assert violations(edges, [MU + "_new.py", MU + "_ops.py"]) == [
        "plugins/module_utils/_checker/ops.py:3: layer checker (rank 2) imports plugins/module_utils/_new, "
        "which is in no layer",
        "plugins/module_utils/_new.py: in no layer (add it to the layer table)"]


def test_a_tree_with_upward_imports_fails_the_scan(tmp_path: Path) -> None:
    """A whole tree read as the real one is: absolute, package-relative and in-function imports."""
    files = {
        MU + "_history.py": "import json\n\n"
                            "from ansible_collections.aimemory.swarm.plugins.module_utils._ops import rfc3339\n",
        MU + "_ops.py": "def rfc3339(ns):\n"
                        "    from ansible_collections.aimemory.swarm.plugins.module_utils import _checker\n"
                        "    return _checker\n",
        MU + "_checker/__init__.py": "",
        MU + "_checker/ops.py": "from .._ops import rfc3339\nfrom . import registry\n",
        MU + "_checker/registry.py": "",
        MU + "_nemesis/partition.py": "from .._checker import ops\n",
        "plugins/modules/history_check.py": "from ansible_collections.aimemory.swarm.plugins.module_utils._checker"
                                            ".registry import check\n",
        "verify/summary.py": "from verify.evidence import load\nfrom .tamper import x\n",
        "verify/evidence.py": "",
        "verify/tamper.py": "",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    scanned, edges = scan(tmp_path)
    assert sorted(scanned) == sorted(files)
    assert violations(edges, scanned) == [
        "plugins/module_utils/_nemesis/partition.py:1: layer nemesis (rank 1) imports "
        "plugins/module_utils/_checker/ops of layer checker (rank 2): points up",
        "plugins/module_utils/_ops.py:2: layer history (rank 0) imports plugins/module_utils/_checker "
        "of layer checker (rank 2): points up"]


def test_relative_imports_resolve_to_the_module_they_name() -> None:
    assert imports_of(MU + "_checker/ops.py", "from .._ops import rfc3339\nfrom . import registry\n") == [
        Edge(MU + "_checker/ops.py", 1, COLLECTION + "plugins.module_utils._ops", "rfc3339"),
        Edge(MU + "_checker/ops.py", 2, COLLECTION + "plugins.module_utils._checker", "registry")]
    assert imports_of(MU + "_checker/__init__.py", "from .ops import figure\n") == [
        Edge(MU + "_checker/__init__.py", 1, COLLECTION + "plugins.module_utils._checker.ops", "figure")]
    assert imports_of("verify/summary.py", "from .evidence import load\n") == [
        Edge("verify/summary.py", 1, "verify.evidence", "load")]
