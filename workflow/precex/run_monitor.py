"""`precex run`: Snakemake as a child process with progress, clean stops and a resume command.

Snakemake runs in its own session, so a Ctrl-C at the terminal reaches precex only. precex then
asks Snakemake to stop (SIGINT: it cancels its jobs, marks their outputs incomplete and releases
its lock), escalates to SIGTERM and SIGKILL for whatever is left of the session after a grace
period, and prints one line: what finished and the exact command that resumes the run. A second
Ctrl-C stops everything at once. SIGTERM to precex (a scheduler's or `timeout`'s) does the same.
Nothing Snakemake or its jobs print after the stop reaches the user (the tracebacks of
interrupted kernels): Snakemake's own log keeps the detail.

On a terminal, and without --verbose, Snakemake's per-job chatter is replaced by one progress
bar per stage (patients done of total for shard stages, tqdm); errors and job messages still
show. Off a terminal (CI, batch logs, tests) the output is Snakemake's, unchanged.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

# Seconds Snakemake gets to stop its jobs after SIGINT, then its session gets SIGTERM; after the
# same again, SIGKILL.
STOP_GRACE_SECONDS = 20.0
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
SIGNAL_WORDS = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}

STEPS = re.compile(r"^(\d+) of (\d+) steps")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")
JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOB_FIELD = re.compile(r"^\s+(jobid|wildcards): (.*)$")
STATS_ROW = re.compile(r"^(\w+)\s+(\d+)$")
# Lines of Snakemake's per-job chatter, replaced by the progress bars on a terminal.
CHATTER = re.compile(
    r"^(\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\]$|(local)?(rule|checkpoint) \w+:$|\s+\w[\w ]*: |"
    r"Select jobs to execute|Execute \d+ jobs|Finished jobid|\d+ of \d+ steps|Building DAG|"
    r"Using shell|Provided (cores|resources)|Rules claiming|Job stats|job\s+count$|[-\s]+$|"
    r"\w+\s+\d+$|Assuming unrestricted|host: |Updating checkpoint|"
    r"Waiting |Touching output|Removing temporary|Activating|Conda environments|"
    r"Updating job|SNAKEMAKE$|=+$|\s+Config (file\(s\)|MD5): |"
    r"DAG of jobs will be updated)"
)
INCOMPLETE = re.compile(r"IncompleteFilesException")


@dataclass
class RunState:
    """What the output said so far: step counts, finished jobs, and the jobs' rules/shards."""

    steps_done: int = 0
    steps_total: int = 0
    jobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # jobid -> (rule, shard)
    finished: list[str] = field(default_factory=list)  # rules, in finishing order
    planned: dict[str, int] = field(default_factory=dict)  # rule -> job count (Job stats)
    started: list[tuple[str, str]] = field(default_factory=list)  # (rule, shard), in order
    _header: str = ""
    _in_stats: bool = False

    def read(self, line: str) -> tuple[str, str] | None:
        """Update from one line; returns (rule, shard) of a job that just finished."""
        text = line.rstrip("\n")
        if text.startswith("Job stats:"):
            self._in_stats = True
            return None
        if self._in_stats:
            row = STATS_ROW.match(text.strip())
            if row and row.group(1) != "total":
                self.planned[row.group(1)] = int(row.group(2))
            elif row or (not text.strip() and self.planned):  # the total row ends the table
                self._in_stats = False
            return None
        if match := STEPS.match(text):
            self.steps_done, self.steps_total = int(match.group(1)), int(match.group(2))
        elif match := JOB_HEADER.match(text):
            self._header = match.group(1)
        elif (match := JOB_FIELD.match(text)) and self._header:
            if match.group(1) == "jobid":
                self.jobs[match.group(2).strip()] = (self._header, "")
                if self._header not in SHARD_RULES:  # a shard job starts at its wildcards
                    self.started.append((self._header, ""))
            elif match.group(1) == "wildcards":
                shard = re.search(r"shard=(\w+)", match.group(2))
                for jobid, (rule, _) in list(self.jobs.items())[-1:]:
                    if rule == self._header and shard:
                        self.jobs[jobid] = (rule, shard.group(1))
                        if rule in SHARD_RULES:
                            self.started.append((rule, shard.group(1)))
        elif match := FINISHED.match(text):
            rule = match.group(2)
            self.finished.append(rule)
            return self.jobs.get(match.group(1), (rule, ""))
        return None

    def summary(self) -> str:
        done = sorted(set(self.finished) - {"all"})
        where = f"at {self.steps_done} of {self.steps_total} steps" if self.steps_total \
            else "before any step finished"
        return where + (f" (finished: {', '.join(done)})" if done else "")


# Rules grouped into the stages a user recognises (README "Architecture"); a rule not named
# here gets a bar of its own.
STAGES = {
    "check inputs": ("validate", "provenance", "report_provenance", "split_followup"),
    "profile modalities": ("microbiome", "epigenetics", "genetics", "blood", "clinical",
                           "wearables"),
    "host profile": ("host_profile", "exclusions"),
    "prescribe": ("prescribe_shard", "collect_prescriptions"),
    "reports": ("report_shard", "cohort_report"),
    "adapt": ("adapt_shard", "adapt"),
    "weekly reports": ("adapt_report",),
    "publish": ("publish_shard",),
    "research": ("research",),
    "manifest": ("manifest",),
}
STAGE_OF_RULE = {rule: stage for stage, rules in STAGES.items() for rule in rules}
# Rules with one job per shard (and per week for the weekly ones): their bars count patients
# (patient-weeks), from the shard sizes known before the run.
SHARD_RULES = ("prescribe_shard", "report_shard", "adapt_shard", "adapt_report")
# Checkpoints: until they finish, Snakemake has not planned the jobs after them, so the totals
# shown may still grow (said on the bars, not silently).
CHECKPOINTS = ("host_profile", "split_followup")


class Progress:
    """One tqdm bar per stage: patients done of total for stages with shard jobs (when the
    shard sizes are known; patient-weeks for the weekly ones), jobs done of total for the
    others. Snakemake prints its job table once, before the checkpoints: jobs no table listed
    (the weekly ones) grow their stage's total as they start, and until every checkpoint has
    finished each bar says its total may grow."""

    def __init__(self, stream: IO[str], shard_sizes: dict[str, int]) -> None:
        self.stream = stream
        self.shard_sizes = shard_sizes
        self.bars: dict[str, Any] = {}
        self.by_patient = {STAGE_OF_RULE[r] for r in SHARD_RULES} if shard_sizes else set()
        self.rules: set[str] = set()  # rules of the job tables read so far
        self.running: dict[str, int] = {}  # stage -> jobs started and not finished
        self.pending_checkpoints: set[str] = set()

    def _amount(self, rule: str, shard: str = "", jobs: int = 1) -> int:
        """What `jobs` jobs of `rule` add to their stage's bar: patients (of one shard, or of
        every shard once per week), nothing for a batch job of a by-patient stage, else jobs."""
        stage = STAGE_OF_RULE.get(rule, rule)
        if stage not in self.by_patient:
            return jobs
        if rule not in SHARD_RULES:
            return 0
        if shard:
            return self.shard_sizes.get(shard, 0)
        weeks = max(1, -(-jobs // len(self.shard_sizes)))
        return sum(self.shard_sizes.values()) * weeks

    def _bar(self, stage: str) -> Any:
        """The stage's bar; a bar closed when its stage looked finished opens again, where it
        was, when more of its jobs start."""
        from tqdm import tqdm

        old = self.bars.get(stage)
        if old is None or old.disable:
            size = shutil.get_terminal_size((100, 40))  # a 0x0 pty (script, CI) has no size
            unit = (" patient-weeks" if stage in ("adapt", "weekly reports") else " patients") \
                if stage in self.by_patient else " jobs"
            position = list(self.bars).index(stage) if old is not None else len(self.bars)
            self.bars[stage] = tqdm(total=old.total if old is not None else 0,
                                    initial=old.n if old is not None else 0,
                                    desc=f"{stage:<18}", unit=unit, file=self.stream,
                                    position=position, leave=True,
                                    ncols=min(size.columns or 100, 100),
                                    nrows=max(size.lines, 2 * len(STAGES) + 2),
                                    bar_format="{desc} {n_fmt}/{total_fmt}{unit} "
                                               "[{elapsed}] {bar}{postfix}")
        return self.bars[stage]

    def plan(self, planned: dict[str, int]) -> None:
        for rule, count in planned.items():
            if rule == "all" or rule in self.rules:
                continue
            self.rules.add(rule)
            if rule in CHECKPOINTS:
                self.pending_checkpoints.add(rule)
            bar = self._bar(STAGE_OF_RULE.get(rule, rule))
            bar.total += self._amount(rule, jobs=count)
            bar.refresh()
        self._notes()

    def _notes(self) -> None:
        """Each open bar says what is running (a shard's patients all finish together, so a
        bar at 0 with a job running is working, not stuck) and whether its total may still
        grow (a checkpoint has not finished)."""
        later = ["total may grow"] if self.pending_checkpoints else []  # short: the bar fits
        for stage, bar in self.bars.items():
            if bar.disable:
                continue
            running = self.running.get(stage, 0)
            if bar.total and bar.n >= bar.total and not running and not later:
                bar.set_postfix_str("", refresh=False)
                bar.close()  # its time stops where the stage finished
                continue
            notes = [f"{running} job{'s' if running != 1 else ''} running"] if running else []
            bar.set_postfix_str("; ".join(notes + later), refresh=True)

    def start(self, rule: str, shard: str = "") -> None:
        if rule == "all":
            return
        stage = STAGE_OF_RULE.get(rule, rule)
        self.running[stage] = self.running.get(stage, 0) + 1
        # in no job table: the stage's total grows as the rule's jobs start
        more = self._amount(rule, shard) if rule not in self.rules else 0
        closed = stage in self.bars and self.bars[stage].disable
        if more or not closed:  # a finished stage's bar opens again only for more work
            self._bar(stage).total += more
        self._notes()

    def advance(self, rule: str, shard: str) -> None:
        stage = STAGE_OF_RULE.get(rule, rule)
        self.running[stage] = max(0, self.running.get(stage, 0) - 1)
        self.pending_checkpoints.discard(rule)
        bar = self.bars.get(stage)
        if bar is None or bar.disable:
            return
        bar.update(self._amount(rule, shard) if stage in self.by_patient else 1)
        self._notes()

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.stream)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.set_postfix_str("", refresh=False)
            bar.close()


def session_members(session: int) -> list[int]:
    """PIDs whose session is `session` (Linux /proc); jobs that outlived Snakemake included."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if len(fields) > 3 and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def signal_session(session: int, signum: int) -> None:
    """Signal the whole session: its process group and any member that left the group."""
    try:
        os.killpg(session, signum)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in session_members(session):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def resume_command(user_args: list[str]) -> str:
    """The user's own `precex run` arguments plus --rerun-incomplete, without those that
    would redo finished work (--forceall, -F) or only unlock."""
    args = [a for a in user_args if a not in ("--unlock", "--forceall", "-F")]
    if "--rerun-incomplete" not in args and "--ri" not in args:
        args.append("--rerun-incomplete")
    return shlex.join(["precex", "run", *args])


def run_snakemake(command: list[str], *, user_args: list[str], verbose: bool = False,
                  shard_sizes: Callable[[], dict[str, int]] | None = None,
                  stream: IO[str] | None = None, env: dict[str, str] | None = None) -> int:
    """Run `command` (a Snakemake invocation), supervise it, return its exit code (130/143
    when stopped by SIGINT/SIGTERM)."""
    stream = stream or sys.stderr
    interactive = stream.isatty() and not verbose
    stopping: dict[str, int] = {}
    children: list[subprocess.Popen[str]] = []

    def escalate(child: subprocess.Popen[str]) -> None:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if child.poll() is None:
                signal_session(child.pid, signum)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if "signal" in stopping:  # asked twice: stop now
            for child in children:
                signal_session(child.pid, signal.SIGKILL)
            return
        stopping["signal"] = signum
        for child in children:
            try:
                os.kill(child.pid, signal.SIGINT)  # Snakemake cancels its jobs, frees its lock
            except ProcessLookupError:
                pass
            threading.Thread(target=escalate, args=(child,), daemon=True).start()

    # Installed before the child starts: a caught signal is reset to its default in the child,
    # so Snakemake reacts to SIGINT even when precex itself was started with SIGINT ignored
    # (a background job of a script, nohup).
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, errors="replace",
                                 bufsize=1, start_new_session=True, env=env)
    except BaseException:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        raise
    children.append(child)
    if "signal" in stopping:  # a signal arrived while it started
        on_signal(stopping.pop("signal"), None)
    state = RunState()
    progress = Progress(stream, _safely(shard_sizes)) if interactive else None
    try:
        _relay(child.stderr, stream, state, progress, stopping, resume_command(user_args))
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if progress:
            progress.close()
    if "signal" not in stopping or (code == 0 and state.steps_total
                                    and state.steps_done == state.steps_total):
        return code  # not stopped, or it had finished when the signal came
    signal_session(child.pid, signal.SIGTERM)  # jobs that outlived Snakemake
    time.sleep(0.5)
    signal_session(child.pid, signal.SIGKILL)
    signum = stopping["signal"]
    print(f"precex: stopped by {SIGNAL_WORDS.get(signum, signum)} {state.summary()}. "
          f"Resume with: {resume_command(user_args)}", file=stream, flush=True)
    return EXIT_CODES.get(signum, 1)


def _relay(lines: Iterable[str] | None, stream: IO[str], state: RunState,
           progress: Progress | None, stopping: dict[str, int], resume: str) -> None:
    in_error = hinted = False
    for line in lines or []:
        known = len(state.started)
        finished = state.read(line)
        if "signal" in stopping:
            continue  # after a stop: Snakemake's log keeps the interrupted jobs' output
        if progress is not None:
            if set(state.planned) - progress.rules - {"all"}:
                progress.plan(state.planned)
            for rule, shard in state.started[known:]:  # the jobs that started
                progress.start(rule, shard)
            if finished:
                progress.advance(*finished)
            text = line.rstrip("\n")
            in_error = in_error or text.startswith(("Error in rule", "RuleException",
                                                   "WorkflowError"))
            if in_error or (text.strip() and not CHATTER.match(text)):
                progress.write(text)
            if not text.strip():
                in_error = False
        else:
            stream.write(line)
            stream.flush()
        hinted = hinted or bool(INCOMPLETE.search(line))
    if hinted and "signal" not in stopping:  # Snakemake's own hint names `snakemake`
        _write(stream, progress, f"precex: a previous run was stopped midway; resume it with: "
               f"{resume}")


def _write(stream: IO[str], progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress.write(text)
    else:
        print(text, file=stream, flush=True)


def _safely(shard_sizes: Callable[[], dict[str, int]] | None) -> dict[str, int]:
    """Shard sizes for the bars; without them the bars count jobs (never fail a run on this)."""
    if shard_sizes is None:
        return {}
    try:
        return shard_sizes()
    except Exception:  # the config's own problems are reported by Snakemake, not here
        return {}
