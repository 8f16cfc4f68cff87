"""Stratified block randomisation with an append-only, tamper-evident allocation log.

Arms: `standard` (ACSM base prescription, no precision modifiers) and `precision`. Patients are
allocated in sheet order; each stratum (the values of the strata columns, e.g. subtype and
treatment phase) has its own sequence of blocks, and block b of stratum s is drawn from a
generator seeded by (seed, SHA-256 of s, b): its size is drawn from the block sizes (randomly
varied, so the next arm cannot be guessed) and it holds equal numbers of each arm in random
order. Hence:

- the same sheet, seed, strata and block sizes give the same allocation (even from scratch);
- adding patients extends the log without changing any earlier row: an allocated patient keeps
  the arm, and a stratum's sequence continues where it stopped;
- the log cannot be silently re-drawn: its header records the seed, strata and block sizes and
  a run with other settings is refused; every row carries a SHA-256 chained over the header
  and all rows before it, so an edited, removed or reordered row is found and named.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from precex.io.chained_log import genesis, link, verified_rows
from precex.io.files import write_text
from precex.problems import InputError, Problem

ARMS = ("standard", "precision")
COLUMNS = ["sequence", "patient_id", "stratum", "block", "block_size", "position", "arm",
           "chain"]
HEADER_MARK = "# precex trial allocation log"


@dataclass(frozen=True)
class Settings:
    seed: int
    strata: tuple[str, ...]
    block_sizes: tuple[int, ...]

    def header(self) -> list[str]:
        return [f"{HEADER_MARK} (append-only; every row is chained by SHA-256: do not edit)",
                f"# seed: {self.seed}", f"# strata: {','.join(self.strata)}",
                f"# block_sizes: {','.join(map(str, self.block_sizes))}"]

    def check(self, path: str) -> None:
        bad = [b for b in self.block_sizes if b < len(ARMS) or b % len(ARMS)]
        if bad or not self.block_sizes:
            raise InputError([Problem(path, f"block sizes {list(self.block_sizes)} cannot hold "
                                      "the two arms equally.", "use even sizes, e.g. 2 4 6.",
                                      stage="trial")])


def _block(settings: Settings, stratum: str, index: int) -> list[str]:
    key = int.from_bytes(hashlib.sha256(stratum.encode("utf-8")).digest()[:8], "big")
    rng = np.random.default_rng([settings.seed, key, index])
    size = int(rng.choice(settings.block_sizes))
    arms = np.repeat(ARMS, size // len(ARMS))
    return [str(a) for a in rng.permutation(arms)]


def stratum_of(row: pd.Series, strata: tuple[str, ...]) -> str:
    values = []
    for name in strata:
        value = row.get(name)
        values.append("unknown" if value is None or pd.isna(value) or value == "" else
                      str(value))
    return "|".join(values) or "all"


def read_log(path: str, settings: Settings) -> pd.DataFrame:
    """The log's rows, after checking its settings and every row's chain."""
    file = Path(path)
    if not file.exists():
        return pd.DataFrame(columns=COLUMNS)
    lines = file.read_text(encoding="utf-8").splitlines()
    head = [line for line in lines if line.startswith("#")]
    if not head or not head[0].startswith(HEADER_MARK):
        raise InputError([Problem(path, "not a precex allocation log.",
                                  "give the log written by precex trial allocate.",
                                  stage="trial")])
    if head != settings.header():
        raise InputError([Problem(path, "the log was made with other settings ("
                                  + "; ".join(h.lstrip("# ") for h in head[1:]) + "); an "
                                  "allocation cannot be re-drawn.", "use the log's seed, strata "
                                  "and block sizes, or start a new trial with a new log.",
                                  stage="trial")])
    fix = "restore the log from its backup; never edit an allocation log."
    rows = verified_rows(path, lines, COLUMNS, stage="trial", fix=fix)
    _replay(path, rows, settings, len(head) + 2, fix)
    return _typed(pd.DataFrame(rows, columns=COLUMNS))


def _replay(path: str, rows: list[list[str]], settings: Settings, first_row: int,
            fix: str) -> None:
    """Every row is the next draw of its stratum's seeded sequence: its block and position
    follow the row before in that stratum, and its arm is the one the seed puts there. The
    chain can be recomputed by anyone; the seeded sequence cannot be changed without it
    showing, so a changed arm is named by row (issue 39)."""
    state: dict[str, tuple[int, int]] = {}
    for n, fields in enumerate(rows, start=first_row):
        record = dict(zip(COLUMNS, fields, strict=True))
        stratum = record["stratum"]
        block, position = state.get(stratum, (1, 0))
        arms = _block(settings, stratum, block)
        if position >= len(arms):
            block, position = block + 1, 0
            arms = _block(settings, stratum, block)
        position += 1
        expected = [str(block), str(len(arms)), str(position), arms[position - 1]]
        if [record["block"], record["block_size"], record["position"], record["arm"]] \
                != expected:
            raise InputError([Problem(path, f"this allocation is not the seeded sequence's "
                                      f"next draw for stratum '{stratum}' (block {block}, "
                                      f"position {position}: {arms[position - 1]}): it was "
                                      "changed.", fix, row=n, stage="trial")])
        state[stratum] = (block, position)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({col: int for col in ("sequence", "block", "block_size", "position")})


def allocate(patients: pd.DataFrame, settings: Settings, log_path: str
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Allocate the patients (index: patient_id, in sheet order) not yet in the log; append
    them. Returns (the whole log, the new rows)."""
    settings.check(log_path)
    log = read_log(log_path, settings)
    done = set(log["patient_id"])
    # Where each stratum's sequence stands: its last block and position.
    state: dict[str, tuple[int, int]] = {}
    for row in log.itertuples():
        state[row.stratum] = (row.block, row.position)
    head = settings.header()
    previous = log["chain"].iloc[-1] if len(log) else genesis(head)
    sequence = int(log["sequence"].max()) if len(log) else 0
    new = []
    blocks: dict[tuple[str, int], list[str]] = {}
    for pid, row in patients.iterrows():
        if str(pid) in done:
            continue
        stratum = stratum_of(row, settings.strata)
        block, position = state.get(stratum, (1, 0))
        arms = blocks.setdefault((stratum, block), _block(settings, stratum, block))
        if position >= len(arms):
            block, position = block + 1, 0
            arms = blocks.setdefault((stratum, block), _block(settings, stratum, block))
        position += 1
        state[stratum] = (block, position)
        sequence += 1
        fields = [str(sequence), str(pid), stratum, str(block), str(len(arms)), str(position),
                  arms[position - 1]]
        previous = link(previous, fields)
        new.append(fields + [previous])
    added = pd.DataFrame(new, columns=COLUMNS)
    if new or not Path(log_path).exists():
        text = "\n".join(head + ["\t".join(COLUMNS)]
                         + ["\t".join(map(str, r)) for r in log[COLUMNS].to_numpy()]
                         + ["\t".join(r) for r in new]) + "\n"
        old = Path(log_path).read_text(encoding="utf-8") if Path(log_path).exists() else ""
        assert text.startswith(old), "append-only"  # earlier rows are never rewritten
        write_text(log_path, text)
    added = _typed(added)
    if not len(added):
        return log, added
    return (pd.concat([log, added], ignore_index=True) if len(log) else added), added


def read_log_rows(path: str) -> pd.DataFrame:
    """A log's rows, verified with the settings recorded in its own header."""
    return read_log(path, _own_settings(path))


def _own_settings(path: str) -> Settings:
    lines = Path(path).read_text(encoding="utf-8").splitlines() if Path(path).exists() else []
    head = {line.split(":", 1)[0].lstrip("# ").strip(): line.split(":", 1)[1].strip()
            for line in lines[1:4] if line.startswith("#") and ":" in line}
    try:
        settings = Settings(int(head["seed"]), tuple(filter(None, head["strata"].split(","))),
                            tuple(int(b) for b in head["block_sizes"].split(",")))
    except (KeyError, ValueError):
        raise InputError([Problem(path, "not a precex allocation log (header missing).",
                                  "give the log written by precex trial allocate.",
                                  stage="trial")]) from None
    return settings


def read_arms(path: str) -> dict[str, str]:
    """patient -> arm from a log, its chain verified with the settings in its own header."""
    log = read_log_rows(path)
    return dict(zip(log["patient_id"], log["arm"], strict=True))


def balance(log: pd.DataFrame) -> pd.DataFrame:
    """Patients per arm in each stratum (and in total)."""
    table = pd.crosstab(log["stratum"], log["arm"]).reindex(columns=list(ARMS), fill_value=0)
    table.loc["all"] = table.sum()
    return table
