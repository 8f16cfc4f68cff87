"""Benchmark: an Apple Health export.xml of about 1 GB is read within 1 GiB of memory.

Writes a synthetic export (the Health app's layout: the DOCTYPE, ExportDate, Me, then Record
elements of many types, with HRV records carrying their beat lists) of the requested size,
then reads it with precex.wearables.exports.read_apple_health in a fresh interpreter and
reports wall time and the child's peak resident memory (ru_maxrss).

    python tests/benchmarks/bench_apple_health.py --size-mb 1024
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
]>
<HealthData locale="en_GB">
 <ExportDate value="2026-01-04 20:15:02 +0000"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1962-04-11"
  HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>
"""
TYPES = [("HKQuantityTypeIdentifierStepCount", "count", "112"),
         ("HKQuantityTypeIdentifierHeartRate", "count/min", "74"),
         ("HKQuantityTypeIdentifierActiveEnergyBurned", "kcal", "3.1"),
         ("HKQuantityTypeIdentifierAppleExerciseTime", "min", "1"),
         ("HKQuantityTypeIdentifierRestingHeartRate", "count/min", "61"),
         ("HKQuantityTypeIdentifierDistanceWalkingRunning", "km", "0.08")]


def write_export(path: Path, size_mb: int) -> int:
    target = size_mb * 1024 * 1024
    start = dt.datetime(2025, 1, 1)
    written = records = 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HEAD)
        while written < target:
            chunk = []
            for i in range(10_000):
                kind, unit, value = TYPES[(records + i) % len(TYPES)]
                t = start + dt.timedelta(minutes=(records + i) // len(TYPES))
                stamp = t.strftime("%Y-%m-%d %H:%M:%S +0000")
                chunk.append(f' <Record type="{kind}" sourceName="Apple Watch" '
                             f'sourceVersion="10.2" unit="{unit}" creationDate="{stamp}" '
                             f'startDate="{stamp}" endDate="{stamp}" value="{value}"/>\n')
                if (records + i) % 500 == 0:
                    chunk.append(f' <Record type="HKQuantityTypeIdentifierHeartRateVariability'
                                 f'SDNN" sourceName="Apple Watch" unit="ms" creationDate='
                                 f'"{stamp}" startDate="{stamp}" endDate="{stamp}" value="42">\n'
                                 '  <HeartRateVariabilityMetadataList>\n'
                                 '   <InstantaneousBeatsPerMinute bpm="60" time="7:00:06 am"/>\n'
                                 '  </HeartRateVariabilityMetadataList>\n </Record>\n')
            text = "".join(chunk)
            handle.write(text)
            written += len(text)
            records += 10_000
        handle.write("</HealthData>\n")
    return records


CHILD = """
import resource, sys, time
from precex.wearables.exports import read_apple_health, read_id_map
t = time.perf_counter()
export = read_apple_health(sys.argv[1], read_id_map(None))
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(export.daily)} days, {wall:.1f} s, peak {peak:.0f} MiB")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", help="write the export here and keep it")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="precex-apple-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "export.xml"
    t = time.perf_counter()
    records = write_export(path, args.size_mb)
    print(f"wrote {path.stat().st_size / 2**20:.0f} MiB ({records:,} records) in "
          f"{time.perf_counter() - t:.0f} s")
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                         text=True, check=True)
    print(out.stdout.strip())
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"child peak resident memory: {child:.0f} MiB (limit 1024 MiB)")
    if not args.keep:
        os.remove(path)


if __name__ == "__main__":
    main()
