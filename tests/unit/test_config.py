import os

from precex.config import apply_defaults, resolve_config, validate_config


def test_unknown_and_missing_keys_are_each_reported():
    problems = validate_config({"patient": "x.tsv", "shard_size": 0})
    text = " ".join(str(p) for p in problems)
    assert "patient" in text  # the typo
    assert "'patients' is a required property" in text
    assert "reference_date" in text
    assert "shard_size" in text
    assert len(problems) == 4


def test_defaults_fill_only_absent_keys():
    cfg = apply_defaults({"patients": "p.tsv", "reference_date": "2026-01-05", "shard_size": 7})
    assert cfg["shard_size"] == 7
    assert cfg["evidence_floor"] == "G2"
    assert cfg["research_mode"] is False
    assert "microbiome" not in cfg  # inputs never get a default


def test_relative_paths_resolve_against_cwd_or_base_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = resolve_config({"patients": "p.tsv", "reference_date": "2026-01-05",
                          "microbiome": ["a.biom", "/abs/b.tsv"]})
    assert cfg["patients"] == os.path.join(str(tmp_path), "p.tsv")
    assert cfg["microbiome"] == [os.path.join(str(tmp_path), "a.biom"), "/abs/b.tsv"]
    based = resolve_config({"patients": "p.tsv", "reference_date": "2026-01-05",
                            "base_dir": "/data/batch1"})
    assert based["patients"] == "/data/batch1/p.tsv"
    assert based["rulebase"].endswith(os.path.join("resources", "rules", "rulebase.yaml"))


def test_yaml_loader_reads_shipped_files_like_the_pure_python_safe_loader():
    """load_yaml uses libyaml when PyYAML has it: every YAML file precex ships must load
    exactly as yaml.safe_load reads it (impossible dates aside, which none of them has)."""
    from pathlib import Path

    import yaml
    from precex.config import load_yaml

    root = Path(__file__).resolve().parents[2]
    files = [p for folder in ("resources", "config", "workflow") for p in
             (root / folder).rglob("*.y*ml") if p.suffix in (".yaml", ".yml")]
    assert len(files) > 5
    for path in files:
        with open(path, encoding="utf-8") as handle:
            assert load_yaml(path) == yaml.load(handle, Loader=yaml.SafeLoader), path


def test_impossible_unquoted_date_stays_text_for_the_schema(tmp_path):
    from precex.config import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("reference_date: 2026-13-05\nother: 2026-01-05\n", encoding="utf-8")
    loaded = load_yaml(path)
    assert loaded["reference_date"] == "2026-13-05"
    assert str(loaded["other"]) == "2026-01-05" and not isinstance(loaded["other"], str)


def test_a_date_in_the_wrong_form_is_one_problem_without_a_regular_expression():
    """'05/01/2026' gave the raw pattern and a format error for the same key (issue 42)."""
    from precex.config import validate_config

    problems = validate_config({"patients": "p.tsv", "reference_date": "05/01/2026"}, "c.yaml")
    assert len(problems) == 1
    text = str(problems[0])
    assert "key 'reference_date'" in text and "YYYY-MM-DD" in text and "\\d" not in text
