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
import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


# Parsing and walking the ~130 files a workflow's stages reach took about 0.8 s of every
# Snakemake start (each run, dry run and SLURM job). What a file references depends only on
# its content and on this module's reading of it, so it is kept on disk by the content's
# SHA-256 and read again only for a file whose content (or this module) changed. The cache is
# a speed-up only: unreadable, unwritable or from another version of this module, it is
# ignored and the files are parsed.
_CACHE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
_References = tuple[frozenset[str], frozenset[tuple[str, ...]]]


def cache_file() -> Path:
    """Where the references of parsed files are kept ($XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "precex" / "code-references.json"


class _ReferenceCache:
    def __init__(self) -> None:
        self.loaded: dict[str, Any] = {}
        self.used: dict[str, Any] = {}
        self.unsaved = False
        try:
            data = json.loads(cache_file().read_text(encoding="utf-8"))
            if data.get("version") == _CACHE_VERSION and isinstance(data.get("files"), dict):
                self.loaded = data["files"]
        except (OSError, ValueError, AttributeError):
            pass

    def get(self, key: str) -> _References | None:
        entry = self.loaded.get(key)
        try:
            found = (frozenset(entry["names"]),
                     frozenset(tuple(r) for r in entry["resources"]))
        except (TypeError, KeyError):
            return None
        self.used[key] = entry
        return found

    def put(self, key: str, found: _References) -> None:
        self.used[key] = {"names": sorted(found[0]), "resources": sorted(found[1])}
        self.unsaved = True

    def save(self) -> None:
        """The entries this process used (older code's entries are dropped), written whole
        under a temporary name and renamed: a concurrent reader sees one or the other."""
        if not self.unsaved:
            return
        self.unsaved = False
        target = cache_file()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent,
                                             suffix=".tmp", delete=False) as handle:
                json.dump({"version": _CACHE_VERSION, "files": self.used}, handle,
                          sort_keys=True)
            os.replace(handle.name, target)
        except OSError:
            with contextlib.suppress(OSError, NameError):
                os.unlink(handle.name)


@functools.cache
def _reference_cache() -> _ReferenceCache:
    return _ReferenceCache()


@functools.cache
def _parse(path: Path) -> _References:
    # the content's digest is the one the stage digest takes anyway (each file read and
    # hashed once); the suffix because a notebook and a module are read differently
    key = f"{path.suffix}:{_file_digest(path)}"
    cache = _reference_cache()
    found = cache.get(key)
    if found is None:
        found = _parse_source(path, path.read_text(encoding="utf-8"))
        cache.put(key, found)
    return found


def _parse_source(path: Path, text: str) -> _References:
    if path.suffix == ".ipynb":
        cells = json.loads(text).get("cells", [])
        source = "\n".join("".join(c.get("source", [])) for c in cells
                           if c.get("cell_type") == "code")
        # notebook magics and shell escapes are not Python
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
    else:
        source = text
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
    _reference_cache().save()
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
