"""The FirmwareSpec is untrusted input to a compiled C engine: fuzz it.

Hypothesis draws at least 2,000 mutations (``tests/emulation/spec_fuzz.py``) of real specs
from the graph zoo (converted by hls4ml: dense, convolutions, merges, softmax, embedding,
two inputs and two outputs) per run. Each mutated directory goes through ``load``, the
emulator with the generated engine on and the numpy reference, and the bit-exact ONNX export
run in ONNX Runtime, in worker processes, so that a segfault or a hang is counted rather than
taking the test run down. Every outcome must be a one-line triginfer error or exact agreement
of engine, numpy reference and ONNX; crashes, hangs, mismatches and other exceptions: 0.

A failing mutation is printed with its base model; add it to ``REGRESSIONS`` so that it runs
first on every later run. ``TRIGINFER_FUZZ_SEED`` picks another sequence of mutations;
``TRIGINFER_FUZZ_REPORT=path.json`` writes the tally (BENCHMARKS.md "Faults and bad input").
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from tests.emulation.spec_fuzz import KINDS_EXTRA, TYPES, Pool, apply

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

#: Zoo models the mutations start from (small, and together every family of kinds).
BASES = ("jet_tagger", "conv1d_bn_tagger", "skip_add_sub_mul", "two_inputs_two_outputs",
         "softmax_stable", "embedding", "avgpool2d", "activations_a", "reshape_permute", "dot",
         "depthwise2d", "narrow_accumulator")
MUTATIONS = int(os.environ.get("TRIGINFER_FUZZ_MUTATIONS", 2000))
BATCH = 25
SEED = int(os.environ.get("TRIGINFER_FUZZ_SEED", 20261203))
#: (base model, mutations) that once failed; they run first, every time.
REGRESSIONS: list[tuple[str, list[tuple]]] = [
    # a size parameter as a string: TypeError in the emulator
    ("depthwise2d", [("param", 18251, 1921, "")]),
    # an input layer named as the output: an ONNX graph that is not in SSA form
    ("dot", [("param", 262144, 105572, None), ("outputs", 1881, 481)]),
    # table_size False: the ONNX graph and the emulator disagreed
    ("activations_a", [("outputs", 98, 12041), ("array", 510510, "dtype", "int8"),
                       ("param", 8155, 112351, False)]),
    # an elementwise layer that changes the size: a broadcast error
    ("embedding", [("kind", 619, "relu")]),
    # a billion-value shape: MemoryError
    ("skip_add_sub_mul", [("shape", 566, False, [1000000000])]),
    # a 96-integer-bit input type: OverflowError in the conversion
    ("conv1d_bn_tagger", [("type", 510511, "ufixed<38,92,RND,SAT_SYM>"), ("delete", 434024),
                          ("array", 3430, "scale", (-1,))]),
    # a padding of 50M: a 4.5 GiB allocation
    ("depthwise2d", [("param", 221, 273385, 50290684)]),
    # a merge rewired to read two 4-value tensors where it merges 8: the ONNX graph's batch
    ("two_inputs_two_outputs", [("array", 4348, "dtype", "int8"), ("rewire", 7838, 61465, 7369),
                                ("array", 845, "scale", (2,))]),
    # fixed<8,200>: an LSB of 2**192, beyond float32 in the ONNX graph
    ("depthwise2d", [("type", 198, "fixed<8,200>")]),
    # an input of values up to 2**73 into an embedding: the engine's index disagreed
    ("embedding", [("type", 1000000, "ufixed<27,73,RND_CONV,SAT_ZERO>")]),
]

_index = st.integers(0, 10**6)
_type = st.one_of(st.sampled_from(TYPES), st.builds(
    lambda u, w, i, r, o: f"{'u' if u else ''}fixed<{w},{i}{r}{o}>", st.booleans(),
    st.integers(-2, 140), st.integers(-70, 140),
    st.sampled_from(("", ",RND", ",TRN", ",RND_CONV", ",RND_ZERO", ",RND_MIN_INF")),
    st.sampled_from(("", ",SAT", ",WRAP", ",SAT_SYM", ",SAT_ZERO"))))
_value = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True),
                   st.none(), st.text(max_size=4), st.booleans(),
                   st.lists(st.integers(-3, 70_000), max_size=4))
_shape = st.lists(st.one_of(st.integers(-2, 70), st.just(10**9)), max_size=4)
MUTATION = st.one_of(
    st.tuples(st.just("delete"), _index),
    st.tuples(st.just("type"), _index, _type),
    st.tuples(st.just("shape"), _index, st.booleans(), _shape),
    st.tuples(st.just("param"), _index, _index, _value),
    st.tuples(st.just("kind"), _index, st.sampled_from(KINDS_EXTRA)),
    st.tuples(st.just("rewire"), _index, _index, _index),
    st.tuples(st.just("outputs"), _index, _index),
    st.tuples(st.just("array"), _index, st.just("value"),
              st.tuples(_index, st.one_of(st.integers(-(2**70), 2**70), st.floats()))),
    st.tuples(st.just("array"), _index, st.just("dtype"),
              st.sampled_from(("int8", "uint8", "float16", "bool", "complex64", "str"))),
    st.tuples(st.just("array"), _index, st.sampled_from(("truncate", "reshape", "drop")),
              st.tuples(_index)),
    st.tuples(st.just("array"), _index, st.just("scale"),
              st.tuples(st.sampled_from((-1, 2, 1000, 2**40)))),
    st.tuples(st.just("setting"), st.just(0), st.sampled_from(("target_scale", "io_type")),
              _value),
)
CASE = st.tuples(st.sampled_from(BASES), st.lists(MUTATION, min_size=1, max_size=3))
BAD = ("crash", "hang", "unexpected", "mismatch", "lost")


@pytest.fixture(scope="module")
def fuzz(graph_zoo, tmp_path_factory):
    """Run the mutations; returns (tally, failures)."""
    from hypothesis import HealthCheck, given, seed, settings

    bases = {}
    for name in BASES:
        _, firmware = graph_zoo[name]
        if isinstance(firmware, Exception):
            raise firmware
        bases[name] = firmware.output_dir
    root = tmp_path_factory.mktemp("fuzz")
    pool = Pool(2)
    tally: Counter = Counter()
    failures: list = []

    def run(cases):
        dirs = [apply(bases[name], muts, root / f"m{i}") for i, (name, muts) in enumerate(cases)]
        for (name, muts), result in zip(cases, pool.map(dirs), strict=True):
            outcome = result["outcome"]
            tally["mutations"] += 1
            tally[outcome if outcome != "refused" else f"refused at {result['stage']}"] += 1
            if outcome == "exact":
                tally["exact, engine used"] += bool(result.get("engine"))
                tally["exact, ONNX refused"] += result.get("onnx") == "refused"
            if outcome in BAD:
                failures.append((name, muts, result))

    try:
        os.environ.setdefault("TRIGINFER_ENGINE_OPT", "-O1")
        run(REGRESSIONS)

        @seed(SEED)
        @settings(max_examples=MUTATIONS // BATCH + 10, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
        @given(st.lists(CASE, min_size=BATCH, max_size=BATCH))
        def draw(cases):
            if tally["mutations"] < MUTATIONS + len(REGRESSIONS):
                run(cases)

        draw()
    finally:
        pool.close()
    report = os.environ.get("TRIGINFER_FUZZ_REPORT")
    if report:
        with open(report, "w") as fh:
            json.dump({"seed": SEED, "bases": list(BASES), "tally": dict(tally),
                       "failures": [[n, m, r] for n, m, r in failures]}, fh, indent=1,
                      default=str)
    return tally, failures


@pytest.mark.slow
def test_spec_mutations_are_refused_or_exact(fuzz):
    tally, failures = fuzz
    print("spec fuzz:", dict(sorted(tally.items())))
    for name, muts, result in failures[:10]:
        print(f"FAILED on {name}: {muts!r} -> {result}")
    assert tally["mutations"] >= MUTATIONS
    assert not failures, f"{len(failures)} mutations crashed, hung or disagreed (see above)"
    refused = sum(v for k, v in tally.items() if k.startswith("refused"))
    assert refused > MUTATIONS // 4          # the fuzz reaches the validation...
    assert tally["exact, engine used"] > 50   # ...and, past it, the generated engine
