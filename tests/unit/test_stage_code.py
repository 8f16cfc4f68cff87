"""precex.stage_code's on-disk cache of what each file references: a speed-up of every
Snakemake start that never changes a digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from precex import stage_code


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def reset():  # a new process: files are read and hashed again
        stage_code._parse.cache_clear()
        stage_code._file_digest.cache_clear()
        stage_code._reference_cache.cache_clear()

    reset()
    yield reset
    reset()


def test_a_changed_file_is_read_again_and_an_unchanged_one_from_the_cache(tmp_path, fresh_cache):
    module = tmp_path / "stage.py"
    module.write_text("import precex.roster\n", encoding="utf-8")
    names, _ = stage_code._parse(module)
    assert "precex.roster" in names
    stage_code._reference_cache().save()
    cached = json.loads(stage_code.cache_file().read_text(encoding="utf-8"))
    assert cached["version"] == stage_code._CACHE_VERSION and len(cached["files"]) == 1
    # The cache is what a later process reads: an entry edited there is believed...
    (entry,) = cached["files"].values()
    entry["names"].append("precex.from_the_cache")
    stage_code.cache_file().write_text(json.dumps(cached), encoding="utf-8")
    fresh_cache()
    assert "precex.from_the_cache" in stage_code._parse(module)[0]
    # ...but only for the same content: an edited file is parsed again.
    module.write_text("import precex.paths\n", encoding="utf-8")
    fresh_cache()
    names, _ = stage_code._parse(module)
    assert "precex.paths" in names and "precex.roster" not in names
    assert "precex.from_the_cache" not in names


@pytest.mark.parametrize("content", ["not json", json.dumps({"version": "older", "files": {}}),
                                     json.dumps({"version": stage_code._CACHE_VERSION,
                                                 "files": {"x": "broken"}}), "[]"])
def test_a_cache_from_another_version_or_damaged_is_ignored(tmp_path, fresh_cache, content):
    module = tmp_path / "stage.py"
    module.write_text("from precex.io.files import write_tsv\nresource_path('clinical', "
                      "'agents.tsv')\n", encoding="utf-8")
    stage_code.cache_file().parent.mkdir(parents=True)
    stage_code.cache_file().write_text(content, encoding="utf-8")
    names, resources = stage_code._parse(module)
    assert {"precex.io.files", "precex.io.files.write_tsv"} <= names
    assert resources == {("clinical", "agents.tsv")}


def test_an_unwritable_cache_only_costs_time(tmp_path, fresh_cache, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # its 'precex' folder cannot be made
    module = tmp_path / "stage.py"
    module.write_text("import precex.roster\n", encoding="utf-8")
    assert "precex.roster" in stage_code._parse(module)[0]
    stage_code._reference_cache().save()  # no error
    assert not (tmp_path / "file-not-folder" / "precex").exists()


def test_every_stage_digest_is_the_same_with_a_cold_and_a_warm_cache(tmp_path):
    code = ("import json; from precex.stage_code import stage_digests; "
            "print(json.dumps(stage_digests(), sort_keys=True))")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout for _ in range(2)]
    assert (tmp_path / "cache" / "precex" / "code-references.json").is_file()
    assert runs[0] == runs[1] and len(json.loads(runs[0])) >= 20
