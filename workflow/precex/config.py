"""Load, validate and resolve a precex configuration.

Shared by the Snakefile (through workflow/rules/common.smk) and `precex validate`, so both see
the same defaults and the same paths.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from precex.io.tokens import SWITCH_FALSE, SWITCH_TRUE, parse_bool
from precex.paths import resource_path, schema_path
from precex.problems import InputError, Problem

# Config keys naming the batch's input files; every one but `patients` may be absent.
INPUT_KEYS = (
    "patients",
    "clinical_fhir",
    "microbiome",
    "microbiome_taxonomy",
    "microbiome_sample_map",
    "microbiome_tree",
    "microbiome_reference",
    "methylation",
    "methylation_manifest",
    "methylation_sample_map",
    "variants",
    "variants_sample_map",
    "blood",
    "wearables",
    "wearables_id_map",
    "followup_wearables",
    "followup_symptoms",
    "followup_blood",
    "outcomes",
    "trial_allocation",
)
# Reference resources with a bundled default; a config may point them elsewhere.
RESOURCE_DEFAULTS = {
    "genome_gtf": ("genome", "ensembl_human_chr1_subset.gtf.gz"),
    "rulebase": ("rules", "rulebase.yaml"),
}


# libyaml's parser when PyYAML was built with it (the rule base loads in 0.03 s instead of
# 0.25 s in every prescription and adaptation job); the same safe constructors either way.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """The safe loader, except that an impossible date (2026-13-05, unquoted) stays text for
    the schema to report with the key, instead of an exception without one."""


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse YAML with the safe loader; a syntax error names the file and line."""
    try:
        with open(path, encoding="utf-8") as handle:
            loader = _Loader(handle)  # a SafeLoader subclass
            try:
                return loader.get_single_data()
            finally:
                loader.dispose()
    except FileNotFoundError:
        raise InputError([Problem(str(path), "file not found.", "check the path.")]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError(
            [Problem(str(path), f"not valid YAML{where} ({getattr(err, 'problem', err)}).",
                     "fix the YAML syntax there (quote text that contains ': ').")]
        ) from None


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            [Problem(str(path), "the config must be a mapping of keys to values.",
                     "see config/README.md for the keys.")]
        )
    return normalise_config(data)




def normalise_config(config: dict[str, Any]) -> dict[str, Any]:
    """Values as users write them, in place: an unquoted YAML date (reference_date: 2026-01-05
    is a date to YAML) becomes its ISO text, and a boolean key given as text (`--config
    research_mode=true`, `yes`, `no`) becomes a boolean. Anything else is left for the schema
    to report."""
    import datetime as dt

    props = config_schema()["properties"]
    for key, value in list(config.items()):
        if isinstance(value, dt.datetime):
            config[key] = value.date().isoformat()
        elif isinstance(value, dt.date):
            config[key] = value.isoformat()
        elif props.get(key, {}).get("type") == "boolean" and isinstance(value, str | int) \
                and not isinstance(value, bool):
            parsed = parse_bool(value, SWITCH_TRUE, SWITCH_FALSE)
            if parsed is not None:
                config[key] = parsed
    return config


def config_schema() -> dict[str, Any]:
    return load_yaml(schema_path("config.schema.yaml"))


@functools.cache
def sheet_schema() -> dict[str, Any]:
    """The patient sheet's JSON schema, parsed once per process (read-only: callers only read
    it): the sheet reader's, and the plausible range of every measurement."""
    return load_yaml(schema_path("patients.schema.yaml"))


def plausible_range(column: str) -> tuple[float, float]:
    """The one plausible range of a measurement: the patient sheet schema's minimum and
    maximum for its column (workflow/schemas/patients.schema.yaml). The sheet, the follow-up
    tables and the wearables read the same range; a value outside it is rejected."""
    spec = sheet_schema()["properties"][column]
    return float(spec["minimum"]), float(spec["maximum"])


def schema_message(err: Any) -> str:
    """A schema error as users read it: a pattern's expected form is said by the fix (the
    schema's description), never shown as a regular expression."""
    if err.validator == "pattern":
        return f"{err.instance!r} is not in the expected form"
    return str(err.message)


def validate_config(config: dict[str, Any], source: str = "config") -> list[Problem]:
    """Every schema violation as a Problem (not only the first)."""
    validator = Draft202012Validator(config_schema(),
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = []
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path)))
    dated = {tuple(e.absolute_path) for e in errors if e.validator == "format"}
    for err in errors:
        key = ".".join(str(p) for p in err.absolute_path) or None
        message = err.message
        if err.validator == "pattern":
            if tuple(err.absolute_path) in dated:  # the date's own message says it, once
                continue
            message = schema_message(err)
        if err.validator == "additionalProperties":
            fix = "remove the key or correct its spelling; config/README.md lists every key."
        elif err.validator == "required":
            fix = "add the key; config/README.md explains it."
        elif err.validator == "format" and err.validator_value == "date":
            fix = "give a real calendar date as YYYY-MM-DD (quoted or not)."
        else:
            fix = f"see the description of '{key}' in config/README.md."
        problems.append(Problem(source, message + ".", fix, column=key, stage="config"))
    return problems


@functools.cache
def _schema_defaults() -> tuple[tuple[str, Any], ...]:
    return tuple((key, spec["default"]) for key, spec in config_schema()["properties"].items()
                 if "default" in spec)


def config_default(key: str) -> Any:
    """The schema's default of a config key: the one place defaults are written."""
    return copy.deepcopy(dict(_schema_defaults())[key])


def apply_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """Top-level schema defaults for keys the config does not set (the schema is flat)."""
    out = dict(config)
    for key, default in _schema_defaults():
        if key not in out:
            out[key] = copy.deepcopy(default)
    return out


def resolve_path(path: str, base_dir: str | os.PathLike[str] | None) -> str:
    p = Path(os.path.expanduser(path))
    if not p.is_absolute():
        p = Path(base_dir or os.getcwd()) / p
    return os.path.normpath(p)


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, input and resource paths absolute (against base_dir or the cwd)."""
    out = apply_defaults(config)
    base = out.get("base_dir")
    for key in INPUT_KEYS + ("genome_gtf", "rulebase", "previous_prescriptions",
                             "pyensembl_cache_dir"):
        value = out.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            out[key] = [resolve_path(v, base) for v in value]
        else:
            out[key] = resolve_path(value, base)
    for key, parts in RESOURCE_DEFAULTS.items():
        out.setdefault(key, str(resource_path(*parts)))
    return out


def input_files(config: dict[str, Any]) -> dict[str, list[str]]:
    """Input files by config key, for checks and checksums (resolved config)."""
    files: dict[str, list[str]] = {}
    for key in INPUT_KEYS + tuple(RESOURCE_DEFAULTS):
        value = config.get(key)
        if value is None:
            continue
        files[key] = list(value) if isinstance(value, list) else [value]
    if "blood" in files:  # a folder of blood files counts as its files
        from precex.io.files import expand_inputs

        files["blood"] = expand_inputs(files["blood"])
    if "wearables" in files:  # a Fitabase folder counts as its CSV files
        from precex.io.files import expand_inputs

        files["wearables"] = expand_inputs(files["wearables"], (".csv",))
    return files
