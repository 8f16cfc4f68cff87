"""Atomic output files: a write either lands whole under its name or leaves nothing."""

import os
import stat

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
