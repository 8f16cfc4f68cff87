"""pyensembl Genome from a local Ensembl GTF, indexed in a cache directory we choose."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from precex.problems import InputError, Problem


def load_genome(gtf: str, cache_dir: str) -> object:
    """Index `gtf` (once) under cache_dir; the user's home is never touched."""
    import pyensembl

    if not Path(gtf).is_file():
        raise InputError([Problem(gtf, "GTF not found.", "check 'genome_gtf' in the config.",
                                  stage="epigenetics")])
    # The annotation version keys the cache on the file's content, so an edited GTF is reindexed.
    digest = hashlib.sha256(Path(gtf).read_bytes()).hexdigest()[:12]
    os.makedirs(cache_dir, exist_ok=True)
    genome = pyensembl.Genome(reference_name="GRCh38", annotation_name="precex_gtf",
                              annotation_version=digest, gtf_path_or_url=os.path.abspath(gtf),
                              cache_directory_path=os.path.abspath(cache_dir))
    try:
        # Jobs running at once (epigenetics, genetics) share the cache: one indexes, the
        # others wait and then reuse it (concurrent SQLite builds fail with 'already exists').
        with open(os.path.join(cache_dir, ".precex-index.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                genome.index()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    except Exception as err:  # gtfparse/pyensembl raise many types for a broken GTF
        raise InputError([Problem(gtf, f"the GTF does not parse ({type(err).__name__}: {err}).",
                                  "give an Ensembl GTF (9 tab-separated columns, gene_id and "
                                  "gene_name attributes).", stage="epigenetics")]) from None
    return genome
