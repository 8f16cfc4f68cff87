"""Stale weekly files of a shard's patients are removed before the shard is adapted again."""

from precex.adaptation.stage import remove_stale_weeks


def test_only_this_shards_weekly_files_are_removed(tmp_path):
    rx, reports = tmp_path / "prescriptions", tmp_path / "reports"
    rx.mkdir()
    reports.mkdir()
    names = {rx: ["P1.week-1.json", "P1.week-2.fhir.json", "P10.week-1.json", "P2.week-1.json",
                  "P[1].week-1.json", "P1.json"],
             reports: ["P1.week-1.html", "P2.week-1.html", "P1.week-1.json"]}
    for folder, files in names.items():
        for name in files:
            (folder / name).write_text("x")
    remove_stale_weeks(["P1", "P[1]"], ((rx, ".json"), (reports, ".html"),
                                        (tmp_path / "absent", ".json")))
    assert sorted(p.name for p in rx.iterdir()) == ["P1.json", "P10.week-1.json",
                                                     "P2.week-1.json"]
    assert sorted(p.name for p in reports.iterdir()) == ["P1.week-1.json", "P2.week-1.html"]
