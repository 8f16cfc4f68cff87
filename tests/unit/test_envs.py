"""envs/*.yaml are generated from pyproject.toml, every rule names an env, and the lock (CI's
constraints) lies within pyproject's ranges."""

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
    # every runtime dependency a job needs is in some env; the precex command's own ones
    # (snakemake runs the jobs, tqdm draws its progress) need not be
    cli_only = {canonical(n) for n in _pyproject()["tool"]["precex"]["envs"]["cli-only"]}
    assert set(project) - covered == cli_only


def rule_env(body: str) -> str | None:
    """The env group a rule's body names: ENVS["group"], or get_env("stage") (the group of
    that modality's registry entry)."""
    from precex.modalities import by_name

    named = re.search(r'conda:\n\s+ENVS\["(\w+)"\]', body)
    if named:
        return named.group(1)
    modality = re.search(r'conda:\n\s+get_env\("(\w+)"\)', body)
    return by_name(modality.group(1)).env if modality else None


def rules_with_bodies() -> list[tuple[str, str]]:
    text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    return re.findall(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t].*\n|\n)*)", text, flags=re.M)


def test_every_rule_names_an_existing_env():
    rules = rules_with_bodies()
    assert len(rules) > 15
    for rule, body in rules:
        group = rule_env(body)
        assert group, f"rule {rule} names no conda env"
        assert (REPO / "envs" / f"{group}.yaml").is_file()


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_committed_envs_are_exactly_what_make_envs_generates():
    """One source: the ranges in pyproject.toml and its [tool.precex.envs] table."""
    import runpy

    make_envs = runpy.run_path(str(REPO / ".ci" / "make_envs.py"))
    generated = make_envs["env_files"](_pyproject())
    assert sorted(generated) == sorted(p.name for p in (REPO / "envs").glob("*.yaml"))
    for name, text in generated.items():
        assert (REPO / "envs" / name).read_text() == text, \
            f"envs/{name} differs: run `python .ci/make_envs.py`"


def test_the_env_table_names_the_rules_that_use_each_env():
    uses: dict[str, set[str]] = {}
    for rule, body in rules_with_bodies():
        uses.setdefault(rule_env(body), set()).add(rule)
    table = _pyproject()["tool"]["precex"]["envs"]
    declared = {group: {r.strip() for r in spec["rules"].split(",")}
                for group, spec in table.items() if isinstance(spec, dict)}
    assert declared == uses


def test_the_lock_pins_every_dependency_within_its_pyproject_range():
    """envs/requirements.lock (CI's constraints) holds one exact version per package, and each
    direct dependency's locked version lies in pyproject's range."""
    locked = {}
    for line in (REPO / "envs" / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            specs = list(req.specifier)
            assert len(specs) == 1 and specs[0].operator == "==", line
            assert canonical(req.name) not in locked, f"{req.name} locked twice"
            locked[canonical(req.name)] = specs[0].version
    project = _pyproject()["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["test"]
    for dep in direct:
        req = Requirement(dep)
        name = canonical(req.name)
        assert name in locked, f"{req.name} is not in envs/requirements.lock: run .ci/lock"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"{req.name}=={locked[name]} is outside {req.specifier}"
