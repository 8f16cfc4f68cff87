"""Publishing: each shard's per-patient files put at their contract paths.

Shard jobs write their patients' files into folders that are their declared outputs
(results/shards/{shard}/prescriptions/, .../reports/, ...); later stages read those folders.
The shard's publish job then links every file to its contract path (results/prescriptions/
{patient}.json, results/reports/{patient}.html, ...), removes the contract files of the
shard's patients that this run no longer produces (a patient excluded since the last run must
never keep an old prescription), and records what it published in its index,
results/shards/{shard}/published/{generation}.tsv (contract path, source path).

A missing or stale contract file is restored by a plain rerun: when the workflow is planned,
`publish_target` checks the shard's current index against the disk (each contract file must
be its source file, or a copy of it with the same size and modification time). If one is not,
the shard's publish target is the next generation's index, which does not exist, so
Snakemake runs that shard's publish job, and nothing else. Why the contract files are not
declared outputs one by one: Snakemake's bookkeeping costs about 0.8 ms per declared file per
run and 0.2-0.5 ms per file per plan; at 10,000 patients (about 90,000 contract files) that is
over a minute per run and 14-42 s per dry run (measured; tests/benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from precex.problems import InputError, Problem

# Shard folder (the publish rule's input name) -> contract folder under the results folder.
CONTRACT_FOLDERS = {
    "profiles": "profiles",
    "prescriptions": "prescriptions",
    "reports": "reports",
    "handouts": "handouts",
    "adaptations": "adaptations/prescriptions",
    "adapted_reports": "adaptations/reports",
    "adapted_handouts": "adaptations/handouts",
}
# A patient's files in a contract folder are named {patient}{suffix}.
PATIENT_SUFFIX = re.compile(r"(?:\.week-\d+)?\.(?:json|fhir\.json|html|pdf|ics)")
INDEX_HEADER = "contract\tsource\n"
# The rule whose shard folder each contract folder is published from (its rerun rebuilds it).
MADE_BY = {"profiles": "prescribe_shard", "prescriptions": "prescribe_shard",
           "reports": "report_shard", "handouts": "report_shard",
           "adaptations": "adapt_shard", "adapted_reports": "adapt_report",
           "adapted_handouts": "adapt_report"}


@dataclass(frozen=True)
class Inputs:
    profiles: str
    prescriptions: str
    reports: str
    handouts: str
    # one folder per adapted follow-up week (shards/{shard}/weeks/{week}/...)
    adaptations: list[str] | None = None
    adapted_reports: list[str] | None = None
    adapted_handouts: list[str] | None = None


@dataclass(frozen=True)
class Outputs:
    index: str


@dataclass(frozen=True)
class Params:
    members: list[str]  # every patient ID of the shard, excluded ones included
    targets: dict[str, str]  # input name -> contract folder


def link(source: str, target: str) -> None:
    """Hard-link (same bytes, no copy) or, across file systems, copy with the source's
    modification time; atomically replacing whatever is at the target."""
    tmp = f"{target}.publish-{os.getpid()}.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


def _same_file(source: str, target: str) -> bool:
    try:
        return os.path.samestat(os.stat(source), os.stat(target))
    except FileNotFoundError:
        return False


def patient_of(name: str, members: set[str]) -> str | None:
    """The member whose contract file `name` is ({patient}{suffix}; IDs may contain dots)."""
    for at in [m.start() for m in re.finditer(r"\.", name)]:
        if name[:at] in members and PATIENT_SUFFIX.fullmatch(name[at:]):
            return name[:at]
    return None


def published_at(index_folder: str | os.PathLike[str]) -> int | None:
    """When the shard was last published: the modification time (ns) of its newest index,
    written after every file was linked (None before a first publication). A run killed later
    on changes nothing here."""
    times = [p.stat().st_mtime_ns for p in Path(index_folder).glob("*.tsv")] \
        if Path(index_folder).is_dir() else []
    return max(times, default=None)


def edited_in_place(source: str, contract: str, finished: int | None) -> bool:
    """A contract file that is still the shard's own file (one inode) but changed after it
    was published: edited in place. (A rebuilt file is a new inode: every job
    writes a new file and renames it.)"""
    if finished is None or not _same_file(source, contract):
        return False
    return os.stat(contract).st_mtime_ns > finished


def run(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
    members = set(params.members)
    rows: list[tuple[str, str]] = []
    finished = published_at(Path(outputs.index).parent)
    for name, target in sorted(params.targets.items()):
        source = getattr(inputs, name)
        if source is None:
            continue
        os.makedirs(target, exist_ok=True)
        produced = set()
        for source_dir in [source] if isinstance(source, str) else source:
            with os.scandir(source_dir) as entries:
                for entry in entries:
                    if entry.name.startswith("."):  # Snakemake's own timestamp file
                        continue
                    contract = os.path.join(target, entry.name)
                    if edited_in_place(entry.path, contract, finished):
                        raise InputError([Problem(
                            contract, "was edited after the run wrote it (the shard's own "
                            "file changed with it, so it cannot be published again).",
                            f"rebuild it: precex run --forcerun "
                            f"{MADE_BY.get(name, 'prescribe_shard')} (add your --configfile), "
                            "and never edit results in place.", stage="publish")])
                    if not _same_file(entry.path, contract):  # an unchanged week stays
                        link(entry.path, contract)
                    # read-only (its owner's bits kept): an edit in place needs a chmod first
                    mode = os.stat(entry.path).st_mode
                    if mode & 0o222:
                        os.chmod(entry.path, stat.S_IMODE(mode) & ~0o222)
                    produced.add(entry.name)
                    rows.append((contract, entry.path))
        with os.scandir(target) as entries:  # this shard's patients' files not made this run
            for entry in entries:
                if entry.name not in produced and patient_of(entry.name, members):
                    os.unlink(entry.path)
    index = Path(outputs.index)
    for older in index.parent.glob("*.tsv"):  # only the current generation is kept
        if older != index:
            older.unlink()
    rows.sort()
    from precex.io.files import write_text

    write_text(index, INDEX_HEADER + "".join(f"{c}\t{s}\n" for c, s in rows))


def is_current(index: str | os.PathLike[str]) -> bool:
    """Whether every contract file the index lists is still its source (or an unchanged
    copy of it), and none was edited in place after the run ended."""
    finished = published_at(Path(index).parent)
    with open(index, encoding="utf-8") as handle:
        next(handle, None)
        for line in handle:
            contract, source = line.rstrip("\n").split("\t")
            try:
                published, original = os.stat(contract), os.stat(source)
            except FileNotFoundError:
                return False
            if not (os.path.samestat(published, original) or (
                    published.st_size == original.st_size
                    and published.st_mtime_ns == original.st_mtime_ns)):
                return False
            if finished is not None and os.path.samestat(published, original) \
                    and published.st_mtime_ns > finished:  # edited in place after the run
                return False
    return True


def publish_target(folder: str | os.PathLike[str]) -> str:
    """The index a shard's publish job must produce: the current generation's while every
    contract file it lists is in place, else the next one (so the job runs again)."""
    generations = []
    if os.path.isdir(folder):
        generations = [int(n[:-4]) for n in os.listdir(folder)
                       if n.endswith(".tsv") and n[:-4].isdigit()]
    current = max(generations, default=0)
    if current and is_current(os.path.join(folder, f"{current}.tsv")):
        return os.path.join(folder, f"{current}.tsv")
    return os.path.join(folder, f"{current + 1}.tsv")
