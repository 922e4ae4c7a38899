"""Check triginfer's FPGA estimator against stored Vivado HLS synthesis reports.

    python benchmarks/validate_fpga_estimate.py [--reference DIR] [--out JSON]

The reference set (default ``benchmarks/reference/hls4ml_tutorial``) holds the
weights and the C-synthesis numbers of the hls4ml tutorial jet tagger
(16-64-32-32-5): unpruned 16-bit, pruned 16-bit and a 6-bit QKeras model
(see its ``synthesis.json`` for the repositories, commits and report paths).
Prints a Markdown table (estimate / synthesis and the relative error, per
layer and per model) and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from triginfer.latency_bench.validation import DEFAULT_REFERENCE, summary_table, validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help="reference directory (synthesis.json + weights.npz)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "fpga_estimate_validation.json",
                        help="where to write the JSON result")
    args = parser.parse_args()
    result = validate(args.reference)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(summary_table(result))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
