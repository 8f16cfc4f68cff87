"""Inputs that would exhaust the machine are input problems that name the file (issue 39): a
gzip that inflates to a line without end, a compression bomb, a zip bomb, a sparse table too
large as a dense one, JSON nested without end, a document too large to read whole. The bounds
are resources/limits.yaml; the tests lower them so that small files reach them."""

from __future__ import annotations

import gzip
import json
import zipfile

import pytest
from precex.io import files
from precex.problems import InputError

SMALL = {"max_decompressed_bytes": 1 << 20, "max_line_characters": 1 << 16,
         "max_json_bytes": 1 << 20, "max_json_depth": 50, "max_dense_table_bytes": 1 << 24,
         "max_archive_bytes": 1 << 20}


@pytest.fixture
def small_bounds(monkeypatch):
    files.input_limits()  # loaded, then lowered for the test
    monkeypatch.setattr(files, "LIMITS", dict(SMALL))


def test_the_shipped_bounds_are_read_and_generous():
    limits = files.input_limits()
    assert limits["max_decompressed_bytes"] >= 16 << 30
    assert limits["max_line_characters"] >= 1 << 24 and limits["max_json_depth"] >= 100


def test_a_gzip_vcf_with_a_line_without_end_never_reaches_htslib(tmp_path, small_bounds):
    from precex.genetics.variants import read_genotypes

    path = tmp_path / "bomb.vcf.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        handle.write(b"1\t100\trs1\tA\t" + b"C" * (1 << 18) + b"\n")  # a 256 KiB line
    assert path.stat().st_size < 4096
    with pytest.raises(InputError) as err:
        read_genotypes(str(path), {"P1"})
    problem = err.value.problems[0]
    assert problem.file == str(path) and "line longer than 65,536" in problem.message


def test_a_methylation_compression_bomb_stops_at_the_bound(tmp_path, small_bounds):
    from precex.epigenetics.matrix import read_beta_matrix

    path = tmp_path / "betas.tsv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"ID_REF\tP1\n")
        for i in range(200_000):  # 3 MB of probe rows, far beyond the 1 MiB bound
            handle.write(b"cg%08d\t0.5\n" % i)
    with pytest.raises(InputError) as err:
        read_beta_matrix(str(path), ["cg00000001"], "beta", 0.01)
    assert "decompresses to more than" in err.value.problems[0].message
    assert err.value.problems[0].file == str(path)


def test_a_zip_bomb_artifact_is_refused_before_it_is_inflated(tmp_path, small_bounds):
    from precex.microbiome.readers import read_microbiome

    path = tmp_path / "table.qza"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a1b2/data/feature-table.biom", b"\0" * (4 << 20))
    assert path.stat().st_size < 64 << 10
    with pytest.raises(InputError, match="decompresses to more than"):
        read_microbiome(str(path))


def test_a_sparse_biom_too_large_as_a_dense_table_is_refused_before_allocation(tmp_path):
    import biom
    import h5py
    import numpy as np
    from precex.microbiome.readers import read_microbiome
    from scipy.sparse import coo_matrix

    # 200,000 features x 5,000 samples: 8 GB dense, a few non-zero values sparse
    data = coo_matrix((np.ones(3), ([0, 1, 2], [0, 1, 2])), shape=(200_000, 5_000))
    table = biom.Table(data, [f"F{i}" for i in range(200_000)],
                       [f"S{i}" for i in range(5_000)])
    path = tmp_path / "sparse.biom"
    with h5py.File(path, "w") as handle:
        table.to_hdf5(handle, "precex test")
    with pytest.raises(InputError) as err:
        read_microbiome(str(path))
    assert "7.5 GiB as a dense table" in err.value.problems[0].message


def _nested(depth: int) -> str:
    return '{"resourceType": "Bundle", "entry": [' + '{"a": ' * depth + "1" + "}" * depth + "]}"


@pytest.mark.parametrize("depth", [120, 100_000])  # beyond the parser's own limit too
def test_json_nested_without_end_is_named_not_a_recursion_error(tmp_path, small_bounds, depth):
    from precex.io.fhir import fhir_resources

    path = tmp_path / "deep.json"
    path.write_text(_nested(depth))
    with pytest.raises(InputError) as err:
        list(fhir_resources(str(path), "wearables"))
    assert "nests deeper than 50 levels" in err.value.problems[0].message
    ndjson = tmp_path / "deep.ndjson"
    ndjson.write_text(json.dumps({"resourceType": "Patient", "id": "P1"}) + "\n"
                      + _nested(depth).replace('"Bundle"', '"Observation"') + "\n")
    with pytest.raises(InputError) as err:
        list(fhir_resources(str(ndjson), "wearables"))
    problem = err.value.problems[0]  # the nesting of line 2, or (deeper) its length
    assert problem.row == 2 if depth < 1000 else "line longer than 65,536" in problem.message


def test_a_bundle_too_large_to_read_whole_says_to_export_ndjson(tmp_path, small_bounds):
    from precex.io.fhir import fhir_resources

    entries = [{"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final"}}
               for i in range(30_000)]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "entry": entries}))
    assert path.stat().st_size > 1 << 20
    with pytest.raises(InputError, match="bulk-data NDJSON"):
        list(fhir_resources(str(path), "wearables"))
    ndjson = tmp_path / "big.ndjson"  # the same resources as bulk data: streamed, read
    ndjson.write_text("\n".join(json.dumps(e["resource"]) for e in entries) + "\n")
    assert len(list(fhir_resources(str(ndjson), "wearables"))) == 30_000


def test_other_elements_of_an_apple_export_are_dropped_as_read(tmp_path):
    """40 MB of non-Record tags were never cleared (985 MB): every element of the export is
    dropped once read, so memory stays flat whatever the tags."""
    import tracemalloc

    from precex.wearables.daily import IdMap
    from precex.wearables.exports import read_apple_health

    path = tmp_path / "export.xml"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0"?>\n<HealthData locale="en_GB">\n')
        for i in range(60_000):  # ~6 MB of elements precex does not read
            handle.write(f' <InstantaneousBeatsPerMinute bpm="{60 + i % 30}" time="x{i}">'
                         f'<Meta k="v"/></InstantaneousBeatsPerMinute>\n')
        handle.write(' <Record type="HKQuantityTypeIdentifierStepCount" unit="count" '
                     'startDate="2026-01-02 09:00:00 +0000" endDate="2026-01-02 10:00:00 '
                     '+0000" sourceName="Watch" value="3000"/>\n</HealthData>\n')
    tracemalloc.start()
    export = read_apple_health(str(path), IdMap({}, {}))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert export.daily["steps"].tolist() == [3000]
    assert peak < 8 << 20, peak  # held as a tree, 60,000 elements took about 40 MB
