"""Run a measured step in a fresh Python process: wall time, CPU time and peak memory.

Each step runs in its own process so that its peak resident memory is its own, not the
benchmark driver's. Results are appended to a TSV and printed as a Markdown table.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, importlib
spec = json.loads(sys.argv[1])
module = importlib.import_module(spec["module"])
func = getattr(module, spec["function"])
t0, c0 = time.perf_counter(), time.process_time()
extra = func(**spec["kwargs"]) or {}
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("@@RESULT@@" + json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_mib": peak_kib / 1024,
                                  **extra}))
"""


def measure(module: str, function: str, **kwargs: object) -> dict:
    """Call module.function(**kwargs) in a child process and return its measurements."""
    here = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
    spec = json.dumps({"module": module, "function": function, "kwargs": kwargs})
    proc = subprocess.run([sys.executable, "-c", CHILD, spec], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.{function} failed:\n{proc.stderr[-4000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@RESULT@@"))
    return json.loads(line[len("@@RESULT@@"):])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def report(rows: list[dict], columns: list[str], out: Path | None = None) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(f"{v:.2f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    text = f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}\n\n" + "\n".join(lines) + "\n"
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return text
