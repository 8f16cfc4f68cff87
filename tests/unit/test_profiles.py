"""The bundled workflow profiles leave a site's default resources alone: Snakemake lets a
workflow profile's keys replace those of --profile key by key, so a `default-resources` block
here would drop a site profile's partition and account (found on a real cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

PROFILES = sorted((Path(__file__).resolve().parents[2] / "workflow/profiles").glob("*/config.yaml"))


@pytest.mark.parametrize("profile", PROFILES, ids=[p.parent.name for p in PROFILES])
def test_a_bundled_profile_sets_no_default_resources(profile):
    assert "default-resources" not in (yaml.safe_load(profile.read_text()) or {})


def test_every_rule_declares_what_a_cluster_job_needs():
    """With no default resources from the bundled profile, each job's memory, time and cores
    come from its rule."""
    rules = Path(__file__).resolve().parents[2] / "workflow/rules"
    text = "\n".join(p.read_text() for p in sorted(rules.glob("*.smk")))
    blocks = [b for b in text.split("\nrule ")[1:] + text.split("\ncheckpoint ")[1:]]
    assert len(blocks) >= 20
    for block in blocks:
        name = block.split(":", 1)[0]
        body = block.split("\nrule ", 1)[0]
        if "localrule: True" in body or name == "all":
            continue
        assert "threads:" in body and "mem_mb=" in body and "runtime=" in body, name


def test_tiny_jobs_are_local_rules_and_the_readme_names_them():
    """Jobs that only join small tables or link files run on the login node: one SLURM job
    each would cost more than its work (issue 42). The real SLURM run checks what ran where."""
    root = Path(__file__).resolve().parents[2]
    text = "\n".join(p.read_text() for p in sorted((root / "workflow/rules").glob("*.smk")))
    local = {block.split(":", 1)[0] for block in text.split("\nrule ")[1:]
             if "localrule: True" in block.split("\nrule ", 1)[0].split("\ncheckpoint ", 1)[0]}
    assert local == {"collect_prescriptions", "exclusions", "adapt", "report_provenance",
                     "publish_shard"}
    readme = (root / "README.md").read_text()
    assert all(f"`{name}`" in readme.split("are `localrule`s")[0][-400:] for name in local)
