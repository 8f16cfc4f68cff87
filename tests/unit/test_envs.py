"""envs/*.yaml and pyproject.toml pin the same versions, and every rule names an env."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for dep in project["dependencies"]:
        req = Requirement(dep)
        pins[canonical(req.name)] = str(req.specifier)
    return pins


def env_pins(path: Path) -> dict[str, str]:
    pins = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            req = Requirement(entry.replace(" ", ""))
            pins[canonical(req.name)] = str(req.specifier)
    return pins


def test_every_env_pin_matches_pyproject():
    project = pyproject_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    covered = set()
    for env in envs:
        for name, spec in env_pins(env).items():
            if name in ("python", "pip"):
                continue
            assert name in project, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert spec == project[name], f"{env.name}: {name} {spec} != {project[name]}"
            covered.add(name)
    # every runtime dependency a job needs is in some env (snakemake runs the jobs themselves)
    assert set(project) - covered == {"snakemake"}


def test_every_rule_names_an_existing_env():
    rules_dir = REPO / "workflow" / "rules"
    text = "".join(p.read_text() for p in rules_dir.glob("*.smk"))
    n_rules = len(re.findall(r"^(?:rule|checkpoint) (?!all)\w+:", text, flags=re.M))
    used = re.findall(r'conda:\n\s+ENVS\["(\w+)"\]', text)
    assert len(used) == n_rules
    for group in set(used):
        assert (REPO / "envs" / f"{group}.yaml").is_file()
