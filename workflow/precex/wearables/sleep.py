"""Sleep as intervals, for every source that gives sleep periods (Apple Health samples, FHIR
sleep Observations with a period, Garmin sleep summaries and FIT sleep levels).

A night's sleep is never the sum of whatever samples overlap: per night (the local day the
sleep ends) and source, overlapping periods are one sleep (their union for samples that are
all asleep, the longest measured duration for periods that carry their own asleep time), and
of several sources the one with the most sleep is used (never their sum). A single period
longer than the placeholder limit (resources/wearables/wear_time.yaml) is an app's block, not
measured sleep: it is left out and counted, so the reader names it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from precex.wearables.wear import WEAR_TIME

BLOCK_MAX_H = float(WEAR_TIME["sleep"]["block_max_hours"])
SLEEP_BLOCK_TEXT = ("{kind} of " + f"{BLOCK_MAX_H:g}" + " h or more (an app's placeholder, "
                    "not measured sleep)")


@dataclass(frozen=True)
class SleepSpan:
    """One sleep period of one source: start and end in epoch seconds, and the time asleep
    within it when the source measured it (None: the whole period was asleep)."""

    patient_id: str
    night: str  # the local date the period ends (ISO)
    source: str
    start: float
    end: float
    asleep_s: float | None = None


def _asleep_seconds(cluster: list[SleepSpan]) -> float:
    """One sleep recorded by overlapping periods: the union of samples that are all asleep,
    else the longest measured asleep time (the same sleep recorded twice is counted once)."""
    if all(s.asleep_s is None for s in cluster):
        return max(s.end for s in cluster) - min(s.start for s in cluster)
    return max(s.asleep_s if s.asleep_s is not None else s.end - s.start for s in cluster)


def _cluster_seconds(spans: list[SleepSpan]) -> float:
    """Seconds asleep in one source's periods of one night: overlapping periods are one sleep,
    separate ones (a nap and the night) add."""
    total, cluster, reach = 0.0, [], float("-inf")
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        # overlaps the cluster (touching periods do not; an instant repeated is one reading)
        if cluster and (span.start < reach or span.start == span.end == reach):
            cluster.append(span)
            reach = max(reach, span.end)
            continue
        if cluster:
            total += _asleep_seconds(cluster)
        cluster, reach = [span], span.end
    if cluster:
        total += _asleep_seconds(cluster)
    return total


def nightly_sleep(spans: Iterable[SleepSpan]) -> tuple[dict[tuple[str, str], tuple[float, str]],
                                                        int]:
    """{(patient, night): (hours asleep, source used)} and how many periods were left out as
    placeholder blocks."""
    by_source: dict[tuple[str, str, str], list[SleepSpan]] = defaultdict(list)
    blocks = 0
    for span in spans:
        length = (span.asleep_s if span.asleep_s is not None else span.end - span.start)
        if length / 3600 >= BLOCK_MAX_H:
            blocks += 1
            continue
        by_source[(span.patient_id, span.night, span.source)].append(span)
    out: dict[tuple[str, str], tuple[float, str]] = {}
    for (pid, night, source), group in sorted(by_source.items()):
        hours = _cluster_seconds(group) / 3600
        if hours > out.get((pid, night), (-1.0, ""))[0]:  # one source per night: the most
            out[(pid, night)] = (hours, source)
    return out, blocks
