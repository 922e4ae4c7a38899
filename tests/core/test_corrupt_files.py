"""Corrupt event files: ROOT and Parquet inputs truncated at 64 offsets through the file, and
with bytes flipped inside the ROOT baskets and the Parquet pages, through ``emulate``.

Every outcome is either one ``triginfer: error:`` line with exit 2 and no output file (nor a
temporary one), or -- where a flipped byte lands somewhere the format does not check and the
values still decode -- a complete output. Never a traceback, a crash or a partial file."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.emulation.test_files import _dnn_spec
from triginfer.hls_export import FirmwareSpec, SpecLayer

OFFSETS = 64


def _columns_spec(directory) -> None:
    layers = [
        SpecLayer("inputs", "input", (3,), (3,), {"result": "fixed<12,4,RND_CONV,SAT>"}),
        SpecLayer("out", "dense", (3,), (1,),
                  {"weight": "fixed<6,1>", "accum": "fixed<24,10>", "result": "fixed<24,10>"},
                  {"n_in": 3, "n_out": 1}, {"weight": np.array([[3], [-2], [5]])}),
    ]
    FirmwareSpec("cols", layers, features={"columns": ["a", "b", "c"]}).save(directory)


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path_factory.mktemp("corrupt")
    muon_fw = _dnn_spec().save(d / "fw_muon")
    _columns_spec(d / "fw_cols")
    rng = np.random.default_rng(3)
    table = pa.table({k: rng.normal(0, 2, 20_000) for k in "abc"})
    pq.write_table(table, d / "good.parquet", row_group_size=2_000, compression="zstd")
    return {"root": (small_root, muon_fw), "parquet": (d / "good.parquet", d / "fw_cols")}


def _basket_offsets(path) -> list[int]:
    """Byte offsets of the data of every basket of the muon tree (after their key headers)."""
    import uproot

    with uproot.open(path) as f:
        tree = f["muons"]
        out = []
        for branch in tree.values():
            for i in range(branch.num_baskets):
                seek = int(branch.member("fBasketSeek")[i])
                out.append(seek + 80)
    return out


def _run(cli, kind, fw, bad, out) -> str:
    result = cli("emulate", "--firmware", fw, "--input", bad, "--out", out)
    if result.code == 0:
        assert out.exists(), "exit 0 without the output"
        return "read (complete output)"
    lines = result.err.strip().splitlines()
    assert result.code == 2, (kind, result.err[-2000:])
    assert len(lines) == 1, (kind, result.err[-2000:])
    assert lines[0].startswith("triginfer: error:"), lines
    assert not out.exists()
    assert not list(out.parent.glob(".*tmp*"))
    return "one-line error"


@pytest.mark.parametrize("kind", ["root", "parquet"])
def test_truncated_at_64_offsets(cli, files, tmp_path, kind):
    good, fw = files[kind]
    data = good.read_bytes()
    tally = Counter()
    for i, cut in enumerate(np.linspace(1, len(data) - 1, OFFSETS).astype(int)):
        bad = tmp_path / f"cut{i}{good.suffix}"
        bad.write_bytes(data[:cut])
        tally[_run(cli, kind, fw, bad, tmp_path / f"o{i}.npy")] += 1
    print(kind, "truncated:", dict(tally))
    assert tally["one-line error"] >= OFFSETS - 2     # only a cut in trailing bytes may read


@pytest.mark.parametrize("kind", ["root", "parquet"])
def test_flipped_bytes_in_the_data(cli, files, tmp_path, kind):
    good, fw = files[kind]
    data = bytearray(good.read_bytes())
    if kind == "root":
        places = _basket_offsets(good)
    else:   # inside the column chunks: the file's middle half
        places = list(np.linspace(len(data) // 4, 3 * len(data) // 4, 48).astype(int))
    rng = np.random.default_rng(9)
    tally = Counter()
    for i, at in enumerate(places[:48]):
        bad_data = bytearray(data)
        for j in range(4):
            bad_data[min(at + j * 7, len(data) - 1)] ^= int(rng.integers(1, 256))
        bad = tmp_path / f"flip{i}{good.suffix}"
        bad.write_bytes(bytes(bad_data))
        tally[_run(cli, kind, fw, bad, tmp_path / f"o{i}.npy")] += 1
    print(kind, "flipped bytes:", dict(tally))
    assert tally["one-line error"] > 0
