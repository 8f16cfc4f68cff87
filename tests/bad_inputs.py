"""The bad-input corpus (tests/data/bad_inputs/cases.yaml): apply a case to a demo cohort.

A case names the input it breaks (`target`: a config key, `config` or `sheet`), how (`edit`)
and what precex must do (`expect`):

- `exclusion: {patient, stage, reason}`: the run succeeds and the patient is in
  results/exclusions.tsv (or results/adaptations/exclusions.tsv for stage adaptation) with
  that stage and a reason containing the text;
- `problem: {file, row, message}`: the run succeeds and a results/**/problems.tsv row names the
  file, the row (when given) and the message; the patient keeps the rest of its data;
- `error: {messages: [...]}`: the run stops with a non-zero exit code and the messages on
  stderr (each naming the file, the row or item, and the fix). Every stop is checked
  in-process through `precex validate` (tests/unit/test_bad_input_stops.py: the same readers
  and checks a run's jobs use, in a fraction of a second); a case with `real_run: true` is
  also run through `precex run` (tests/e2e/test_bad_inputs.py), one per layer where a run
  stops (config and rule base at workflow parse, the sheet in its job, a modality in its job),
  and a case with `validate: false` is one that only a run finds.

Edits (the corpus files live in tests/data/bad_inputs/files/):

- `set_cell: {patient, column, value, nth}`: the patient's first (or nth, from 0) row of a
  table with patient_id;
- `set_sample: {sample, row, value}`: a cell of a matrix with one column per sample;
- `replace: {find, with}`: the first occurrence of a text (gzip files are edited unzipped);
- `append: LINE` adds a line; `drop_column: NAME` removes a column of a table;
- `file: NAME` replaces the input with a corpus file;
- `config: {key: value}` sets config keys (null deletes the key);
- a list of edits applies each in turn.

A case on the rule base edits a copy of the bundled one.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

CORPUS = Path(__file__).resolve().parent / "data" / "bad_inputs"
BUNDLED_RULEBASE = Path(__file__).resolve().parents[1] / "resources" / "rules" / "rulebase.yaml"


def load_cases() -> list[dict[str, Any]]:
    return yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))["cases"]


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def _write_text(path: Path, text: str) -> None:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")


def _read_table(path: Path) -> tuple[list[str], pd.DataFrame]:
    """Leading comment lines kept apart (MetaPhlAn and manifests have them)."""
    lines = _read_text(path).splitlines()
    comments = [line for line in lines if line.startswith("#")]
    body = [line.split("\t") for line in lines if not line.startswith("#")]
    return comments, pd.DataFrame(body[1:], columns=body[0])


def _write_table(path: Path, comments: list[str], frame: pd.DataFrame) -> None:
    rows = ["\t".join(frame.columns)] + ["\t".join(map(str, r)) for r in frame.to_numpy()]
    _write_text(path, "\n".join(comments + rows) + "\n")


def input_path(cohort: Path, config: dict[str, Any], target: str, index: int = 0) -> Path:
    """The file a case edits; `index` picks one of a list (microbiome: [BIOM, MetaPhlAn])."""
    if target == "config":
        return cohort / "config.yaml"
    value = config.get(target, target)
    return cohort / (value[index] if isinstance(value, list) else value)


def apply_case(case: dict[str, Any], cohort: Path) -> None:
    """Edit the cohort in place (its config.yaml and input files) as the case says."""
    if isinstance(case["edit"], list):
        for edit in case["edit"]:
            apply_case({**case, "edit": edit}, cohort)
        return
    config_path = cohort / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    edit = case["edit"]
    if "config" in edit:
        for key, value in edit["config"].items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        config_path.write_text(yaml.safe_dump(config, sort_keys=True))
        return
    if case["target"] == "rulebase" and "rulebase" not in config:  # edit a copy of the bundled
        shutil.copyfile(BUNDLED_RULEBASE, cohort / "rulebase.yaml")
        config["rulebase"] = "rulebase.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=True))
    path = input_path(cohort, config, case["target"], case.get("index", 0))
    if "file" in edit:
        target = path.with_name(Path(edit["file"]).name) if case["target"] != "config" else path
        shutil.copyfile(CORPUS / "files" / edit["file"], target)
        if case["target"] != "config":
            value = config.get(case["target"], "")
            name = target.name
            config[case["target"]] = [name, *value[1:]] if isinstance(value, list) else name
            config_path.write_text(yaml.safe_dump(config, sort_keys=True))
    elif "set_cell" in edit:
        spec = edit["set_cell"]
        comments, table = _read_table(path)
        first = table.index[table["patient_id"] == spec["patient"]][spec.get("nth", 0)]
        table.loc[first, spec["column"]] = str(spec["value"])
        _write_table(path, comments, table)
    elif "set_sample" in edit:
        spec = edit["set_sample"]
        comments, table = _read_table(path)
        table.loc[spec["row"], spec["sample"]] = str(spec["value"])
        _write_table(path, comments, table)
    elif "drop_column" in edit:
        comments, table = _read_table(path)
        _write_table(path, comments, table.drop(columns=edit["drop_column"]))
    elif "replace" in edit:
        text = _read_text(path)
        find = edit["replace"]["find"]
        assert find in text, f"case {case['id']}: '{find}' not in {path.name}"
        _write_text(path, text.replace(find, edit["replace"]["with"], 1))
    elif "append" in edit:
        text = _read_text(path)
        _write_text(path, text + ("" if text.endswith("\n") else "\n") + edit["append"] + "\n")
    else:
        raise ValueError(f"case {case['id']}: unknown edit {sorted(edit)}")
