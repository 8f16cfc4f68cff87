import json

import nbformat
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup, escape
from precex.reporting.patient import blood_rows, render_patient_report
from precex.reporting.runner import RenderJob, render_many
from precex.rule_features import rule_features


def minimal_profile(pid="P1", sites="<script>alert(1)</script>"):
    return {"patient_id": pid, "domains": {
        "haematology": {"category": "normal", "rule": "r", "grade": "G3", "completeness": 1.0,
                        "missing_inputs": [], "values": {}}},
            "features": {"sex": "F", "age": 60, "bone_metastasis_sites": sites,
                         "platelets_10e9_l": 30.0, "platelets_date": "2026-01-01",
                         "hemoglobin_g_dl": 13.0}}


def minimal_prescription(pid="P1", note="<img src=x onerror=alert(1)>"):
    return {"patient_id": pid, "status": "clearance_required", "triage": "high",
            "supervision": "supervised", "max_intensity": "light", "excluded": ["resistance"],
            "goal": "g", "intensity_guidance": "rpe", "setting": [], "referrals": [note],
            "notes": [], "aerobic": None, "resistance": None, "balance": None,
            "flexibility": None, "weekly_met_minutes": 0, "progression": [],
            "schedule": [{"date": "2026-01-05", "weekday": "Monday", "sessions": []}] * 7,
            "monitoring": ["CBC"],
            "annotations": [{"rule_id": "H1", "grade": "H", "title": "Microbiome idea",
                             "text": "hyp", "citation": "c", "changes_dose": False}],
            "trace": [{"rule_id": "SAFETY_X", "kind": "safety", "title": "Low platelets",
                       "grade": "G3", "citation": "PM R 2017", "rationale": "bleeding",
                       "effect": {"note": "light only"}, "inputs": {}, "applied": True,
                       "note": ""}],
            "engine": {"evidence_floor": "G2", "research_mode": False,
                       "reference_date": "2026-01-05"}}


PROVENANCE = {"precex_version": "0.1.0", "config_digest": "a" * 64, "rulebase_digest": "b" * 64,
              "input_names": {"patients": ["patients.tsv"]},
              "config": {"reference_date": "2026-01-05"}}


def write_inputs(tmp_path, pid="P1", **kw):
    prof, pres, prov = (tmp_path / f"{pid}.profile.json", tmp_path / f"{pid}.json",
                        tmp_path / "prov.json")
    prof.write_text(json.dumps(minimal_profile(pid, **{k: v for k, v in kw.items()
                                                        if k == "sites"})))
    pres.write_text(json.dumps(minimal_prescription(pid)))
    prov.write_text(json.dumps(PROVENANCE))
    return str(prof), str(pres), str(prov)


def test_report_escapes_input_text_and_is_self_contained(tmp_path):
    html = render_patient_report(*write_inputs(tmp_path))
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch when opened
    for section in ("at-a-glance", "schedule", "progression", "host-profile", "blood",
                    "microbiome", "epigenetic-age", "evidence", "hypotheses", "monitoring",
                    "provenance"):
        assert f'id="{section}"' in html
    assert "Medical clearance required" in html and "Microbiome idea" in html
    assert "@media print" in html


def test_blood_rows_flag_against_reference_ranges():
    rows = {r["name"]: r for r in blood_rows(minimal_profile())}
    assert rows["Platelets"]["flag"] == "low" and rows["Haemoglobin"]["flag"] == "in range"


def test_shard_runner_isolates_a_failing_patient(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("value = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "leak_check = globals().get('secret', globals().get('_private', 'clean'))\n"
            "from IPython.display import HTML, display\n"
            "if value == 'boom':\n    raise RuntimeError('bad data')\n"
            "secret = value\n_private = value\n"
            "display(HTML(f'<p>{value}|{leak_check}</p>'))"),
    ]
    template = tmp_path / "t.ipynb"
    nbformat.write(nb, template)
    jobs = [RenderJob(k, {"value": k}, str(tmp_path / f"{k}.html"))
            for k in ("first", "boom", "third")]
    failures = render_many(str(template), jobs)
    assert list(failures) == ["boom"] and "bad data" in failures["boom"]
    assert (tmp_path / "first.html").read_text().strip() == "<p>first|clean</p>"
    # state from earlier patients does not leak: 'secret' was reset between patients
    assert (tmp_path / "third.html").read_text().strip() == "<p>third|clean</p>"
    assert not (tmp_path / "boom.html").exists()
    assert isinstance(pd.DataFrame(), pd.DataFrame)


def test_section_data_for_charts():
    from precex.reporting.patient import age_bars, microbiome_bars, progression_points

    bars = microbiome_bars({"bacillota_pct": 50.0, "bacteroidota_pct": 30.0})
    assert [(b["name"], b["pct"], b["x"]) for b in bars] == [
        ("Bacillota", 50.0, 0.0), ("Bacteroidota", 30.0, 50.0), ("other phyla", 20.0, 80.0)]
    assert microbiome_bars({}) == []
    ages = age_bars({"age": 50, "phenoage2018_age": 60.0})
    assert ages["top"] == 66 and [r["name"] for r in ages["rows"]] == [
        "chronological", "PhenoAge (Levine 2018)"]  # as readers know the clock (issue 42)
    assert ages["rows"][1]["width"] == round(100 * 60 / 66, 2)
    assert age_bars({"age": 50}) == {"rows": [], "top": 0}
    prog = progression_points({"progression": [{"week": 1, "weekly_met_minutes": 100},
                                               {"week": 2, "weekly_met_minutes": 200}]})
    assert prog["max"] == 200 and prog["points"] == "40,85 78,30"


def test_data_to_obtain_box_comes_first_and_says_what_was_capped(tmp_path):
    prof, pres, prov = write_inputs(tmp_path)
    prescription = json.loads(open(pres).read())
    prescription["data_to_obtain"] = [{"item": "Full blood count before the first session",
                                       "why": "No usable recent blood count",
                                       "rule_id": "SAFETY_CBC_MISSING_IN_CHEMO",
                                       "capped_meanwhile": "maximum intensity moderate"}]
    prescription["safety_inputs"] = {"platelets": {"state": "rejected", "value": None},
                                     "hemoglobin": {"state": "measured", "value": 12.0}}
    prescription["data_issues"] = ["blood.tsv, row 3, patient 'P1': unknown unit 'furlongs'"]
    open(pres, "w").write(json.dumps(prescription))
    html = render_patient_report(prof, pres, prov)
    assert 'id="data-to-obtain"' in html
    assert html.index('id="data-to-obtain"') < html.index('id="at-a-glance"')
    box = html[html.index('id="data-to-obtain"'):html.index('id="at-a-glance"')]
    assert "Full blood count" in box and "maximum intensity moderate" in box
    assert "Platelets</b> rejected" in box and "furlongs" in box
    assert "Haemoglobin" not in box  # a measured input is not a gap


def test_no_data_to_obtain_box_when_every_input_is_clean(tmp_path):
    html = render_patient_report(*write_inputs(tmp_path))
    assert 'id="data-to-obtain"' not in html


def test_this_week_is_week_one_of_the_progression_not_the_target(tmp_path):
    import datetime as dt

    from precex.paths import resource_path
    from precex.prescription.engine import EngineSettings, prescribe
    from precex.prescription.rules import load_rulebase

    rb = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
    row = {"age": 55.0, "sex": "F", "hr_max_bpm": 170.0, "resting_hr": 68.0}
    p = prescribe(pd.DataFrame([row], index=["P1"]), rb, EngineSettings(dt.date(2026, 1, 5)))[0]
    week1 = p["progression"][0]
    assert p["this_week"]["week"] == 1
    assert p["this_week"]["aerobic"] == week1["aerobic"]
    assert week1["aerobic"]["minutes_per_session"] < p["aerobic"]["minutes_per_session"]
    scheduled = [s for d in p["schedule"] for s in d["sessions"] if s["type"] == "aerobic"]
    assert len(scheduled) == week1["aerobic"]["sessions_per_week"]
    assert all(s["minutes"] == week1["aerobic"]["minutes_per_session"] for s in scheduled)
    days = [i for i, d in enumerate(p["schedule"])
            if any(s["type"] == "aerobic" for s in d["sessions"])]
    assert all(b - a > 1 for a, b in zip(days, days[1:], strict=False))  # never back to back
    prof, pres, prov = write_inputs(tmp_path)
    open(pres, "w").write(json.dumps(p))
    html = render_patient_report(prof, pres, prov)
    glance = html[html.index('id="this-week"'):html.index('id="this-week-dose"') + 400]
    assert "week 1 of 12" in glance
    assert f"{week1['aerobic']['minutes_per_session']} min" in glance


def test_header_context_and_key_measurements_beside_the_flags(tmp_path):
    prof, pres, prov = write_inputs(tmp_path)
    profile = json.loads(open(prof).read())
    profile["features"].update({"subtype": "HER2+", "stage": "II",
                                "treatment_phase": "adjuvant_chemo",
                                "agents": "anthracycline;trastuzumab", "lvef_pct": 48.0,
                                "lvef_baseline_pct": 61.0, "systolic_bp": 132.0,
                                "diastolic_bp": 84.0, "bmi_kg_m2": 27.3})
    open(prof, "w").write(json.dumps(profile))
    prescription = json.loads(open(pres).read())
    prescription["safety_inputs"] = {"platelets": {"state": "measured", "value": 30.0},
                                     "resting_hr": {"state": "measured", "value": 88.0,
                                                    "source": "wearable (last 3 days)"}}
    prescription["treatment_calendar"] = {"next_infusion_date": "2025-12-20",
                                          "next_infusion_rolled_forward": "2026-01-10"}
    open(pres, "w").write(json.dumps(prescription))
    html = render_patient_report(prof, pres, prov)
    header = html[html.index('id="patient-context"'):html.index("</header>")]
    for text in ("Age</b> 60", "Sex</b> F", "HER2+", "adjuvant chemo",
                 "anthracycline, trastuzumab", "Next infusion</b> 2026-01-10",
                 "Issued</b> 2026-01-05"):
        assert text in header, text
    measured = html[html.index('id="key-measurements"'):html.index('id="safety-flags"')]
    for text in ("Platelets</b> 30 x10^9/L, 2026-01-01", "LVEF</b> 48% (baseline 61%)",
                 "Blood pressure</b> 132/84 mmHg", "Resting HR</b> 88 bpm (wearable",
                 "BMI</b> 27.3"):
        assert text in measured, text


def _template(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("value = ''", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from IPython.display import HTML, display\n"
                                          "display(HTML(f'<p>{value}</p>'))")]
    template = tmp_path / "t.ipynb"
    nbformat.write(nb, template)
    return template


def test_a_kernel_that_dies_at_start_is_started_again(tmp_path, monkeypatch):
    """'Kernel died before replying to kernel_info' once: the shard still renders."""
    from nbclient import NotebookClient
    from precex.reporting import runner

    real = NotebookClient.setup_kernel
    calls = {"n": 0}

    def flaky(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(self, **kwargs)

    monkeypatch.setattr(NotebookClient, "setup_kernel", flaky)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    jobs = [RenderJob(k, {"value": k}, str(tmp_path / f"{k}.html")) for k in ("a", "b")]
    assert render_many(str(_template(tmp_path)), jobs) == {}
    assert calls["n"] == 2 and (tmp_path / "b.html").read_text().strip() == "<p>b</p>"


def test_no_kernel_at_all_makes_failures_not_an_exception(tmp_path, monkeypatch):
    from precex.reporting import runner

    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    jobs = [RenderJob(k, {"value": k}, str(tmp_path / f"{k}.html")) for k in ("a", "b")]
    failures = render_many(str(_template(tmp_path)), jobs, kernel_name="no-such-kernel")
    assert set(failures) == {"a", "b"}
    assert all("no kernel could be started" in v for v in failures.values())


def test_an_adapted_report_renders_its_week_and_a_stop_first(tmp_path):
    """An adapted week's dose (this_week, in the schema's week shape) leads the report."""
    prof, pres, prov = write_inputs(tmp_path)
    p = json.loads(open(pres).read())
    component = {"sessions_per_week": 2, "sets": 2, "reps": [8, 12], "intensity": "moderate"}
    p.update({"status": "prescribed", "this_week": {"week": 3, "of_weeks": 12, "aerobic": None,
                                                    "resistance": component,
                                                    "weekly_met_minutes": 210},
              "adaptation": {"week": 1, "decision": "advance", "current_week": 3,
                             "data_from": "2026-01-06", "data_through": "2026-01-12",
                             "reasons": ["adherence 90%"], "features": {}},
              "adaptation_history": []})
    open(pres, "w").write(json.dumps(p))
    html = render_patient_report(prof, pres, prov)
    assert "week 3 of 12" in html and "2 sets of 8-12 reps" in html
    assert "weekly update 1" in html and 'id="stop-banner"' not in html
    p["adaptation"]["decision"] = "stop"
    p["this_week"] = None
    open(pres, "w").write(json.dumps(p))
    html = render_patient_report(prof, pres, prov)
    body = html[html.index("<body>"):]
    assert body.index('id="stop-banner"') < body.index("<header>")
    assert "No sessions this week" in html


def test_review_queue_lists_every_patient_not_simply_prescribed():
    from precex.reporting.cohort import review_queue, rule_titles

    rx = pd.DataFrame([
        {"patient_id": "A", "status": "prescribed", "triage": "low", "supervision": "u",
         "max_intensity": "vigorous", "data_to_obtain": 0},
        {"patient_id": "B", "status": "clearance_required", "triage": "high",
         "supervision": "supervised", "max_intensity": "moderate", "data_to_obtain": 1},
        {"patient_id": "C", "status": "deferred", "triage": "low", "supervision": "u",
         "max_intensity": "none", "data_to_obtain": 0},
        {"patient_id": "D", "status": "prescribed", "triage": "low", "supervision": "u",
         "max_intensity": "moderate", "data_to_obtain": 2},
    ])
    queue = review_queue(rx)
    assert [r["id"] for r in queue] == ["C", "B", "D"]  # deferred first, then clearance
    assert rule_titles()["SAFETY_FEVER"].startswith("Fever")


def test_the_kernel_runs_on_private_ipc_sockets_and_its_stderr_reaches_the_log_only(
        tmp_path, capfd, caplog):
    """ipykernel's own stderr (a ZMQError traceback at shutdown, start-up warnings) is kept for
    developers in the job log: it must not reach the terminal, where the e2e checks forbid
    tracebacks. On IPC there is no 'TCP without encryption' warning and no port to race for."""
    import logging

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("value = 'x'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import os\nfrom IPython.display import HTML, display\n"
                    "os.write(2, b'Traceback: noise written by the kernel process\\n')\n"
                    "display(HTML(f'<p>{value}</p>'))")]
    template = tmp_path / "t.ipynb"
    nbformat.write(nb, template)
    with caplog.at_level(logging.DEBUG, logger="precex.kernel"):
        assert render_many(str(template), [RenderJob("a", {"value": "a"},
                                                     str(tmp_path / "a.html"))]) == {}
    assert (tmp_path / "a.html").read_text().strip() == "<p>a</p>"
    captured = capfd.readouterr()
    assert "noise written by the kernel" not in captured.err + captured.out
    kernel_lines = "\n".join(r.getMessage() for r in caplog.records if r.name == "precex.kernel")
    assert "noise written by the kernel" in kernel_lines
    assert "without encryption" not in kernel_lines


def test_batch_table_rows_qc_outliers_and_safe_json():
    import json as jsonlib

    from precex.reporting.cohort import patient_table, qc_panels, review_queue, table_json

    rx = pd.DataFrame([
        {"patient_id": "A</script><b>", "status": "prescribed", "triage": "low",
         "supervision": "u", "max_intensity": "vigorous", "safety_rules_fired": "SAFETY_FEVER",
         "data_to_obtain": "0", "data_issues": "2", "signoff": "approved"},
        {"patient_id": "B", "status": "clearance_required", "triage": "high",
         "supervision": "supervised", "max_intensity": "light", "safety_rules_fired": "",
         "data_to_obtain": "1", "data_issues": "0", "signoff": "draft"},
    ])
    profiles = pd.DataFrame({"depth_reads": [500.0, 40_000.0], "wear_days": [7, 2],
                             "platelets_10e9_l": [200, None]}, index=["A</script><b>", "B"])
    rows = patient_table(profiles, rx, {"SAFETY_FEVER": "Fever"}, {"B"})
    assert [r["id"] for r in rows] == ["A</script><b>", "B"]
    assert rows[0]["flags"] == "Fever" and rows[0]["issues"] == 2 and rows[1]["obtain"] == 1
    assert rows[0]["signoff"] == "approved" and rows[0]["report"] is False
    assert rows[1]["report"] is True
    text = table_json(rows)
    assert "<" not in text and ">" not in text and jsonlib.loads(text) == rows
    panels = {p["label"]: p for p in qc_panels(profiles)}
    depth = panels["Microbiome read depth"]
    assert [o["id"] for o in depth["outliers"]] == ["A</script><b>"] and depth["n"] == 2
    assert [o["id"] for o in panels["Wearable days worn"]["outliers"]] == ["B"]
    assert sum(b["n"] for b in depth["histogram"]["bars"]) == 2
    # the QC line names the depth that excludes a sample, as the run configured it (it said
    # 10,000 while 1,000 excluded; issue 42)
    assert "under 1,000 reads (microbiome_min_depth) are excluded" in depth["why"]
    assert "under 2,500 reads" in {p["label"]: p for p in qc_panels(profiles, 2500)}[
        "Microbiome read depth"]["why"]
    queue = review_queue(rx, [{"id": "C", "href": "../adaptations/reports/C.week-1.html"}])
    assert [r["id"] for r in queue] == ["C", "B", "A</script><b>"]  # stop, clearance, issues


def test_the_shard_notebook_renders_every_patient_as_the_single_report_does(tmp_path):
    """The batch path (one notebook run per shard) writes exactly the bytes the one-patient
    notebook displays; a patient whose inputs are broken fails alone, with the reason."""
    from pathlib import Path

    from precex.reporting.runner import render_batch

    repo = Path(__file__).resolve().parents[2]
    jobs = []
    for pid in ("P1", "P2", "BROKEN"):
        prof, pres, prov = write_inputs(tmp_path, pid)
        if pid == "BROKEN":
            Path(prof).write_text("{not json")
        jobs.append(RenderJob(pid, {"profile_path": prof, "prescription_path": pres,
                                    "provenance_path": prov, "research_path": ""},
                              str(tmp_path / "out" / f"{pid}.html")))
    failures = render_batch(str(repo / "workflow/notebooks/patient_reports.ipynb"), jobs)
    assert list(failures) == ["BROKEN"] and "JSONDecodeError" in failures["BROKEN"]
    assert not (tmp_path / "out" / "BROKEN.html").exists()
    single = tmp_path / "single"
    assert render_many(str(repo / "workflow/notebooks/patient_report.ipynb"),
                       [RenderJob("P2", jobs[1].parameters, str(single / "P2.html"))]) == {}
    assert (tmp_path / "out" / "P2.html").read_bytes() == (single / "P2.html").read_bytes()
    assert 'P1' in (tmp_path / "out" / "P1.html").read_text()


def _batch_template(tmp_path):
    """A batch notebook that writes '<p>key</p>' per job, kills its kernel on 'kill' and fails
    'half' after writing part of its file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("jobs_path = ''\nfailures_path = ''",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json, os\n"
            "failed = {}\n"
            "for job in json.load(open(jobs_path)):\n"
            "    if job['key'] == 'kill':\n        os._exit(1)\n"
            "    if job['key'] == 'bad':\n        failed['bad'] = 'report failed (bad)'\n"
            "        continue\n"
            "    if job['key'] == 'half':\n"
            "        open(job['out_html'], 'w').write('<p>ha')\n"
            "        failed['half'] = 'report failed (midway)'\n        continue\n"
            "    open(job['out_html'], 'w').write(f\"<p>{job['key']}</p>\\n\")\n"
            "json.dump(failed, open(failures_path, 'w'))"),
    ]
    template = tmp_path / "batch.ipynb"
    nbformat.write(nb, template)
    return template


def test_a_patient_that_kills_the_batch_kernel_fails_alone(tmp_path):
    """A crash no try/except catches (here os._exit) kills the shard's kernel: the patients
    are then rendered one per run, so only the one that kills the kernel fails."""
    from precex.reporting.runner import render_batch

    keys = ["a", "bad", "kill", "half", "d"]
    jobs = [RenderJob(k, {}, str(tmp_path / f"{k}.html")) for k in keys]
    failures = render_batch(str(_batch_template(tmp_path)), jobs)
    assert sorted(failures) == ["bad", "half", "kill"]
    assert "kernel died" in failures["kill"] and failures["bad"] == "report failed (bad)"
    # a failed patient leaves no file, not even the part written before it failed
    assert [(tmp_path / f"{k}.html").exists() for k in keys] == [True, False, False, False,
                                                                 True]
    assert (tmp_path / "d.html").read_text() == "<p>d</p>\n"


def test_no_kernel_for_the_batch_makes_failures_not_an_exception(tmp_path, monkeypatch):
    from precex.reporting import runner

    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    jobs = [RenderJob(k, {}, str(tmp_path / f"{k}.html")) for k in ("a", "b")]
    failures = runner.render_batch(str(_batch_template(tmp_path)), jobs,
                                   kernel_name="no-such-kernel")
    assert set(failures) == {"a", "b"}
    assert all("no kernel could be started" in v for v in failures.values())


def test_the_report_environment_renders_exactly_what_jinja_would(tmp_path, monkeypatch):
    """ReportEnvironment looks dict keys up before attributes (speed); the reports must be
    the same bytes as with Jinja's own lookup, and no template may call a dict method."""
    import datetime as dt
    import re

    import jinja2
    from precex.paths import resource_path, workflow_root
    from precex.prescription.engine import EngineSettings, prescribe
    from precex.prescription.rules import load_rulebase
    from precex.reporting import handout, patient

    templates = workflow_root() / "workflow/precex/reporting/templates"
    for template in templates.glob("*.j2"):
        assert not re.search(r"\.(items|values|keys|get|pop|update|setdefault)\(",
                             template.read_text()), template.name
    rb = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
    rows = [{"age": 55.0, "sex": "F", "hr_max_bpm": 170.0, "resting_hr": 68.0},
            {"age": 71.0, "sex": "F", "treatment_phase": "adjuvant_chemo",
             "platelets_10e9_l": 35.0, "hemoglobin_g_dl": 7.5, "lvef_pct": 38.0},
            {"age": 48.0, "sex": "M", "bone_metastases": "unstable", "fever": True}]
    plans = prescribe(pd.DataFrame(rows, index=["P1", "P2", "P3"]), rb,
                      EngineSettings(dt.date(2026, 1, 5)))
    prof, pres, prov = write_inputs(tmp_path)

    def render_all() -> list[str]:
        out = []
        for plan in plans:
            open(pres, "w").write(json.dumps(plan))
            out += [render_patient_report(prof, pres, prov), handout.render_handout(plan)]
        return out

    patient.environment.cache_clear()
    fast = render_all()
    assert type(patient.environment()) is patient.ReportEnvironment
    assert patient.environment() is patient.environment()  # built once: it compiles templates
    monkeypatch.setattr(patient, "ReportEnvironment", jinja2.Environment)
    patient.environment.cache_clear()
    try:
        assert type(patient.environment()) is jinja2.Environment
        assert render_all() == fast
    finally:
        monkeypatch.undo()
        patient.environment.cache_clear()


def test_report_kernel_imports_no_pandas():
    """The batch notebook's kernel imports precex.reporting.patient: without pandas it starts
    0.4 s sooner in every report and adapted-report job."""
    import subprocess
    import sys

    code = ("import sys, precex.reporting.patient; "
            "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_the_weekly_report_job_imports_no_pandas_and_no_engine():
    """The adapt_report job's process only lists the week's plans and renders them: without
    pandas and the adaptation engine it starts about 0.7 s sooner every week."""
    import subprocess
    import sys

    code = ("import sys, precex.adaptation.week_report, precex.script_runner; "
            "print(sorted(m for m in ('pandas', 'precex.adaptation.engine') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


HOSTILE_VALUES = ["<script>alert(1)</script>", "a & b", 'say "hi"', "it's", "", "\u00e9 <b>",
                  3, 2.5, None, True, ["<x>", "y & z"], {"k": "<v>"}]


@pytest.mark.parametrize("value", HOSTILE_VALUES + [Markup("<b>kept</b>")])
def test_shown_values_are_escaped_exactly_as_markupsafe_escapes_them(value):
    """The report environment's own escaping (escaped_text, written in by its code generator)
    gives the bytes Jinja's autoescape gives, for text, numbers, None, containers, Markup, and
    inside filters, {% set %} blocks and macros."""
    import jinja2
    from precex.reporting import patient

    source = ("{{ v }}|{{ v | string }}|{% set b %}[{{ v }}]{% endset %}{{ b }}|"
              "{% macro m(x) %}<i>{{ x }}</i>{% endmacro %}{{ m(v) }}|{{ [v, v] | join('<') }}|"
              "{{ v if v else '<none>' }}|{{ u }}|{{ '<lit>' }}")
    plain = jinja2.Environment(autoescape=True)
    ours = patient.environment()
    assert type(ours) is patient.ReportEnvironment
    assert ours.from_string(source).render(v=value) == plain.from_string(source).render(v=value)
    assert "environment.escaped_text(" in ours.compile(source, raw=True)


@given(st.text())
def test_any_text_is_escaped_as_markupsafe_escapes_it(text):
    from precex.reporting.patient import escaped_text

    assert escaped_text(text) == str(escape(text))
    assert type(escaped_text(text)) is str


def test_a_full_disk_fails_the_report_job_and_excludes_nobody(tmp_path, monkeypatch):
    """Issue 39: 'No space left on device' while writing reports was recorded as two patients'
    exclusions, so a rerun after freeing space did nothing. A machine's error (no space, quota,
    read-only, I/O) now stops the batch with that reason and names no patient; a patient's own
    error still fails that patient alone."""
    import errno

    from precex.reporting import patient

    prof, pres, prov = write_inputs(tmp_path)
    jobs = [{"key": f"P{i}", "out_html": str(tmp_path / f"out/P{i}.html"),
             "parameters": {"profile_path": prof, "prescription_path": pres,
                            "provenance_path": prov}} for i in (1, 2)]
    jobs_path, failures_path = tmp_path / "jobs.json", tmp_path / "failures.json"
    jobs_path.write_text(json.dumps(jobs))

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(patient, "write_in_job_folder", full)
    patient.render_patient_reports(str(jobs_path), str(failures_path))
    failures = json.loads(failures_path.read_text())
    assert list(failures) == [patient.ENVIRONMENT_ERROR]
    assert "No space left" in failures[patient.ENVIRONMENT_ERROR]

    # render_batch, which both report stages call, turns it into a failed job
    import contextlib
    import types

    import pytest
    from precex.reporting import runner

    client = types.SimpleNamespace(timeout=0)
    monkeypatch.setattr(runner, "_kernel", lambda *a, **k: contextlib.nullcontext(client))
    monkeypatch.setattr(runner, "load_notebook_node", lambda path: {})
    monkeypatch.setattr(runner, "_render_chunk", lambda *a: dict(failures))
    with pytest.raises(OSError, match="No space left"):
        runner.render_batch("batch.ipynb", [runner.RenderJob("P1", {}, jobs[0]["out_html"])])

    def denied(path, data):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(patient, "write_in_job_folder", denied)
    patient.render_patient_reports(str(jobs_path), str(failures_path))
    assert set(json.loads(failures_path.read_text())) == {"P1", "P2"}


def test_blood_clocks_and_formats_are_named_as_readers_know_them(tmp_path):
    """'crp', 'nt probnp', 'horvath2013', 'biom-hdf5' and '30.00 10^9/L' beside '30 x10^9/L'
    were shown to clinicians (issue 42): names and units come from the resource tables, and a
    count shows as the lab wrote it."""
    from precex.blood.catalogue import load_catalogue
    from precex.epigenetics.clocks import load_clocks
    from precex.microbiome.readers import FORMATS
    from precex.reporting.patient import label

    assert all(label(f, "microbiome_format") != f for f in FORMATS)
    assert all(label(c, "clock") != c for c in load_clocks())
    assert all(m.label and "_" not in m.label for m in load_catalogue().values())
    profile = minimal_profile()
    profile["features"].update({"nt_probnp_pg_ml": 293.66, "nt_probnp_date": "2026-01-01",
                                "hs_crp_mg_l": 3.0, "hs_crp_mg_l_censored": "<",
                                "hs_crp_date": "2026-01-01",
                                "horvath2013_age": 55.8, "horvath2013_accel_diff": -4.2,
                                "shannon": 3.1, "shannon_percentile": 40.0,
                                "guild_butyrate_producers_pct": 20.0, "bacillota_pct": 50.0,
                                "bacteroidota_pct": 30.0, "source_format": "biom-hdf5"})
    prof, pres, prov = write_inputs(tmp_path)
    open(prof, "w").write(json.dumps(profile))
    html = render_patient_report(prof, pres, prov)
    blood = html[html.index('id="blood"'):html.index('id="microbiome"')]
    assert "<td>Platelets</td>" in blood and "30 x10^9/L (low)" in blood
    assert "<td>NT-proBNP</td>" in blood and "293.66 pg/mL" in blood
    assert "30.00" not in blood and "nt probnp" not in blood and "150-400" in blood
    assert "<td>hs-CRP</td>" in blood and "&lt;3 mg/L (in range)" in blood  # as reported
    assert "Source: BIOM 2.1 table (HDF5)." in html and "biom-hdf5" not in html
    assert "<td>Horvath 2013 (multi-tissue)</td>" in html


def test_a_full_disk_while_rendering_the_batch_report_fails_the_job(tmp_path, monkeypatch):
    """render_many (the batch report) recorded 'No space left on device' as that report's
    failure; a machine's error now fails the job, so a rerun after freeing space renders it
    (issue 39). Another error is still recorded as the job's failure."""
    import contextlib
    import errno
    import types

    import pytest
    from precex.reporting import runner

    client = types.SimpleNamespace(timeout=0)
    monkeypatch.setattr(runner, "_kernel", lambda *a, **k: contextlib.nullcontext(client))
    monkeypatch.setattr(runner, "load_notebook_node", lambda path: {})

    def full(client, template, job):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "_render_one", full)
    job = RenderJob("batch report", {}, str(tmp_path / "cohort.html"))
    with pytest.raises(OSError, match="No space left on device"):
        render_many("cohort.ipynb", [job])

    def broken(client, template, job):
        raise ValueError("the notebook displayed no HTML")

    monkeypatch.setattr(runner, "_render_one", broken)
    assert "no HTML" in render_many("cohort.ipynb", [job])["batch report"]


def test_no_page_shows_direction_overrides_from_inputs(tmp_path):
    """A name or note with U+202E shows reordered text ('dr.x' as another name); every value a
    report template shows is without direction overrides and isolates (issue 39)."""
    from precex.reporting.patient import environment, without_bidi
    from precex.review_app.app import templates

    text = "dr.x\u202e htims.rd\u2066 \u2069"
    assert without_bidi(text) == "dr.x htims.rd "
    for env in (environment(), templates()):
        page = env.from_string("<p>{{ a }}</p>{{ b }}").render(a=text, b=[text])
        assert not any(ch in page for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2069")


def test_report_kernels_run_no_startup_script_and_write_nothing_home(tmp_path, monkeypatch):
    """A startup script in the user's IPython profile ran in every report kernel, and kernels
    wrote to the home folder (issue 39): they now get private IPython and Jupyter folders."""
    from precex.reporting.runner import RenderJob, render_many

    profile = tmp_path / "ipython" / "profile_default" / "startup"
    profile.mkdir(parents=True)
    ran = tmp_path / "startup-ran"
    (profile / "00-evil.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\n")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "a.html"
    assert render_many(str(_template(tmp_path)), [RenderJob("a", {"value": "x"}, str(out))]) \
        == {}
    assert out.read_text().strip() == "<p>x</p>"
    assert not ran.exists() and not any(home.iterdir())


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    [chr(c) for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)])))
def test_bidi_free_removes_exactly_the_direction_characters(text):
    """The page filter looks for the characters before translating (speed): the same text
    as translating every page."""
    from precex.reporting.patient import _BIDI, bidi_free

    assert bidi_free(text) == text.translate(_BIDI)
