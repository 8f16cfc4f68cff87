"""Benchmark the microbiome stage on synthetic BIOM 2.1 tables of N samples x 1,000 features.

    python tests/benchmarks/bench_microbiome.py [--sizes 1000 10000] [--out FILE]

The table is written once per size (not timed); the timed step is the whole stage as the
workflow runs it: read the HDF5 table, map samples to patients, QC, diversity, CLR, guilds,
percentiles and Bray-Curtis to the centroid, and write the outputs. Target (issue 3): 10,000
samples in under 15 s with peak memory under 2 GiB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from harness import measure, report

N_FEATURES = 1000


def make_inputs(n: int, work: str) -> dict:
    import biom
    import h5py
    import pandas as pd
    from precex.demo.taxa import GENERA, silva_lineage
    from precex.io.files import write_tsv

    rng = np.random.default_rng(n)
    ids = [f"S{i:06d}" for i in range(n)]
    genus = rng.integers(0, len(GENERA), N_FEATURES)
    weights = rng.dirichlet(np.full(N_FEATURES, 0.3))
    present = rng.random((n, N_FEATURES)) < 0.3  # real 16S tables are sparse
    counts = rng.poisson(30000 * weights[None, :] * present * 3).astype(float)
    features = [f"ASV{j:05d}" for j in range(N_FEATURES)]
    table = biom.Table(counts.T, features, ids,
                       observation_metadata=[{"taxonomy": silva_lineage(GENERA[g]).split("; ")}
                                             for g in genus])
    path = Path(work) / f"table_{n}.biom"
    with h5py.File(path, "w") as handle:
        table.to_hdf5(handle, "bench")
    sheet = pd.DataFrame({"age": 60.0, "sex": "F"}, index=pd.Index(ids, name="patient_id"))
    write_tsv(Path(work) / "patients.tsv", sheet, index=True)
    write_tsv(Path(work) / "exclusions.tsv", pd.DataFrame(columns=["patient_id", "stage",
                                                                    "reason"]))
    return {"biom_mib": path.stat().st_size / 2**20}


def run_stage(work: str, n: int) -> dict:
    from precex.microbiome import stage

    out = Path(work) / "out"
    stage.run([str(Path(work) / f"table_{n}.biom")], None, None, str(Path(work) / "patients.tsv"),
              str(Path(work) / "exclusions.tsv"), 1000, str(out / "features.tsv"),
              str(out / "genus_clr.tsv"), str(out / "exclusions.tsv"), str(out / "problems.tsv"))
    return {"samples_out": sum(1 for _ in open(out / "features.tsv")) - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as work:
            made = measure("bench_microbiome", "make_inputs", n=n, work=work)
            result = measure("bench_microbiome", "run_stage", work=work, n=n)
            rows.append({"samples": n, "features": N_FEATURES, "biom_mib": made["biom_mib"],
                         "wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
                         "peak_mib": result["peak_mib"], "samples_out": result["samples_out"],
                         "s_per_1000_samples": result["wall_s"] / n * 1000})
    print(report(rows, ["samples", "features", "biom_mib", "wall_s", "cpu_s", "peak_mib",
                        "s_per_1000_samples", "samples_out"], args.out))


if __name__ == "__main__":
    main()
