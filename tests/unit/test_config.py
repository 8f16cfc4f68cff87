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
