"""The `precex` command: run the workflow, make a demo cohort, validate a batch's inputs.

precex run [snakemake arguments...]    Snakemake with the packaged Snakefile; every argument
                                       is forwarded verbatim (profiles, --cores, targets...)
precex demo --patients N --seed S --out DIR
precex validate [--configfile F | --demo]  every problem in config, sheet and inputs; exit 1
                                       if any (2 without a config outside a precex checkout)
precex adapt --prescription P.json --wearables DAYS.tsv [--symptoms S.tsv] --out P.week-N.json
precex trial allocate --patients sheet.tsv --log allocation.tsv --seed 7
precex review [--configfile F] [--all]  prescriptions awaiting a clinician's review
precex signoff --patient P [--week N] --by ID --decision approve|amend|reject [--note ...]
precex serve [--results results] [--host 127.0.0.1] [--port 8765]   the review page
precex users add --user ID [--name "Dr A"] | precex users remove --user ID

Exit codes: 0 success; 1 input problems (each named with file, row or item, and the fix);
2 a command line that argparse rejects; 130/143 `precex run` stopped by Ctrl-C/SIGTERM.
`precex run` otherwise returns Snakemake's exit code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from precex import __version__
from precex.paths import workflow_root
from precex.problems import InputError, Problem

RUN_HELP = """usage: precex run [snakemake arguments...]

Run Snakemake with the packaged Snakefile. Every argument is forwarded to Snakemake verbatim
and in order; precex adds only --snakefile (unless you give one) and never a profile, so your
own profile and settings apply. Common options:

  --cores N             cores to use (required for local runs without a profile)
  --configfile F        your batch's config (replaces the bundled demo config entirely)
  --demo                run the bundled 30-patient demo cohort (precex's own option: outside
                        a precex checkout a run without a config that names the patients
                        stops and says so, so that the demo never lands in a real batch)
  -n, --dry-run         show the jobs without running them
  --unlock              remove a stale lock left by a killed run
  --rerun-incomplete    rerun jobs whose outputs were left incomplete
  --workflow-profile P  a workflow profile: a folder, or a bundled one by name (slurm)
  --profile DIR         your own (site) profile, applied on top of the workflow profile
  --verbose             Snakemake's full output and third-party logging in job logs
                        (default on a terminal: one progress bar per stage)

Ctrl-C (or SIGTERM) stops Snakemake and every job it started, then prints what finished and
the command that resumes the run (exit code 130, or 143 for SIGTERM).

All other Snakemake options work too: see `snakemake --help`.
"""


def bundled_profiles(args: list[str]) -> list[str]:
    """`--workflow-profile NAME` names a profile shipped with precex (default, slurm) unless a
    folder of that name exists here; every other argument is left exactly as given."""
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg == "--workflow-profile" and not os.path.exists(out[i + 1]):
            bundled = workflow_root() / "workflow" / "profiles" / out[i + 1]
            if bundled.is_dir():
                out[i + 1] = str(bundled)
    return out


def _profile_configfiles(forwarded: list[str]) -> bool:
    """Whether a --profile or --workflow-profile folder sets a configfile or the patients."""
    import yaml

    for i, arg in enumerate(forwarded[:-1]):
        if arg not in ("--profile", "--workflow-profile"):
            continue
        path = Path(forwarded[i + 1]) / "config.yaml"
        try:
            profile = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(profile, dict) and (
                {"configfile", "configfiles"} & set(profile)
                or "patients" in str(profile.get("config", ""))):
            return True
    return False


def names_a_batch(forwarded: list[str]) -> bool:
    """Whether the arguments give a config naming the patients (a --configfile, a
    `--config patients=...`, or a profile with a configfile)."""
    return bool(_configfile_paths(forwarded)) or any(
        a.startswith("patients=") for a in forwarded) or _profile_configfiles(forwarded)


def inside_checkout(folder: Path) -> bool:
    """A folder inside a git checkout of precex, where the bundled demo is the default."""
    root = workflow_root()
    if not (root / ".git").exists():
        return False
    folder = folder.resolve()
    return folder == root.resolve() or root.resolve() in folder.parents


def demo_refusal(command: str, folder: Path) -> str:
    return (f"precex {command}: no config names your batch's patients (--configfile), so this "
            f"would {'run' if command == 'run' else 'check'} the bundled 30-patient demo cohort"
            f"{' into ' + str(folder / 'results') if command == 'run' else ''} instead.\n"
            f"  Your batch: precex {command} --configfile batch.yaml"
            f"{' --cores 2' if command == 'run' else ''}\n"
            f"  The demo, on purpose: precex {command} --demo"
            f"{' --cores 2' if command == 'run' else ''} (or `precex demo --out DIR` writes a "
            "demo cohort with its config.yaml to run or edit)")


def _run(user_args: list[str]) -> int:
    from precex.run_monitor import run_snakemake

    if any(a in ("-h", "--help") for a in user_args):
        print(RUN_HELP, end="")
        return 0
    given = list(user_args)  # the resume hint repeats them, --demo included
    demo = "--demo" in user_args
    user_args = [a for a in user_args if a != "--demo"]
    folder = Path(_working_folder(user_args)).resolve()
    if demo and names_a_batch(user_args):
        print("precex run: --demo runs the bundled demo cohort; it takes no --configfile or "
              "`--config patients=...` (drop one of them).", file=sys.stderr)
        return 2
    if not demo and not names_a_batch(user_args) and not inside_checkout(folder):
        print(demo_refusal("run", folder), file=sys.stderr)
        return 2
    verbose = "--verbose" in user_args  # precex's own option; Snakemake also takes it
    forwarded = bundled_profiles(user_args)
    broken = _unreadable_configfiles(forwarded)
    if broken:  # Snakemake's own message names neither the file nor the line
        print(f"precex: {broken}", file=sys.stderr)
        return 1
    if not any(a in ("--snakefile", "-s") or a.startswith("--snakefile=") for a in forwarded):
        forwarded = ["--snakefile", str(workflow_root() / "Snakefile"), *forwarded]
    moved = note_moved_install(workflow_root(), Path(_working_folder(forwarded)))
    if moved:
        print(moved, file=sys.stderr)
    env = dict(os.environ, PRECEX_VERBOSE="1") if verbose else None
    code = run_snakemake([sys.executable, "-m", "snakemake", *forwarded], user_args=given,
                         verbose=verbose, shard_sizes=lambda: shard_sizes(forwarded), env=env)
    if code == 0 and not NOT_A_RUN & set(user_args):
        from precex.run_summary import run_summary

        summary = run_summary(results_folder(forwarded))
        if summary:
            print(summary, file=sys.stderr)
    return code


# Snakemake options after which no batch was run (no summary is printed).
NOT_A_RUN = {"-n", "--dry-run", "--dryrun", "--report", "--unlock", "--lint", "--dag",
             "--rulegraph", "--filegraph", "--list", "-l", "--list-rules", "--summary", "-S",
             "--detailed-summary", "-D", "--touch", "-t", "--cleanup-metadata",
             "--delete-all-output", "--delete-temp-output", "--list-changes", "--lc",
             "--list-input-changes", "--li", "--list-params-changes", "--lp",
             "--list-code-changes", "--create-envs-only", "--conda-create-envs-only"}


def results_folder(forwarded: list[str]) -> Path:
    """The batch's results folder: `results` in the config files or `--config`, relative to
    the working folder (default results/)."""
    from precex.config import load_config_file

    results = "results"
    for path in _configfile_paths(forwarded):
        try:
            results = str(load_config_file(path).get("results", results))
        except InputError:
            continue
    for arg in forwarded:
        if arg.startswith("results="):
            results = arg.split("=", 1)[1]
    return Path(_working_folder(forwarded)) / results


def _working_folder(forwarded: list[str]) -> str:
    for i, arg in enumerate(forwarded):
        if arg in ("-d", "--directory") and i + 1 < len(forwarded):
            return forwarded[i + 1]
        if arg.startswith("--directory="):
            return arg.split("=", 1)[1]
    return "."


def note_moved_install(root: Path, folder: Path) -> str | None:
    """Say so when this folder's results were made by precex installed elsewhere (e.g. `pip
    install .` then `pip install -e .`): Snakemake checks input paths, so jobs whose bundled
    inputs moved run again. The record sits in Snakemake's own metadata folder."""
    record = folder / ".snakemake" / "precex_workflow_root"
    try:
        previous = record.read_text(encoding="utf-8").strip() if record.is_file() else ""
        if previous != str(root):
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(f"{root}\n", encoding="utf-8")
    except OSError:  # a read-only folder: Snakemake will say what matters
        return None
    if previous and previous != str(root):
        return (f"precex: this folder's results were made by precex installed at {previous}; "
                f"it now runs from {root}. Jobs whose bundled inputs (demo data, rule base, "
                "notebooks) moved will run again, because Snakemake checks input paths. Keep "
                "one installation per batch folder to avoid it.")
    return None


def shard_sizes(forwarded: list[str]) -> dict[str, int]:
    """Patients per shard as the Snakefile will assign them (for the progress bars)."""
    from precex.config import load_config_file, resolve_config
    from precex.sharding import assign_shards, raw_patient_ids

    paths = _configfile_paths(forwarded)
    merged: dict[str, Any] = {}
    for path in paths or [str(demo_config())]:
        merged.update(load_config_file(path))
    if not paths:
        merged.setdefault("base_dir", str(demo_config().parent))
    config = resolve_config(merged)
    shards = assign_shards(raw_patient_ids(config["patients"]), config["shard_size"])
    return {name: len(ids) for name, ids in shards.items()}


def demo_config() -> Path:
    """The bundled demo cohort's config (its paths are relative to its own folder)."""
    return workflow_root() / "resources" / "demo" / "config.yaml"


def _configfile_paths(forwarded: list[str]) -> list[str]:
    paths, taking = [], False
    for arg in forwarded:
        if arg.startswith("--configfile="):
            paths.append(arg.split("=", 1)[1])
        elif arg in ("--configfile", "--configfiles"):
            taking = True
        elif taking and not arg.startswith("-"):
            paths.append(arg)
        else:
            taking = False
    return paths


def _unreadable_configfiles(forwarded: list[str]) -> str | None:
    """The first --configfile that is not a readable YAML mapping, as a message."""
    from precex.config import load_config_file

    paths, overrides, taking = [], {}, ""
    for arg in forwarded:
        if arg.startswith("--configfile="):
            paths.append(arg.split("=", 1)[1])
            continue
        if arg in ("--configfile", "--configfiles", "--config", "-C"):
            taking = "file" if arg.startswith("--configfile") else "value"
            continue
        if taking and not arg.startswith("-"):
            if taking == "file":
                paths.append(arg)
            elif "=" in arg:
                key, value = arg.split("=", 1)
                overrides[key] = value
        else:
            taking = ""
    merged: dict = {}
    for path in paths:
        try:
            merged.update(load_config_file(path))
        except InputError as err:
            return str(err)
    if paths:  # the same messages as precex validate, never a schema dump from Snakemake
        import yaml

        from precex.config import normalise_config, validate_config

        for key, value in overrides.items():  # --config key=value, read as Snakemake does
            try:
                merged[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                merged[key] = value
        problems = validate_config(normalise_config(merged), ", ".join(paths))
        # a missing input file said as validate says it, not as Snakemake's
        # MissingInputException (issue 42); paths are relative to the run's folder
        if not problems:
            from precex.config import resolve_config

            folder = os.path.abspath(_working_folder(forwarded))
            problems = [problem for _, problem in missing_inputs(
                resolve_config({"base_dir": folder, **merged}), ", ".join(paths))]
        if problems:
            return str(InputError(problems)) + "\nRun `precex validate --configfile " \
                f"{paths[-1]}` to check every input too."
    return None


def missing_inputs(config: dict[str, Any], source: str) -> list[tuple[str, Problem]]:
    """(config key, problem) for each input file the resolved config names that is not
    there: the one check `precex validate` and `precex run` make."""
    from precex.config import input_files

    return [(key, Problem(path, "file not found.", f"check '{key}' in {source}.",
                          stage="files"))
            for key, files in input_files(config).items() for path in files
            if not os.path.isfile(path)]


def _demo(args: argparse.Namespace) -> int:
    from precex.demo.cohort import REFERENCE_DATE, generate_cohort, write_cohort

    if args.patients < 1:
        print("precex demo: --patients must be at least 1.", file=sys.stderr)
        return 2
    ref = dt.date.fromisoformat(args.reference_date) if args.reference_date else REFERENCE_DATE
    cohort = generate_cohort(args.patients, args.seed, ref, args.followup_weeks)
    write_cohort(cohort, args.out)
    print(f"Wrote a {args.patients}-patient demo cohort (seed {args.seed}) to {args.out}.\n"
          f"Run it with: cd {args.out} && precex run --configfile config.yaml --cores 2")
    return 0


def check_inputs(config: dict[str, Any]) -> list[Problem]:
    """Read every configured input as the stages would, collecting problems (no outputs):
    the sheet, the rule base, then each configured modality's own checks (precex.modalities)."""
    from precex.clinical.validate_stage import read_sheet_with_ehr
    from precex.modalities import optional, resolve
    from precex.prescription.rules import load_rulebase
    from precex.problems import attempt
    from precex.rule_features import rule_features

    problems: list[Problem] = []
    sheet = attempt(problems, read_sheet_with_ehr, config["patients"],
                    config.get("clinical_fhir"), str(config["reference_date"]))
    patients: set[str] = set()
    excluded: frozenset[str] = frozenset()
    if sheet is not None:
        problems.extend(sheet.problems)
        patients = set(sheet.patients.index)
        excluded = frozenset(p.patient_id for p in sheet.problems
                             if p.patient_id and p.excludes)
    attempt(problems, load_rulebase, config["rulebase"], rule_features())
    for modality in optional():
        if config.get(modality.config_key) and modality.check:
            problems.extend(resolve(modality.check)(config, patients, excluded))
    return problems


LAYERS = (("config", "Config"), ("files", "Files"), ("sheet", "Patient sheet"),
          ("inputs", "Inputs"))


def _layer(problem: Problem) -> str:
    if problem.stage in ("config", "files", "sheet"):
        return problem.stage
    return "inputs"


def grouped_report(problems: list[Problem]) -> list[str]:
    """Problems by layer; the same message in many rows is one line with its count and rows."""
    lines: list[str] = []
    for layer, title in LAYERS:
        mine = [p for p in problems if _layer(p) == layer]
        if not mine:
            continue
        groups: dict[tuple, list[Problem]] = {}
        for p in mine:
            # the same message about many rows, or (without rows) about many columns
            key = (os.path.basename(p.file), p.column if p.row is not None else None,
                   re.sub(r"'[^']*'", "'...'", p.message), p.fix, p.excludes)
            groups.setdefault(key, []).append(p)
        lines.append(f"{title} ({len(mine)}):")
        for items in groups.values():
            first = items[0]
            if len(items) == 1:
                lines.append(f"  - {first}")
                continue
            if all(p.row is None for p in items):  # a note per column ('x' read as 'y')
                pattern = re.sub(r"'[^']*'", "...", first.message.removesuffix("."))
                named = "; ".join(" -> ".join(re.findall(r"'([^']*)'", p.message)) or "-"
                                  for p in items)
                lines.append(f"  - {first.file}: {len(items)} x {pattern}: {named}."
                             + (f" Fix: {first.fix}" if first.fix else ""))
                continue
            rows = ", ".join(str(p.row) for p in items[:8] if p.row is not None)
            more = " ..." if len(items) > 8 else ""
            lines.append(f"  - {len(items)} x {first} (rows {rows}{more})")
    return lines


def _validate(args: argparse.Namespace) -> int:
    """Every layer in one pass: config, files, sheet and inputs, all problems listed."""
    from precex.config import (
        apply_defaults,
        config_schema,
        load_config_file,
        resolve_config,
        validate_config,
    )

    if args.configfile:
        source = args.configfile
        base = None
    elif not args.demo and not inside_checkout(Path.cwd()):
        print(demo_refusal("validate", Path.cwd()), file=sys.stderr)
        return 2
    else:
        source = str(demo_config())
        base = str(demo_config().parent)
    try:
        raw = load_config_file(source)
    except InputError as err:  # no config to check the rest against
        print(err, file=sys.stderr)
        return 1
    found = validate_config(raw, source)
    # Check the other layers with what is usable: a key with a schema error is left out (its
    # default used), and the checks that need a missing required key are skipped, said so.
    bad_keys = {p.column.split(".")[0] for p in found if p.column}
    usable = {k: v for k, v in raw.items() if k not in bad_keys and
              k in config_schema()["properties"]}
    if base:
        usable.setdefault("base_dir", base)
    config = resolve_config(apply_defaults(usable))
    missing = missing_inputs(config, source)
    for key in {key for key, _ in missing}:
        config.pop(key, None)
    found += [problem for _, problem in missing]
    if config.get("report_pdf"):  # the report jobs would stop on it: say so now
        from precex.reporting.pdf import require_chromium

        try:
            require_chromium(source)
        except InputError as err:
            found += err.problems
    if "reference_date" not in config:  # still check the inputs, against today's date
        config["reference_date"] = dt.date.today().isoformat()
    if "patients" not in config:
        found.append(Problem(source, "the patient sheet and inputs were not checked: "
                             "'patients' is missing or invalid.",
                             "fix the config problems above.", stage="config"))
    else:
        found += check_inputs(config)
    problems = [p for p in found if p.excludes]
    issues = [p for p in found if not p.excludes]
    if problems:  # first: what must be fixed (the notes below must not bury it)
        n = len(problems)
        print(f"{n} input problem{'s' if n != 1 else ''} found:", file=sys.stderr)
        print("\n".join(grouped_report(problems)), file=sys.stderr)
    if issues:  # named, handled conservatively by the pipeline, never excluding
        print(f"{len(issues)} data issue{'s' if len(issues) != 1 else ''} and notes (the "
              "pipeline handles them conservatively; the patients are still prescribed):",
              file=sys.stderr)
        print("\n".join(grouped_report(issues)), file=sys.stderr)
    if problems:
        n = len(problems)
        print(f"{source}: {n} input problem{'s' if n != 1 else ''} to fix (listed first, "
              "above).", file=sys.stderr)
        return 1
    print(f"{source}: config, patient sheet and every input are valid"
          + (" (with the data issues above)." if issues else "."))
    return 0


def _adapt(args: argparse.Namespace) -> int:
    from precex.adaptation.stage import adapt_one
    from precex.paths import resource_path

    rulebase = args.rulebase or str(resource_path("rules", "rulebase.yaml"))
    try:
        adapted = adapt_one(args.prescription, args.wearables, args.symptoms, args.out, rulebase)
    except InputError as err:
        print(err, file=sys.stderr)
        return 1
    a = adapted["adaptation"]
    print(f"{adapted['patient_id']}: weekly update {a['week']}: {a['decision']} (plan week "
          f"{a['previous_week']} -> {a['current_week']}), status {adapted['status']}; "
          f"wrote {args.out}")
    return 0


def _trial_allocate(args: argparse.Namespace) -> int:
    """Allocate the sheet's valid patients not yet in the log; print the balance by stratum."""
    from precex.clinical.sheet import read_patient_sheet
    from precex.config import load_config_file
    from precex.trial.allocation import Settings, allocate, balance

    try:
        config = load_config_file(args.configfile) if args.configfile else {}
        patients = args.patients or config.get("patients")
        log_path = args.log or config.get("trial_allocation")
        if not patients or not log_path:
            print("precex trial allocate: give --patients and --log (or a --configfile with "
                  "patients and trial_allocation).", file=sys.stderr)
            return 2
        strata = tuple(args.strata or config.get("trial_strata") or
                       ("subtype", "treatment_phase"))
        sizes = tuple(args.block_sizes or config.get("trial_block_sizes") or (2, 4, 6))
        seed = args.seed if args.seed is not None else config.get("trial_seed")
        if seed is None:
            print("precex trial allocate: give --seed (or trial_seed in the config); it is "
                  "recorded in the log.", file=sys.stderr)
            return 2
        sheet = read_patient_sheet(patients)
        unknown = [s for s in strata if s not in sheet.patients.columns]
        if unknown:
            print(f"precex trial allocate: strata column(s) {', '.join(unknown)} are not in "
                  f"the sheet {patients}.", file=sys.stderr)
            return 1
        log, added = allocate(sheet.patients, Settings(int(seed), strata, sizes), log_path)
    except InputError as err:
        print(err, file=sys.stderr)
        return 1
    for problem in sheet.problems:
        print(f"not allocated: {problem}", file=sys.stderr)
    print(f"Allocated {len(added)} new patient(s); {len(log)} in {log_path}.")
    print(balance(log).to_string())
    return 0


def _batch_paths(configfile: str | None) -> tuple[str, str]:
    """(results folder, sign-off log) of the batch run in this folder with this config."""
    from precex.config import apply_defaults, load_config_file

    config = apply_defaults(load_config_file(configfile) if configfile else {})
    return config["results"], config["signoff_log"]


def queue_text(queue: Any, width: int = 100) -> str:
    """The review queue fitted to the terminal: one line per plan (patient, week, status,
    triage, sign-off, signer), its trigger and what it needs wrapped below it (one wide table
    was about 230 characters; issue 42)."""
    width = max(60, width)
    short = ["patient_id", "week", "status", "triage", "signoff", "signed_by"]
    cells = [[str(row.get(c, "") or "-") for c in short] for row in queue.to_dict("records")]
    sizes = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(short)]
    lines = ["  ".join(c.ljust(n) for c, n in zip(short, sizes, strict=True)).rstrip()]
    for row, record in zip(cells, queue.to_dict("records"), strict=True):
        lines.append("  ".join(c.ljust(n) for c, n in zip(row, sizes, strict=True)).rstrip())
        for key in ("trigger", "needs"):
            if record.get(key):
                lines += textwrap.wrap(f"{key}: {record[key]}", width, initial_indent="    ",
                                       subsequent_indent="      ", break_on_hyphens=False)
    return "\n".join(line[:width] for line in lines)


def _review(args: argparse.Namespace) -> int:
    """Print the prescriptions awaiting a clinician's review, most urgent first."""
    from precex.prescription.review import review_queue

    try:
        config = _serve_config(args.configfile)  # read once: results, log and users
        results = config["results"]
        queue = review_queue(results, config["signoff_log"], users=config["review_users"],
                             include_signed=args.all)
    except InputError as err:
        print(err, file=sys.stderr)
        return 1
    if queue.attrs.get("problems"):  # a log that does not verify: first, and every plan draft
        print("Not everything could be read. A sign-off log that does not verify gives no "
              "decision (every plan is a draft until it is restored); a file that is not a "
              "plan is left out:\n" + "\n".join(
                  f"  - {p}" for p in queue.attrs["problems"]), file=sys.stderr)
    if not len(queue):
        print(f"Nothing to review: every prescription in {results} is signed.")
        return 0
    width = shutil.get_terminal_size((100, 24)).columns
    print(queue_text(queue, width))
    print("\n" + textwrap.fill(
        f"{len(queue)} plan(s) to review. Sign one with: precex signoff --patient ID "
        "[--week N] --by YOUR-ID --decision approve|amend|reject [--note ...], or in the "
        "browser: precex serve", max(60, width), break_on_hyphens=False,
        break_long_words=False))
    return 0


def _signoff(args: argparse.Namespace) -> int:
    """Record one clinician decision on a patient's current prescription."""
    import getpass

    from precex.prescription.review import record_decision
    from precex.review_app.users import authenticate, read_users, user_signing_key

    try:
        results, log_path = _batch_paths(args.configfile)
        users = args.users or _serve_config(args.configfile)["review_users"]
        # The signer is who they say: a user of the users file, with their password (as on
        # the review page); any name could be typed otherwise.
        if not read_users(users):
            raise InputError([Problem(users, "there are no review users, so nobody can sign.",
                                      "add yourself first: `precex users add --user YOUR-ID`.",
                                      stage="signoff")])
        if args.password_stdin:  # for scripts: the first line of standard input
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.by}: ")
        else:
            raise InputError([Problem(users, "no password: standard input is not a terminal.",
                                      "give --password-stdin and the password on standard "
                                      "input.", stage="signoff")])
        if authenticate(users, args.by, password) is None:
            raise InputError([Problem(users, f"'{args.by}' is not a review user, or the "
                                      "password is wrong; nothing was signed.",
                                      "sign with your own user ID and password (precex users "
                                      "add).", stage="signoff")])
        key = user_signing_key(users, args.by, password)  # the decision is signed with it
        if key is None:
            raise InputError([Problem(users, f"'{args.by}' has no signing key yet (added "
                                      "before decisions were signed); nothing was signed.",
                                      f"set your password again: precex users add --replace "
                                      f"--user {args.by}", stage="signoff")])
        # An adapted week is signed on its own, under its file's name ({patient}.week-N).
        row = record_decision(results, log_path, users=users, key=key, patient_id=args.patient,
                              week=args.week, decision=args.decision, signed_by=args.by,
                              note=args.note or "")
    except InputError as err:
        print(err, file=sys.stderr)
        return 1
    run = "precex run" + (f" --configfile {args.configfile}" if args.configfile else "")
    what = args.patient if args.week is None else f"{args.patient} week {args.week}"
    print(f"{what}: {args.decision} by {row['signed_by']} at {row['signed_at']} recorded "
          f"in {log_path} (row {row['sequence']}). Run `{run} --cores N` to update the report "
          "and the FHIR bundle.")
    return 0


def _serve_config(configfile: str | None) -> dict[str, Any]:
    """The batch config for `precex serve` / `precex users`, checked against the schema (its
    inputs need not be there: only the batch's required inputs may be missing)."""
    from precex.config import apply_defaults, load_config_file, normalise_config, validate_config

    config = normalise_config(dict(load_config_file(configfile))) if configfile else {}
    problems = [p for p in validate_config(config, str(configfile))
                if "is a required property" not in p.message]
    if problems:
        raise InputError(problems)
    return apply_defaults(config)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _serve(args: argparse.Namespace) -> int:
    """The review page on one host and port until Ctrl-C."""
    import uvicorn

    from precex.prescription.fhir import FhirOptions
    from precex.review_app.app import LOOPBACK_HOSTS, Settings, create_app

    try:
        config = _serve_config(args.configfile)
    except InputError as err:
        print(err, file=sys.stderr)
        return 1
    results = args.results or config["results"]
    if not (Path(results) / "prescriptions").is_dir():
        print(f"precex serve: {results} has no prescriptions folder: give --results with a "
              "batch's results folder (or run `precex run` first).", file=sys.stderr)
        return 1
    users = args.users or config["review_users"]
    if not Path(users).is_file():
        print(f"precex serve: there is no users file {users}: add the first user with "
              f"`precex users add --users {users} --user YOUR-ID`.", file=sys.stderr)
        return 1
    settings = Settings(
        results=results, signoff_log=args.signoff_log or config["signoff_log"], users=users,
        login_log=args.login_log or config["review_login_log"],
        fhir=FhirOptions(config["fhir_requester"], config["fhir_bundle_type"],
                         config["fhir_identifier_system"]),
        secure_cookie=args.secure_cookie)
    host = args.host or config["review_host"]
    port = args.port or config["review_port"]
    loopback = host in LOOPBACK
    if not loopback and not (args.allowed_host and args.secure_cookie):
        # Off this computer the page must name the host names it answers to (a foreign Host
        # header is refused: DNS rebinding) and send its cookie over https only.
        print(f"precex serve: listening on {host} reaches other computers: give "
              "--allowed-host with the name users type (e.g. review.example.org) and "
              "--secure-cookie, and put the page behind TLS (a reverse proxy). Nothing was "
              "started.", file=sys.stderr)
        return 2
    allowed = LOOPBACK_HOSTS if loopback else args.allowed_host
    app = create_app(settings, allowed_hosts=[*allowed, *(args.allowed_host or [])])
    shown = f"[{host}]" if ":" in host else host
    print(f"precex review page: http://{shown}:{port}/ (results {results}, sign-off log "
          f"{settings.signoff_log}, users {users}). Ctrl-C stops it.", flush=True)
    # X-Forwarded-For is believed only from the proxies named (uvicorn trusts 127.0.0.1 by
    # default, so any local process could set the client address the login log records).
    proxies = args.trusted_proxy or []
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False, proxy_headers=bool(proxies),
                forwarded_allow_ips=",".join(proxies) or None)
    return 0


def _knowledge(args: argparse.Namespace) -> int:
    """The clinician review document: every rule, threshold, vocabulary, exercise, mode,
    restriction and precaution, with grade and source, as HTML (and PDF)."""
    from precex.paths import resource_path
    from precex.reporting.knowledge import knowledge_document
    from precex.reporting.pdf import print_pdf, require_chromium

    rulebase = args.rulebase or str(resource_path("rules", "rulebase.yaml"))
    if not Path(rulebase).is_file():
        print(InputError([Problem(rulebase, "file not found.", "give the rule base to review "
                                  "with --rulebase, or leave it out for the bundled one.")]),
              file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    html = out / "knowledge.html"
    html.write_text(knowledge_document(rulebase), encoding="utf-8")
    print(f"wrote {html}")
    if args.pdf:
        pdf = out / "knowledge.pdf"
        print_pdf(html, pdf, "2000-01-01", require_chromium("precex knowledge --pdf"))
        print(f"wrote {pdf}")
    return 0


def _users(args: argparse.Namespace) -> int:
    import getpass

    from precex.review_app.users import add_user, remove_user

    try:
        path = args.users or _serve_config(args.configfile)["review_users"]
        if args.users_command == "remove":
            remove_user(path, user=args.user)
            print(f"Removed {args.user} from {path}.")
            return 0
        if args.password_stdin:  # for scripts: the first line of standard input
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"Password for {args.user}: ")
            if getpass.getpass("Again: ") != password:
                print("precex users add: the passwords differ; nothing was changed.",
                      file=sys.stderr)
                return 1
        add_user(path, user=args.user, password=password, name=args.name or "",
                 replace=args.replace)
    except InputError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{'Set a new password for' if args.replace else 'Added'} {args.user} in {path} "
          "(argon2id hash, file mode 0600). Start the review page with: precex serve")
    return 0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; a default shown only where there is one (a
    required option never says "(default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS) and not action.required
                and "default" not in text and action.option_strings):
            text += " (default: %(default)s)"
        return text


# Each subcommand's --help: what it does and how it is called (issue 42).
EXAMPLES = {
    "demo": ("Write a synthetic cohort (patient sheet, every modality, follow-up weeks) and "
             "the config.yaml that runs it.",
             ["precex demo --out demo-batch", "precex run --configfile demo-batch/config.yaml "
              "--cores 2", "precex demo --patients 1000 --seed 5 --followup-weeks 3 --out big"]),
    "validate": ("Check a batch's config, patient sheet and every input file, as a run would "
                 "read them, and run nothing. Exits 0 when all is valid, 1 when a problem "
                 "would stop the run or lose safety data, 2 when no config names the patients.",
                 ["precex validate --configfile batch.yaml", "precex validate --demo"]),
    "adapt": ("Update one prescription from the wearable and symptom data of the days since "
              "it was issued, through the same engine as the baseline (for one patient by "
              "hand; a batch's follow-up weeks run in precex run).",
              ["precex adapt --prescription results/prescriptions/P001.json --wearables "
               "week1.tsv --symptoms symptoms.tsv --out P001.week-1.json"]),
    "review": ("List the prescriptions awaiting a clinician's decision, most urgent first.",
               ["precex review --configfile batch.yaml", "precex review --configfile "
                "batch.yaml --all"]),
    "signoff": ("Record a clinician's decision on a patient's current plan in the append-only "
                "sign-off log; the signer is checked against the users file with a password.",
                ["precex signoff --configfile batch.yaml --patient P001 --by dr.smith "
                 "--decision approve", "precex signoff --configfile batch.yaml --patient P001 "
                 "--week 2 --by dr.smith --decision amend --note 'walk only'"]),
    "serve": ("Serve the review page: the queue, each plan with its report, and approve, "
              "amend or reject (the same log as precex signoff). This computer only unless "
              "--host, --allowed-host and --secure-cookie say otherwise.",
              ["precex serve --configfile batch.yaml", "precex serve --configfile batch.yaml "
               "--host 0.0.0.0 --allowed-host review.example.org --secure-cookie"]),
    "knowledge": ("Write the clinician review document: every rule, threshold, vocabulary, "
                  "exercise and precaution with its grade and source.",
                  ["precex knowledge --out review-doc", "precex knowledge --out review-doc "
                   "--pdf"]),
    "users": ("Manage who may sign in to the review page (argon2id hashes, file mode 0600).",
              ["precex users add --configfile batch.yaml --user dr.smith --name 'Dr A Smith'",
               "precex users remove --configfile batch.yaml --user dr.smith"]),
    "trial": ("Trial arms: allocate new patients to the standard or precision arm by "
              "stratified block randomisation (append-only log).",
              ["precex trial allocate --configfile batch.yaml"]),
}


def _command(sub: Any, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    description, examples = EXAMPLES[name]
    return sub.add_parser(name, help=help, description=textwrap.fill(description, 78),
                          epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                          formatter_class=_HelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="precex", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"precex {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the workflow; arguments go to Snakemake verbatim "
                   "(see precex run --help)", add_help=False)
    demo = _command(sub, "demo", help="write a synthetic cohort and its config.yaml")
    demo.add_argument("--patients", type=int, default=30, help="number of patients")
    demo.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    demo.add_argument("--out", required=True, help="folder to write the cohort into")
    demo.add_argument("--followup-weeks", type=int, default=3, choices=range(1, 13),
                      metavar="{1..12}", help="weeks of follow-up wearables and symptoms")
    demo.add_argument("--reference-date", default=None,
                      help="YYYY-MM-DD; unset means 2026-01-05, the bundled demo's date")
    validate = _command(sub, "validate", help="check config, sheet and inputs; run nothing")
    validate.add_argument("--configfile", default=None,
                          help="your batch's config to check")
    validate.add_argument("--demo", action="store_true",
                          help="check the bundled demo config (the default only inside a "
                               "precex checkout)")
    adapt = _command(sub, "adapt", help="update a prescription from the week's wearable and "
                           "symptom data")
    adapt.add_argument("--prescription", required=True, help="the current prescription JSON")
    adapt.add_argument("--wearables", required=True,
                       help="daily wearable table for the days since it was issued")
    adapt.add_argument("--symptoms", default=None, help="optional daily symptom table")
    adapt.add_argument("--out", required=True, help="where to write the adapted prescription")
    adapt.add_argument("--rulebase", default=None, help="rule base (default: the bundled one)")
    review = _command(sub, "review", help="list the prescriptions awaiting a clinician's "
                            "review, most urgent first")
    review.add_argument("--configfile", default=None,
                        help="the batch's config (default: the bundled demo config)")
    review.add_argument("--all", action="store_true",
                        help="list signed prescriptions too (default: only those to review)")
    signoff = _command(sub, "signoff", help="record a clinician's decision on a patient's "
                             "current prescription (append-only, SHA-256 chained log)")
    signoff.add_argument("--patient", required=True, help="patient ID")
    signoff.add_argument("--week", type=int, default=None,
                         help="sign the adapted plan of this follow-up week instead of the "
                         "prescription (results/adaptations/prescriptions/P.week-N.json)")
    signoff.add_argument("--by", required=True, help="your user ID in the users file "
                         "(recorded as the signer; your password is asked)")
    signoff.add_argument("--decision", required=True, choices=["approve", "amend", "reject"],
                         help="approve as issued, approve with an amendment, or reject")
    signoff.add_argument("--note", default=None,
                         help="what was amended or why it was rejected (required for both)")
    signoff.add_argument("--configfile", default=None,
                         help="the batch's config (default: the bundled demo config)")
    signoff.add_argument("--users", default=None,
                         help="users file the signer is checked against (default: the "
                         "config's `review_users`)")
    signoff.add_argument("--password-stdin", action="store_true",
                         help="read the signer's password from standard input (for scripts; "
                         "default: asked, not shown)")
    serve = _command(sub, "serve", help="the review page in the browser: the queue, each "
                           "plan with its report, approve/amend/reject (same log as signoff)")
    serve.add_argument("--results", default=None,
                       help="the batch's results folder (default: the config's `results`)")
    serve.add_argument("--signoff-log", default=None,
                       help="sign-off log (default: the config's `signoff_log`)")
    serve.add_argument("--users", default=None,
                       help="users file from precex users add (default: `review_users`)")
    serve.add_argument("--login-log", default=None,
                       help="log of logins and failed logins (default: `review_login_log`)")
    serve.add_argument("--configfile", default=None,
                       help="the batch's config (default: the bundled demo config)")
    serve.add_argument("--host", default=None,
                       help="address to listen on (default: the config's `review_host`, "
                       "127.0.0.1: this computer only)")
    serve.add_argument("--port", type=int, default=None,
                       help="port (default: the config's `review_port`, 8765)")
    serve.add_argument("--allowed-host", action="append", default=None,
                       help="a host name the page may be reached by (behind a proxy); "
                       "repeatable")
    serve.add_argument("--secure-cookie", action="store_true",
                       help="send the session cookie over https only (behind a TLS proxy)")
    serve.add_argument("--trusted-proxy", action="append", default=None,
                       help="address of a reverse proxy whose X-Forwarded-For is believed "
                       "(repeatable; default: none, the connecting address is recorded)")
    knowledge = _command(sub, "knowledge", help="write the clinician review document: every "
                               "rule, threshold, vocabulary, exercise and precaution with its "
                               "grade and source")
    knowledge.add_argument("--out", required=True, help="folder to write knowledge.html into")
    knowledge.add_argument("--pdf", action="store_true", help="also print knowledge.pdf "
                           "(needs Chromium)")
    knowledge.add_argument("--rulebase", default=None,
                           help="rule base to review (default: the bundled one)")
    users = _command(sub, "users", help="who may sign in to the review page")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    for name, text in (("add", "add a user, or with --replace set a new password"),
                       ("remove", "remove a user")):
        one = users_sub.add_parser(name, help=text)
        one.add_argument("--user", required=True, help="the user's staff ID (recorded as "
                         "the signer of their decisions)")
        one.add_argument("--users", default=None,
                         help="users file (default: the config's `review_users`)")
        one.add_argument("--configfile", default=None,
                         help="the batch's config (default: the bundled demo config)")
        if name == "add":
            one.add_argument("--name", default=None, help="full name shown on the page")
            one.add_argument("--replace", action="store_true",
                             help="set a new password for an existing user")
            one.add_argument("--password-stdin", action="store_true",
                             help="read the password from standard input (for scripts; "
                             "default: asked twice, not shown)")
    trial = _command(sub, "trial", help="trial arms: stratified block randomisation")
    trial_sub = trial.add_subparsers(dest="trial_command", required=True)
    alloc = trial_sub.add_parser("allocate", help="allocate new patients to the standard or "
                                 "precision arm (append-only log)")
    alloc.add_argument("--configfile", default=None,
                       help="config naming patients, trial_allocation, trial_strata, trial_seed "
                       "(default: the bundled demo config)")
    alloc.add_argument("--patients", default=None,
                       help="patient sheet (TSV) (default: the config's `patients`)")
    alloc.add_argument("--log", default=None,
                       help="allocation log, created or extended (default: the config's "
                       "`trial_allocation`)")
    alloc.add_argument("--strata", nargs="+", default=None,
                       help="sheet columns defining strata (default subtype treatment_phase)")
    alloc.add_argument("--seed", type=int, default=None,
                       help="randomisation seed, recorded in the log (default: the config's "
                       "`trial_seed`)")
    alloc.add_argument("--block-sizes", type=int, nargs="+", default=None,
                       help="block sizes drawn at random per block (default 2 4 6)")
    return parser


def private_umask() -> int:
    """Patient data, sign-off notes and logs are written owner-only: the umask gains 077 (027
    with PRECEX_SHARED_GROUP=1, for a core whose group reads the results). Every process precex
    starts (Snakemake, its jobs, report kernels) inherits it. Returns the umask now in force."""
    blocked = 0o027 if os.environ.get("PRECEX_SHARED_GROUP") == "1" else 0o077
    current = os.umask(0)
    os.umask(current | blocked)
    return current | blocked


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    private_umask()
    parser = build_parser()
    if argv and argv[0] == "run":
        return _run(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "adapt":
        return _adapt(args)
    if args.command == "trial":
        return _trial_allocate(args)
    if args.command == "review":
        return _review(args)
    if args.command == "signoff":
        return _signoff(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "users":
        return _users(args)
    if args.command == "knowledge":
        return _knowledge(args)
    return _validate(args)


if __name__ == "__main__":
    sys.exit(main())
