"""What a stage's result depends on besides its inputs: the package code it runs and the
reference data that code reads, as one digest per rule.

Snakemake's code trigger hashes a rule's one-line script shim, not the package the shim calls,
so an upgraded engine or reader would leave old results in place. Each rule's params carry the
digest of its stage's code instead (a changed param reruns the job), and provenance.json
records every stage's digest.

What a stage uses is found, not listed by hand: the precex modules its shim (and, for report
rules, its notebook) imports, followed through every module they import (imports inside
functions included) and every "precex.module:function" name they resolve at run time (the
modality registry); the data files beside those modules (report templates); and the files
under resources/ that those modules open through `resource_path("folder", "file")` (a whole
folder when the file name is not a literal). Reading is static (ast): nothing is imported or
executed.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from precex.paths import workflow_root

PACKAGE = "precex"
_PACKAGE_DIR = Path(__file__).resolve().parent
# "precex.module" or "precex.module:function" in a string (resolved with importlib later).
_DOTTED_NAME = re.compile(r"^(precex(?:\.\w+)+)(?::\w+)?$")
# The modality registry's functions that no stage calls: each rule's shim imports its own
# entry, and `precex validate` / `precex demo` call the checks and demo writers. Following them
# would tie every modality's digest to every other modality's code.
_NOT_CALLED_BY_STAGES = frozenset({"entry", "check", "demo"})


@functools.cache
def _module_file(name: str) -> Path | None:
    """The file of a precex module or package (None for an attribute or another package)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    base = _PACKAGE_DIR.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _references(tree: ast.AST) -> tuple[set[str], set[tuple[str, ...]]]:
    """What the code may import and which resources it opens, in one walk of the tree.

    Imports: import statements anywhere, `from a import b` as both `a` and `a.b` (b may be a
    module), and dotted precex names in strings. Resources: the literal leading arguments of
    every resource_path(...) call: ("clinical", "x.tsv"), or ("clocks",) when the file name is
    computed."""
    names: set[str] = set()
    resources: set[tuple[str, ...]] = set()
    skipped: set[int] = set()
    constants: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            constants.append(node)
        elif isinstance(node, ast.Call):
            skipped.update(id(k.value) for k in node.keywords if k.arg in _NOT_CALLED_BY_STAGES)
            if getattr(node.func, "id", None) == "resource_path":
                literal: list[str] = []
                for arg in node.args:
                    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                        break
                    literal.append(arg.value)
                if literal:
                    resources.add(tuple(literal))
    for node in constants:  # after the walk: a skipped keyword's value may come later
        if id(node) not in skipped:
            match = _DOTTED_NAME.match(node.value)
            if match:
                names.add(match.group(1))
    return names, resources


@functools.cache
def _parse(path: Path) -> tuple[frozenset[str], frozenset[tuple[str, ...]]]:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        source = "\n".join("".join(c.get("source", [])) for c in cells
                           if c.get("cell_type") == "code")
        # notebook magics and shell escapes are not Python
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
    else:
        source = path.read_text(encoding="utf-8")
    names, resources = _references(ast.parse(source, filename=str(path)))
    return frozenset(names), frozenset(resources)


def _with_parents(name: str) -> list[str]:
    """Importing precex.a.b runs precex/__init__.py and precex/a/__init__.py too."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def stage_files(entries: Iterable[str | Path]) -> list[Path]:
    """Every file a stage's code depends on, sorted: the entry files (shims, notebooks), the
    precex modules they reach, data files beside those modules, and the resources they read."""
    entry_paths = [Path(e) for e in entries]
    modules: set[Path] = set()
    resources: set[tuple[str, ...]] = set()
    pending: list[Path] = list(entry_paths)
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        names, references = _parse(path)
        resources |= references
        for name in names:
            for prefix in _with_parents(name):
                module = _module_file(prefix)
                if module is not None and module not in seen:
                    modules.add(module)
                    pending.append(module)
    files = set(entry_paths) | modules
    for folder in {m.parent for m in modules}:
        files.update(_data_beside(folder))
    for reference in resources:
        files.update(_resource_files(reference))
    return sorted(files)


@functools.cache
def _data_beside(folder: Path) -> tuple[Path, ...]:
    """Data beside a package's modules (Jinja templates): every file in a subfolder of it
    that is not a package itself."""
    return tuple(p for sub in folder.iterdir()
                 if sub.is_dir() and not (sub / "__init__.py").exists()
                 and sub.name != "__pycache__"
                 for p in sub.rglob("*") if p.is_file())


@functools.cache
def _resource_files(reference: tuple[str, ...]) -> tuple[Path, ...]:
    """The files under resources/ that a resource_path(...) reference names (a whole folder
    when the file name is not a literal)."""
    target = workflow_root().joinpath("resources", *reference)
    if target.is_file():
        return (target,)
    if target.is_dir():
        return tuple(p for p in target.rglob("*") if p.is_file())
    return ()


@functools.cache
def _label(path: Path) -> str:
    """A path as the digest sees it: relative to the package or the workflow root, so that a
    checkout and an installed wheel of the same code give the same digest."""
    for base, prefix in ((_PACKAGE_DIR, PACKAGE), (workflow_root(), "")):
        try:
            rel = path.resolve().relative_to(base)
        except ValueError:
            continue
        return f"{prefix}/{rel.as_posix()}" if prefix else rel.as_posix()
    return path.name


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_digest(entries: Iterable[str | Path]) -> str:
    """SHA-256 over the names and contents of stage_files(entries)."""
    return _code_digest(tuple(Path(e) for e in entries))


# Once per entry list and process: each rule's params and provenance's stage_digests ask for
# the same digests while the Snakefile is read, before any job runs.
@functools.cache
def _code_digest(entries: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in stage_files(entries):
        digest.update(f"{_label(path)}\0{_file_digest(path)}\n".encode())
    return digest.hexdigest()


# The notebooks a rule's script renders (the rest of its code is found from its imports).
NOTEBOOKS = {"report_shard.py": ("patient_reports.ipynb",),
             "adapt_report.py": ("patient_reports.ipynb",),
             "cohort_report.py": ("cohort_report.ipynb",)}


def script_entries(rule_script: str) -> list[Path]:
    """A rule's shim under workflow/scripts/ and the notebooks it renders."""
    workflow = workflow_root() / "workflow"
    return [workflow / "scripts" / rule_script] + [workflow / "notebooks" / n
                                                    for n in NOTEBOOKS.get(rule_script, ())]


def stage_digests() -> dict[str, str]:
    """Every shim's code digest, by script name (provenance.json records them); the same
    digest its rule carries as a param."""
    scripts = sorted((workflow_root() / "workflow" / "scripts").glob("*.py"))
    return {s.stem: code_digest(script_entries(s.name))
            for s in scripts if s.name != "precex_path.py"}
