"""ROOT I/O: round trip, chunking, branch map, jagged layout, and every bad input."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from triginfer.errors import BadValueError, InputFileError, MissingBranchError
from triginfer.rootio import BranchMap, iterate_sample, read_sample, write_samples
from triginfer.simulation import simulate_muons


def _assert_same(a, b):
    for name in ("phi", "theta", "bend", "present"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.truth.keys() == b.truth.keys()
    for key in a.truth:
        np.testing.assert_array_equal(a.truth[key], b.truth[key])


def test_write_read_round_trip(tmp_path):
    sample = simulate_muons(7000, 3)
    path = write_samples(tmp_path / "rt.root", {"muons": sample})
    _assert_same(read_sample(path, "muons"), sample)
    chunks = list(iterate_sample(path, "muons", step_size=2000))
    assert [len(c) for c in chunks] == [2000, 2000, 2000, 1000]
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_branch_map_reads_renamed_branches(tmp_path):
    sample = simulate_muons(1000, 4)
    branches = sample.to_branches()
    renamed = {f"csc_{k}" if k != "mode" else k: v for k, v in branches.items()}
    path = tmp_path / "user.root"
    with uproot.recreate(path) as f:
        f["Events"] = renamed
    bmap = BranchMap(names={k: f"csc_{k}" for k in branches if k != "mode"})
    _assert_same(read_sample(path, "Events", bmap), sample)
    with pytest.raises(MissingBranchError, match="csc_gen_pt"):
        read_sample(path, "Events", BranchMap(names={"gen_pt": "csc_gen_ptx",
                                                      **{k: f"csc_{k}" for k in branches
                                                         if k not in ("mode", "gen_pt")}}))


def test_jagged_hits_with_station_index(tmp_path):
    sample = simulate_muons(500, 5)
    phi, theta, bend, station = [], [], [], []
    rng = np.random.default_rng(0)
    for i in range(len(sample)):
        order = [s for s in rng.permutation(4) if sample.present[i, s]]
        hits = [(sample.phi[i, s], sample.theta[i, s], sample.bend[i, s], s + 1) for s in order]
        if hits and rng.random() < 0.3:  # a second, later hit in a station is ignored
            p, t, b, st = hits[0]
            hits.append((p + 7, t, b, st))
        phi.append([h[0] for h in hits])
        theta.append([h[1] for h in hits])
        bend.append([h[2] for h in hits])
        station.append([h[3] for h in hits])
    path = tmp_path / "jagged.root"
    with uproot.recreate(path) as f:
        f["muons"] = {"hit_phi": ak.Array(phi), "hit_theta": ak.Array(theta),
                      "hit_bend": ak.Array(bend), "hit_station": ak.Array(station),
                      **sample.truth}
    loaded = read_sample(path, "muons", BranchMap(layout="jagged"), step_size=128)
    _assert_same(loaded, sample)


@pytest.fixture
def bad_files(tmp_path, small_root):
    files = {"missing": tmp_path / "nope.root"}
    files["not_root"] = tmp_path / "text.root"
    files["not_root"].write_text("this is a text file, not ROOT\n" * 50)
    data = small_root.read_bytes()
    files["truncated"] = tmp_path / "truncated.root"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["truncated_tail"] = tmp_path / "truncated_tail.root"
    files["truncated_tail"].write_bytes(data[: len(data) - 2000])
    nan_sample = simulate_muons(100, 1)
    nan_sample.truth["gen_pt"][17] = np.nan
    files["nan"] = write_samples(tmp_path / "nan.root", {"muons": nan_sample})
    files["empty"] = write_samples(tmp_path / "empty.root", {"muons": simulate_muons(0, 1)})
    return files


@pytest.mark.parametrize(
    ("kind", "tree", "error", "needle"),
    [
        ("missing", "muons", InputFileError, "file not found"),
        ("not_root", "muons", InputFileError, "not a ROOT file"),
        ("truncated", "muons", InputFileError, "truncated"),
        ("truncated_tail", "muons", InputFileError, "truncated"),
        ("nan", "muons", BadValueError, "gen_pt"),
        ("empty", "muons", InputFileError, "empty"),
    ],
)
def test_bad_input_errors(bad_files, kind, tree, error, needle):
    with pytest.raises(error, match=needle) as info:
        read_sample(bad_files[kind], tree)
    assert str(bad_files[kind]) in str(info.value)


def test_missing_tree_and_branch(small_root, tmp_path):
    with pytest.raises(MissingBranchError, match=r"no tree 'muonz'.*minbias"):
        read_sample(small_root, "muonz")
    sample = simulate_muons(50, 1)
    branches = sample.to_branches()
    del branches["bend_st3"]
    path = tmp_path / "nobranch.root"
    with uproot.recreate(path) as f:
        f["muons"] = branches
    with pytest.raises(MissingBranchError, match=r"missing branch 'bend_st3'.*branch_map"):
        read_sample(path, "muons")


@pytest.mark.parametrize(("branch", "value", "needle"), [
    ("phi_st1", 99999, "outside 0..21599"),
    ("theta_st2", 500, "outside 0..127"),
    ("phi_st3", 12.5, "fractional"),
    ("present_st1", 3, "outside 0..1"),
])
def test_words_out_of_range_are_refused(tmp_path, branch, value, needle):
    import uproot

    from triginfer.errors import BadValueError
    from triginfer.rootio import read_sample, write_samples

    path = tmp_path / "ok.root"
    write_samples(path, {"muons": simulate_muons(200, 3)})
    with uproot.open(path) as f:
        arrays = f["muons"].arrays(library="np")
    arrays[branch] = arrays[branch].astype(np.float64)
    arrays[branch][17] = value
    bad = tmp_path / "bad.root"
    with uproot.recreate(bad) as f:
        f["muons"] = arrays
    with pytest.raises(BadValueError, match=needle) as info:
        read_sample(bad, "muons")
    assert branch in str(info.value)
    assert "entry 17" in str(info.value)


def test_minbias_without_truth_and_muons_without_unused_truth(tmp_path):
    from triginfer.simulation import simulate_minbias

    path = tmp_path / "data.root"
    write_samples(path, {"muons": simulate_muons(300, 4), "minbias": simulate_minbias(300, 4)})
    with uproot.open(path) as f:
        mu = f["muons"].arrays(library="np")
        mb = f["minbias"].arrays(library="np")
    for key in ("gen_eta", "gen_phi"):
        del mu[key]
    for key in [k for k in mb if k.startswith("gen_")]:
        del mb[key]
    stripped = tmp_path / "stripped.root"
    with uproot.recreate(stripped) as f:
        f["muons"] = mu
        f["minbias"] = mb
    muons = read_sample(stripped, "muons")                       # gen_eta/gen_phi not needed
    assert set(muons.truth) == {"gen_q_over_pt", "gen_pt"}
    minbias = read_sample(stripped, "minbias", require_truth=False)   # zero-bias-like data
    assert minbias.truth == {}
    assert len(minbias) == 300
    del mu["gen_pt"]
    with uproot.recreate(stripped) as f:
        f["muons"] = mu
    with pytest.raises(MissingBranchError, match="gen_pt"):
        read_sample(stripped, "muons")


def test_inspect_reads_rntuple_and_a_branch_map(cli, tmp_path):
    sample = simulate_muons(500, 8)
    path = tmp_path / "rnt.root"
    renamed = {}
    for q in ("phi", "theta", "bend", "present"):
        values = getattr(sample, q)
        for i in range(4):
            renamed[f"my_{q}_{i + 1}"] = values[:, i].astype(np.int32)
    renamed["mode"] = np.zeros(500, np.int32)
    with uproot.recreate(path) as f:
        t = f.mkrntuple("hits", {k: v.dtype for k, v in renamed.items()})
        t.extend(renamed)
    config = tmp_path / "c.yaml"
    bmap = {f"{q}_st{i}": f"my_{q}_{i}" for q in ("phi", "theta", "bend", "present")
            for i in range(1, 5)}
    import yaml

    config.write_text(yaml.safe_dump({"data": {"branch_map": bmap}}))
    result = cli("inspect", path, "--config", config)
    assert result.code == 0, result.err
    assert "tree hits: 500 entries" in result.out
    assert "feature ranges over 500 events" in result.out
