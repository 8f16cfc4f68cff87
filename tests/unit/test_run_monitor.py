"""precex run's supervisor: reading Snakemake's output, progress per stage, the resume command."""

from __future__ import annotations

import io

from precex.run_monitor import (
    CHATTER,
    Progress,
    RunState,
    _relay,
    resume_command,
    session_members,
)

# Snakemake 9's output for a run, as it writes it to stderr (abridged to the parts read).
SNAKEMAKE_OUTPUT = """Assuming unrestricted shared filesystem usage.

SNAKEMAKE
=========
  Date: 2026-11-27 19:31:42
  Config file(s): [PosixPath('/work/config/config.yaml')]

Building DAG of jobs...
Using shell: /usr/bin/bash
Provided cores: 2
Rules claiming more threads will be scaled down.
Job stats:
job                      count
---------------------  -------
blood                        1
prescribe_shard              2
report_shard                 2
total                        5

Select jobs to execute...
Execute 2 jobs...

[Fri Nov 27 19:31:44 2026]
localrule blood:
    input: results/validated/patients.tsv
    output: results/blood/features.tsv
    log: results/logs/blood.log
    jobid: 3
    reason: Missing output files: results/blood/features.tsv
    resources: tmpdir=/tmp

[Fri Nov 27 19:31:45 2026]
rule prescribe_shard:
    input: results/profiles/shards/shard0002.features.jsonl
    output: results/shards/shard0002/prescriptions.tsv
    jobid: 7
    reason: Missing output files: results/shards/shard0002/prescriptions.tsv
    wildcards: shard=shard0002
    resources: tmpdir=/tmp, runtime=10

[Fri Nov 27 19:31:46 2026]
Finished jobid: 3 (Rule: blood)
1 of 5 steps (20%) done
[Fri Nov 27 19:31:47 2026]
Finished jobid: 7 (Rule: prescribe_shard)
2 of 5 steps (40%) done
precex: sheet row 4 (patient P004): age 'sixty' is not a number; fix: give the age in years.
"""


def _read(text: str) -> tuple[RunState, list[tuple[str, str]]]:
    state, finished = RunState(), []
    for line in text.splitlines(keepends=True):
        done = state.read(line)
        if done:
            finished.append(done)
    return state, finished


def test_the_plan_steps_and_finished_jobs_are_read_from_snakemakes_output():
    state, finished = _read(SNAKEMAKE_OUTPUT)
    assert state.planned == {"blood": 1, "prescribe_shard": 2, "report_shard": 2}
    assert (state.steps_done, state.steps_total) == (2, 5)
    assert finished == [("blood", ""), ("prescribe_shard", "shard0002")]
    assert state.summary() == "at 2 of 5 steps (finished: blood, prescribe_shard)"
    assert RunState().summary() == "before any step finished"


def test_progress_counts_patients_of_finished_shards_and_jobs_of_batch_stages():
    stream = io.StringIO()
    progress = Progress(stream, {"shard0001": 7, "shard0002": 3})
    progress.plan({"blood": 1, "clinical": 1, "prescribe_shard": 2, "collect_prescriptions": 1,
                   "all": 1})
    assert set(progress.bars) == {"profile modalities", "prescribe"}
    assert progress.bars["prescribe"].total == 10  # patients, not shards
    assert progress.bars["profile modalities"].total == 2  # jobs
    progress.advance("prescribe_shard", "shard0002")
    progress.advance("collect_prescriptions", "")  # a batch merge moves no patient
    progress.advance("blood", "")
    assert progress.bars["prescribe"].n == 3 and progress.bars["profile modalities"].n == 1
    progress.plan({"report_shard": 2, "blood": 1})  # the plan grows after the checkpoint
    assert progress.bars["reports"].total == 10 and progress.bars["profile modalities"].total == 2
    progress.close()


def test_bars_say_what_runs_count_patient_weeks_and_that_totals_may_grow():
    """A shard's patients finish together, so a bar went 0/30 -> 30/30 with nothing between,
    and totals grew after a checkpoint without a word (issue 42). Now a bar names its running
    jobs and the checkpoints still to finish, and weekly stages count patient-weeks."""
    stream = io.StringIO()
    progress = Progress(stream, {"shard0001": 30})
    progress.plan({"validate": 1, "host_profile": 1, "split_followup": 1})
    progress.start("validate")
    assert progress.bars["check inputs"].postfix == "1 job running; total may grow"
    assert progress.pending_checkpoints == {"host_profile", "split_followup"}
    progress.advance("validate", "")
    progress.advance("host_profile", "")
    progress.plan({"prescribe_shard": 1, "adapt_shard": 3, "adapt_report": 3})
    assert progress.bars["prescribe"].total == 30 and progress.bars["adapt"].total == 90
    assert progress.bars["adapt"].unit == " patient-weeks"
    progress.start("prescribe_shard")
    assert progress.bars["prescribe"].postfix == "1 job running; total may grow"
    assert progress.pending_checkpoints == {"split_followup"}
    progress.advance("split_followup", "")
    progress.advance("prescribe_shard", "shard0001")
    assert progress.bars["prescribe"].n == 30
    for _ in range(3):
        progress.start("adapt_shard")
        progress.advance("adapt_shard", "shard0001")
    assert progress.bars["adapt"].n == 90 and progress.bars["weekly reports"].postfix == ""
    assert not progress.pending_checkpoints
    progress.close()


def test_jobs_no_job_table_listed_grow_their_stage_as_they_start():
    """Snakemake prints its job table once, before the follow-up checkpoint: the weekly jobs
    were in no table, so the adapt bar showed 1/1 jobs (the collecting job) and closed after
    the first week (found on a terminal run of the demo)."""
    stream = io.StringIO()
    progress = Progress(stream, {"shard0001": 30})
    progress.plan({"split_followup": 1, "adapt": 1, "prescribe_shard": 1})
    assert progress.bars["adapt"].total == 0 and progress.bars["adapt"].unit == " patient-weeks"
    progress.advance("split_followup", "")
    for week in range(3):
        progress.start("adapt_shard", "shard0001")
        assert progress.bars["adapt"].total == 30 * (week + 1)
        assert progress.bars["adapt"].postfix == "1 job running"
        progress.advance("adapt_shard", "shard0001")
        assert progress.bars["adapt"].n == 30 * (week + 1)
    progress.start("adapt_report", "shard0001")
    assert progress.bars["weekly reports"].total == 30
    progress.start("adapt", "")
    progress.advance("adapt", "")  # the collecting job moves no patient-week
    assert progress.bars["adapt"].n == 90 and progress.bars["adapt"].total == 90
    progress.close()


def test_the_monitor_reads_job_starts_with_their_shards():
    state = RunState()
    for line in ["localrule adapt_shard:", "    jobid: 7",
                 "    wildcards: shard=shard0002, week=1", "rule blood:", "    jobid: 3"]:
        state.read(line)
    assert state.started == [("adapt_shard", "shard0002"), ("blood", "")]


def test_on_a_terminal_chatter_is_replaced_but_job_messages_and_errors_show():
    stream = io.StringIO()
    progress = Progress(stream, {"shard0001": 7, "shard0002": 3})
    _relay(io.StringIO(SNAKEMAKE_OUTPUT + "Error in rule blood:\n    jobid: 3\n"
                       "    log: results/logs/blood.log (check log file(s) for error details)\n"
                       "\nShutting down, this might take some time.\n"),
           stream, RunState(), progress, {}, "precex run --cores 2 --rerun-incomplete")
    progress.close()
    shown = stream.getvalue()
    assert "age 'sixty' is not a number" in shown
    assert "Error in rule blood:" in shown and "check log file(s)" in shown
    assert "Shutting down" in shown
    for chatter in ("Select jobs to execute", "reason: Missing output", "Finished jobid",
                    "Building DAG", "Config file(s)"):
        assert chatter not in shown, chatter
    assert "prescribe" in shown and "patients" in shown  # the bars


def test_off_a_terminal_snakemakes_output_passes_unchanged():
    stream = io.StringIO()
    _relay(io.StringIO(SNAKEMAKE_OUTPUT), stream, RunState(), None, {}, "precex run")
    assert stream.getvalue() == SNAKEMAKE_OUTPUT


def test_after_a_stop_nothing_more_reaches_the_user():
    stream = io.StringIO()
    _relay(io.StringIO("Traceback (most recent call last):\nKeyboardInterrupt\n"), stream,
           RunState(), None, {"signal": 2}, "precex run")
    assert stream.getvalue() == ""


def test_snakemakes_incomplete_files_hint_is_followed_by_the_precex_command():
    stream = io.StringIO()
    text = ("IncompleteFilesException:\nThe files below seem to be incomplete. If you are sure"
            " that certain files are not incomplete, mark them as complete with\n\n"
            "    snakemake --cleanup-metadata <filenames>\n\nTo re-generate the files rerun your"
            " command with the --rerun-incomplete flag.\n")
    _relay(io.StringIO(text), stream, RunState(), None, {},
           resume_command(["--cores", "2", "--configfile", "my config.yaml"]))
    shown = stream.getvalue()
    assert shown.startswith(text)
    assert shown.endswith("resume it with: precex run --cores 2 --configfile 'my config.yaml' "
                          "--rerun-incomplete\n")


def test_the_resume_command_is_the_users_own_plus_rerun_incomplete_once():
    assert resume_command(["--cores", "4"]) == "precex run --cores 4 --rerun-incomplete"
    assert resume_command(["--cores", "4", "--rerun-incomplete"]) == \
        "precex run --cores 4 --rerun-incomplete"
    assert resume_command(["--unlock", "--cores", "1"]) == \
        "precex run --cores 1 --rerun-incomplete"
    # a forced run is not forced again: the resume keeps what finished (issue 42)
    assert resume_command(["--demo", "--forceall", "--cores", "2"]) == \
        "precex run --demo --cores 2 --rerun-incomplete"


def test_chatter_patterns_never_hide_a_precex_message():
    for text in ("Nothing to be done (all requested files are present and up to date).",
                 "Complete log(s): /w/.snakemake/log/2026.snakemake.log",
                 "Elapsed time: 0:00:13.420507",
                 "precex: sheet row 3 (patient P003): platelets missing",
                 "ERROR precex: blood.tsv row 4: unit 'mg' is not a count",
                 "MissingInputException in rule blood in file /w/modalities.smk, line 92:"):
        assert not CHATTER.match(text), text


def test_session_members_lists_this_process_in_its_own_session():
    import os

    assert os.getpid() in session_members(os.getsid(0))
