import subprocess
import sys
from pathlib import Path

import pytest
from precex.cli import main


def test_validate_reports_every_sheet_error_without_traceback(demo_copy, capsys, monkeypatch):
    sheet = demo_copy / "patients.tsv"
    lines = sheet.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    rows[1][header.index("age")] = "sixty"
    rows[3][header.index("subtype")] = "claudin-low"
    rows[5][header.index("lvef_pct")] = "-5"
    sheet.write_text("\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n")
    monkeypatch.chdir(demo_copy)
    code = main(["validate", "--configfile", "config.yaml"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    # data rows, with the row a spreadsheet shows (its header is row 1; issue 42)
    assert "patients.tsv, row 2 (spreadsheet row 3), column 'age'" in err
    assert "'sixty' is not a number" in err
    assert "row 4 (spreadsheet row 5), column 'subtype'" in err and "HR+/HER2-" in err
    assert "row 6 (spreadsheet row 7), column 'lvef_pct'" in err and "5 to 85" in err


def test_validate_puts_the_problem_first_and_respellings_in_one_line(demo_copy, capsys,
                                                                      monkeypatch):
    """A clinic's own column names are notes: 30 of them must not bury the one real error
    (issue 42: 23 'column read as' lines came before it)."""
    import yaml

    aliases = yaml.safe_load((Path(__file__).resolve().parents[2] / "workflow/schemas/"
                              "patients.schema.yaml").read_text())["x-aliases"]
    sheet = demo_copy / "patients.tsv"
    lines = sheet.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    rows[0][header.index("age")] = "sixty"
    renamed = [aliases[c][0] if aliases.get(c) else c for c in header]
    assert sum(a != b for a, b in zip(header, renamed, strict=True)) >= 20
    sheet.write_text("\n".join(["\t".join(renamed), *("\t".join(r) for r in rows)]) + "\n")
    monkeypatch.chdir(demo_copy)
    assert main(["validate", "--configfile", "config.yaml"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    problem = next(i for i, line in enumerate(lines) if "'sixty' is not a number" in line)
    respelled = [i for i, line in enumerate(lines) if "read as" in line]
    assert len(respelled) == 1 and problem < respelled[0]
    assert "x column ... read as ...: " in lines[respelled[0]]
    assert f"; {aliases['age'][0]} -> age;" in lines[respelled[0]]
    assert lines[-1].endswith("1 input problem to fix (listed first, above).")


def test_validate_accepts_the_demo(demo_copy, capsys, monkeypatch):
    monkeypatch.chdir(demo_copy)
    assert main(["validate", "--configfile", "config.yaml"]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_reports_config_errors(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("patients: p.tsv\nreference_date: 2026-13-45x\nmicrobiom: m.biom\n")
    assert main(["validate", "--configfile", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "microbiom" in err and "reference_date" in err


def test_validate_names_missing_files(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"patients: {tmp_path}/nope.tsv\nreference_date: '2026-01-05'\n")
    assert main(["validate", "--configfile", str(cfg)]) == 1
    assert "nope.tsv: file not found" in capsys.readouterr().err


def test_demo_command_writes_a_runnable_cohort(tmp_path, capsys):
    assert main(["demo", "--patients", "5", "--seed", "1", "--out", str(tmp_path / "d")]) == 0
    config = (tmp_path / "d" / "config.yaml").read_text()
    assert "patients: patients.tsv" in config and "reference_date" in config
    assert main(["demo", "--patients", "0", "--out", str(tmp_path / "e")]) == 2


def test_bundled_profile_names_resolve_and_other_arguments_stay(tmp_path, monkeypatch):
    from precex.cli import bundled_profiles
    from precex.paths import workflow_root

    monkeypatch.chdir(tmp_path)
    args = ["--cores", "2", "--workflow-profile", "slurm", "--profile", "site"]
    out = bundled_profiles(args)
    assert out[3] == str(workflow_root() / "workflow" / "profiles" / "slurm")
    assert out[:3] + out[4:] == ["--cores", "2", "--workflow-profile", "--profile", "site"]
    (tmp_path / "slurm").mkdir()  # a folder of that name here wins
    assert bundled_profiles(args) == args


def test_run_help_and_forwarding():
    out = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--dry-run" in out and "--unlock" in out and "--rerun-incomplete" in out


@pytest.mark.slow
def test_run_dry_run_forwards_arguments(demo_copy):
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--configfile",
                             "config.yaml", "--cores", "1", "-n", "--quiet", "rules"],
                            cwd=demo_copy, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "prescribe_shard" in result.stdout and "report_shard" in result.stdout


def test_validate_reports_every_layer_in_one_pass(demo_copy, capsys, monkeypatch):
    """A config error, a missing file, sheet errors and a blood problem: one run, all listed,
    grouped by layer, repeated messages counted."""
    sheet = demo_copy / "patients.tsv"
    lines = sheet.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    for i in (1, 2, 3):
        rows[i][header.index("age")] = "sixty"
    sheet.write_text("\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n")
    config = (demo_copy / "config.yaml").read_text()
    config = config.replace("reference_date: '2026-01-05'", "reference_date: 2026-13-05")
    config += "\nmicrobiom: typo.biom\nvariants: absent.vcf\n"
    (demo_copy / "config.yaml").write_text(config)
    with (demo_copy / "blood.tsv").open("a") as handle:
        handle.write("P001\tplatelets\t150\tfurlongs\t2025-12-20\t\n")
    monkeypatch.chdir(demo_copy)
    assert main(["validate", "--configfile", "config.yaml"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for layer in ("Config (", "Files (", "Patient sheet ("):
        assert layer in err, layer
    assert "microbiom" in err and "2026-13-05" in err and "absent.vcf: file not found" in err
    assert "3 x " in err and "is not a number" in err  # three rows, one line
    assert "furlongs" in err


def test_validate_names_report_pdf_without_chromium(tmp_path, monkeypatch, capsys):
    from precex import cli
    from precex.reporting import pdf

    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    config = tmp_path / "c.yaml"
    config.write_text("patients: nowhere.tsv\nreference_date: '2026-01-05'\nreport_pdf: true\n")
    assert cli.main(["validate", "--configfile", str(config)]) == 1
    err = capsys.readouterr().err
    assert "report_pdf is true but no Chromium was found" in err and "Traceback" not in err


def test_a_moved_installation_is_explained_once(tmp_path):
    """`pip install .` then `pip install -e .` moves the bundled inputs: say why jobs rerun."""
    from precex.cli import note_moved_install

    assert note_moved_install(tmp_path / "site-packages", tmp_path) is None  # first run
    assert note_moved_install(tmp_path / "site-packages", tmp_path) is None  # same install
    message = note_moved_install(tmp_path / "checkout", tmp_path)
    assert message and "site-packages" in message and "checkout" in message
    assert note_moved_install(tmp_path / "checkout", tmp_path) is None  # said once


def test_no_config_outside_a_checkout_runs_no_demo_and_says_how_to(tmp_path, monkeypatch,
                                                                    capsys):
    """A core's batch folder without --configfile: run and validate stop (exit 2) and say how
    to run the demo on purpose; nothing is written (issue 42)."""
    from precex import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--cores", "2"]) == 2
    err = capsys.readouterr().err
    assert "precex run --demo --cores 2" in err and "--configfile batch.yaml" in err
    assert cli.main(["validate"]) == 2
    assert "precex validate --demo" in capsys.readouterr().err
    assert cli.main(["run", "--demo", "--configfile", "my.yaml"]) == 2
    assert not (tmp_path / "results").exists()
    assert cli.main(["validate", "--demo"]) == 0


def test_a_config_naming_the_patients_in_any_form_is_a_batch(tmp_path):
    from precex.cli import inside_checkout, names_a_batch

    assert names_a_batch(["--configfile", "b.yaml"]) and names_a_batch(["--configfile=b.yaml"])
    assert names_a_batch(["--config", "shard_size=7", "patients=sheet.tsv"])
    assert not names_a_batch(["--cores", "2", "--config", "shard_size=7"])
    profile = tmp_path / "site"
    profile.mkdir()
    (profile / "config.yaml").write_text("configfile: /data/batch.yaml\n")
    assert names_a_batch(["--profile", str(profile)])
    assert not inside_checkout(tmp_path)



def test_run_names_a_missing_input_as_validate_does(demo_copy, capsys, monkeypatch):
    """`precex run -n` with a config naming a file that is not there: the file and its key,
    before Snakemake starts (it used to end in a MissingInputException; issue 42)."""
    config = demo_copy / "config.yaml"
    config.write_text(config.read_text().replace("blood.tsv", "no-such-blood.tsv"))
    monkeypatch.chdir(demo_copy)
    assert main(["run", "-n", "--configfile", "config.yaml"]) == 1
    err = capsys.readouterr().err
    assert "no-such-blood.tsv: file not found. Fix: check 'blood' in config.yaml." in err
    assert "MissingInputException" not in err


def test_the_review_queue_fits_the_terminal():
    """`precex review` printed one table about 230 characters wide (issue 42): each plan is a
    line of short fields with its trigger and needs wrapped below, within the width."""
    import pandas as pd
    from precex.cli import queue_text

    needs = ("current fever: call the patient and the oncology team today; medical review "
             "(exercise deferred), then sign-off")
    queue = pd.DataFrame([
        {"patient_id": "P005", "week": "", "status": "deferred", "triage": "moderate",
         "signoff": "draft", "trigger": "Fever or acute systemic infection (fever: yes, "
         "fever_effective: yes)", "needs": needs, "signed_by": "", "signed_at": ""},
        {"patient_id": "P001", "week": "2", "status": "clearance_required", "triage": "high",
         "signoff": "draft", "trigger": "Platelets below 20 x10^9/L", "needs": "sign-off",
         "signed_by": "", "signed_at": ""}])
    for width in (60, 80, 120):
        text = queue_text(queue, width)
        assert max(len(line) for line in text.splitlines()) <= width
        flat = " ".join(text.split())
        assert needs in flat and "P001 2 clearance_required high draft" in flat
