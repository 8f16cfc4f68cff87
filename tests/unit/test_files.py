"""Atomic output files: a write either lands whole under its name or leaves nothing."""

import dataclasses
import os
import stat
import types
from pathlib import Path

import pytest
from precex.io.files import atomic_path, write_in_job_folder, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out" / "report.html"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.name.startswith(".") and tmp.name.endswith(".tmp")  # hidden from readers
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_outputs_get_the_usual_mode_and_a_new_folder(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "new" / "deeper" / "a.json", "{}\n")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "new" / "deeper" / "a.json").stat().st_mode)
    assert mode == 0o644


def test_job_folder_writes_text_and_bytes_whole_with_the_usual_mode(tmp_path):
    text = "línea\n" * 5000 + "end"  # several write calls' worth, not ASCII
    target = tmp_path / "shard" / "reports" / "P1.html"  # folders made on demand
    old = os.umask(0o022)
    try:
        write_in_job_folder(target, text)
        write_in_job_folder(tmp_path / "shard" / "P1.ics", b"BEGIN:VCALENDAR\r\n")
    finally:
        os.umask(old)
    assert target.read_bytes() == text.encode("utf-8")
    assert (tmp_path / "shard" / "P1.ics").read_bytes() == b"BEGIN:VCALENDAR\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    write_in_job_folder(target, "short")  # a rewrite truncates the longer old content
    assert target.read_text(encoding="utf-8") == "short"


def test_a_job_folder_appears_whole_or_not_at_all(tmp_path):
    """staged_folders fills each output folder under a hidden name and renames it only when
    the block succeeds; a failure leaves neither the folder nor its staging copy, and a
    staging copy that a killed job left behind is cleared before the next attempt."""
    from precex.io.files import staged_folders, staging_folder

    reports = tmp_path / "shard" / "reports"
    stale = staging_folder(reports)
    stale.mkdir(parents=True)
    (stale / "P9.html").write_text("")  # a killed attempt's empty file
    with pytest.raises(RuntimeError), staged_folders({"reports": str(reports)}) as staged:
        assert Path(staged["reports"]).name == ".reports.partial"
        assert list(Path(staged["reports"]).iterdir()) == []  # the stale file is gone
        write_in_job_folder(Path(staged["reports"]) / "P1.html", "<html></html>\n")
        assert not reports.exists()
        raise RuntimeError("the stage failed midway")
    assert sorted(p.name for p in reports.parent.iterdir()) == []
    with staged_folders({"reports": str(reports)}) as staged:
        write_in_job_folder(Path(staged["reports"]) / "P1.html", "<html></html>\n")
    assert sorted(p.name for p in reports.parent.iterdir()) == ["reports"]
    assert (reports / "P1.html").read_text() == "<html></html>\n"


def test_a_killed_stage_leaves_only_its_hidden_staging_folder(tmp_path):
    """SIGKILL runs no cleanup: what the job wrote stays under the hidden staging name, which
    readers skip, never under the folder's real name (the resume test's empty handout)."""
    import signal
    import subprocess
    import sys

    handouts = tmp_path / "weeks" / "3" / "adapted_handouts"
    code = f"""
import os, signal
from pathlib import Path
from precex.io.files import staged_folders, write_in_job_folder
with staged_folders({{"handouts": {str(handouts)!r}}}) as staged:
    write_in_job_folder(Path(staged["handouts"]) / "P015.week-3.html", "")
    os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert done.returncode == -signal.SIGKILL
    assert not handouts.exists()
    assert [p.name for p in handouts.parent.iterdir()] == [".adapted_handouts.partial"]


def test_run_stage_stages_the_folders_a_stage_declares(tmp_path):
    """A stage sees its output folders under their staging names; after it returns, the
    folders have their real names and nothing hidden is left."""
    import dataclasses
    import types

    from precex.io.files import job_folder
    from precex.script_runner import run_stage

    @dataclasses.dataclass(frozen=True)
    class Inputs:
        pass

    @dataclasses.dataclass(frozen=True)
    class Outputs:
        handouts: str = job_folder()
        table: str = ""

    @dataclasses.dataclass(frozen=True)
    class Params:
        pass

    seen = {}

    def entry(*, inputs: Inputs, outputs: Outputs, params: Params) -> None:
        seen.update(handouts=Path(outputs.handouts).name, table=Path(outputs.table).name)
        write_in_job_folder(Path(outputs.handouts) / "P1.html", "<html></html>\n")
        write_text(outputs.table, "patient_id\n")

    empty = types.SimpleNamespace(keys=lambda: [])
    out = {"handouts": str(tmp_path / "handouts"), "table": str(tmp_path / "t.tsv")}
    snakemake = types.SimpleNamespace(
        rule="demo", log=[str(tmp_path / "demo.log")], input=empty, params=empty,
        output=types.SimpleNamespace(keys=lambda: list(out), **out))
    entry.__annotations__.update(inputs=Inputs, outputs=Outputs, params=Params)
    run_stage(snakemake, entry)
    assert seen == {"handouts": ".handouts.partial", "table": "t.tsv"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.log", "handouts", "t.tsv"]
    assert (tmp_path / "handouts" / "P1.html").read_text() == "<html></html>\n"
    # the job's log says what it did on success too (it was empty; issue 42)
    log = (tmp_path / "demo.log").read_text()
    assert "rule demo: 0 input file(s)" in log and "finished in " in log
    assert f"{tmp_path / 'handouts'} (1 file)" in log and f"{tmp_path / 't.tsv'} (11 bytes)" in log


@pytest.mark.parametrize("cell,written", [
    ("=HYPERLINK(\"http://x\",\"click\")", "'=HYPERLINK(\"http://x\",\"click\")"),
    ("+1+1", "'+1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("-cmd", "'-cmd"), ("\tx", "'\tx"),
    ("-2.5", "-2.5"), ("+3", "+3"), ("P001", "P001"), ("HR+/HER2-", "HR+/HER2-"),
])
def test_text_a_spreadsheet_would_run_is_written_as_text(cell, written):
    """Issue 39: cells starting with =, +, - or @ reached TSV outputs that people open in
    spreadsheets. Such text gets a leading apostrophe; numbers and ordinary text do not."""
    from precex.io.files import spreadsheet_cell

    assert spreadsheet_cell(cell) == written


def test_the_tables_people_open_are_spreadsheet_safe(tmp_path):
    import pandas as pd
    from precex.io.files import write_tsv
    from precex.io.problem_tables import write_problems
    from precex.problems import Problem

    frame = pd.DataFrame({"patient_id": ["P1"], "note": ["=1+2"], "value": [-2.5]})
    write_tsv(tmp_path / "t.tsv", frame, spreadsheet=True)
    assert (tmp_path / "t.tsv").read_text() == "patient_id\tnote\tvalue\nP1\t'=1+2\t-2.5\n"
    write_problems([Problem("s.tsv", "=cmd|' /C calc'!A0", patient_id="P1", stage="sheet")],
                   "sheet", str(tmp_path / "ex.tsv"), str(tmp_path / "pr.tsv"))
    text = (tmp_path / "pr.tsv").read_text()
    assert "\t=cmd" not in text and "\t'=cmd" in text


@dataclasses.dataclass(frozen=True)
class _Nothing:
    """A stage's empty Inputs, Outputs or Params."""


def _empty_job(tmp_path: Path, **more: object) -> types.SimpleNamespace:
    """Snakemake's object for a job with no files and no params (what run_stage reads)."""
    empty = types.SimpleNamespace(keys=lambda: [])
    return types.SimpleNamespace(rule="demo", log=[str(tmp_path / "demo.log")], input=empty,
                                 params=empty, output=empty, **more)


def test_run_stage_gives_the_jobs_cores_only_to_an_entry_that_takes_them(tmp_path):
    """A rule's thread count reaches an entry with a `threads` keyword (a lone shard's
    prescriptions on two workers), and no other: threads are never a param, so a run on more
    cores reruns nothing."""
    from precex.script_runner import run_stage

    seen = []

    def with_cores(*, inputs: _Nothing, outputs: _Nothing, params: _Nothing, threads: int = 1):
        seen.append(threads)

    def without(*, inputs: _Nothing, outputs: _Nothing, params: _Nothing):
        seen.append("none")

    for entry in (with_cores, without):
        run_stage(_empty_job(tmp_path, threads=2), entry)
    assert seen == [2, "none"]


def test_a_job_collects_young_objects_less_often_but_still_collects_cycles(tmp_path):
    """run_stage raises the collector's thresholds for the job (the default's collections
    were 15-25 % of a week's plans job); a reference cycle made in the job is still freed."""
    import gc
    import weakref

    from precex.script_runner import JOB_GC_THRESHOLDS, run_stage

    class Node:
        pass

    seen = {}

    def entry(*, inputs: _Nothing, outputs: _Nothing, params: _Nothing) -> None:
        seen["thresholds"] = gc.get_threshold()
        cycle = Node()
        cycle.self = cycle
        seen["cycle"] = weakref.ref(cycle)
        del cycle
        kept = [[] for _ in range(3 * JOB_GC_THRESHOLDS[0])]  # enough for collections
        seen["kept"] = len(kept)

    before = gc.get_threshold()
    try:
        run_stage(_empty_job(tmp_path), entry)
    finally:
        gc.set_threshold(*before)
    assert seen["thresholds"] == JOB_GC_THRESHOLDS
    assert seen["cycle"]() is None
