"""SHA-256 of every file a run wrote, to show that a change altered no output byte.

    python tests/benchmarks/output_digests.py RESULTS_DIR > before.tsv
    ... change, rerun ...
    python tests/benchmarks/output_digests.py RESULTS_DIR > after.tsv
    python tests/benchmarks/output_digests.py --compare before.tsv after.tsv

Left out: what is meant to differ between runs (the manifest, which records times; job logs,
Snakemake's benchmark files, pyensembl's SQLite cache) and the files of single shards, whose
split depends on shard_size (the published per-patient and batch outputs do not).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

# Relative to the results folder; a path is left out when it starts with one of these.
NOT_COMPARED = ("logs/", "benchmarks/", "manifest.json", "manifest.html", "cache/",
                ".snakemake")
# Files of one shard (results/shards/, profiles/shards/, reports/by_shard/, research/predictions/
# shard0001.json): their split depends on shard_size, the published outputs do not.
SHARD_FILE = re.compile(r"(^|/)(shards|by_shard)/|(^|/)shard\d+\.")


def digests(results: Path) -> dict[str, str]:
    out = {}
    for path in sorted(results.rglob("*")):
        relative = path.relative_to(results).as_posix()
        if path.is_file() and not relative.startswith(NOT_COMPARED) \
                and not SHARD_FILE.search(relative):
            out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def read_table(path: str) -> dict[str, str]:
    rows = Path(path).read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in rows if line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="a results folder, or two tables to compare")
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    if not args.compare:
        for name, digest in digests(Path(args.paths[0])).items():
            print(f"{name}\t{digest}")
        return 0
    before, after = (read_table(p) for p in args.paths[:2])
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    only_before = sorted(before.keys() - after.keys())
    only_after = sorted(after.keys() - before.keys())
    for title, names in (("changed", changed), ("only before", only_before),
                         ("only after", only_after)):
        for name in names:
            print(f"{title}\t{name}")
    print(f"{len(before)} files before, {len(after)} after: {len(changed)} changed, "
          f"{len(only_before)} only before, {len(only_after)} only after", file=sys.stderr)
    return 1 if changed or only_before or only_after else 0


if __name__ == "__main__":
    sys.exit(main())
