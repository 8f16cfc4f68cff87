"""precex.provenance: the manifest's per-stage figures from Snakemake's benchmark files."""

from __future__ import annotations

import subprocess
import sys


def test_the_manifest_reads_snakemakes_benchmark_files_without_pandas(tmp_path):
    """Each stage's jobs, wall and CPU seconds and largest memory from the benchmark files as
    Snakemake writes them (a repeat per row, NA where it measured nothing, an empty file of
    a job that died); the manifest job, the run's last, loads no pandas for it."""
    from precex.provenance import stage_resources

    root = tmp_path / "benchmarks"
    (root / "adapt_shard").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (root / "adapt_shard" / "shard0001.week-1.tsv").write_text(
        header + "3.38\t0:00:03\t316.73\t1547.19\t251.38\t279.44\t0.01\t0.00\t73.97\t2.99\n")
    (root / "adapt_shard" / "shard0001.week-2.tsv").write_text(
        header + "1.5\t0:00:01\tNA\t-\t-\t-\t-\t-\t-\tNA\n"
        "2.5\t0:00:02\t100\t1\t1\t1\t1\t1\t1\t1.25\n")
    (root / "research.tsv").write_text(header + "4.25\t0:00:04\t50\t1\t1\t1\t1\t1\t1\t4\n")
    (root / "died.tsv").write_text("")
    assert stage_resources(str(tmp_path)) == {
        "adapt_shard": {"jobs": 2, "wall_s": 7.38, "cpu_s": 4.24, "max_rss_mb": 316.7},
        "research": {"jobs": 1, "wall_s": 4.25, "cpu_s": 4.0, "max_rss_mb": 50.0}}
    code = ("import sys; from precex.provenance import stage_resources; "
            f"stage_resources({str(tmp_path)!r}); print('pandas' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
