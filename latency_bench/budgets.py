"""Trigger latency budgets (named presets, overridable from the YAML ``budgets`` section),
FPGA part resources, and the pass/fail budget check.

Presets:

* ``cms_phase2_l1``: CMS Phase-2 Level-1 trigger, 12.5 us total latency, 750 kHz accept;
* ``atlas_phase2_l0``: ATLAS Phase-2 Level-0, 10 us, 1 MHz;
* the per-algorithm slice (default in every preset): 500 ns at a 200 MHz clock,
  a new event every LHC bunch crossing (initiation interval <= 25 ns), at most
  a fraction (default 30%) of each resource of the target part (default VU13P);
* ``hlt``: a high-level-trigger per-event budget for the batched runtime.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from triginfer.config import DEFAULT_PART
from triginfer.errors import ConfigError

BUNCH_CROSSING_NS = 25.0

#: Available resources of common parts (LUT, FF, DSP, BRAM_18K).
PARTS: dict[str, dict[str, int]] = {
    DEFAULT_PART: {"LUT": 1_728_000, "FF": 3_456_000, "DSP": 12_288, "BRAM_18K": 5_376},
    "xcvu9p-flga2104-2l-e": {"LUT": 1_182_240, "FF": 2_364_480, "DSP": 6_840, "BRAM_18K": 4_320},
    "xcku115-flvb2104-2-i": {"LUT": 663_360, "FF": 1_326_720, "DSP": 5_520, "BRAM_18K": 4_320},
}


@dataclass
class Budget:
    """A latency/resource budget.

    Attributes:
        name: preset name.
        system_latency_us: total latency of the trigger level.
        accept_rate_hz: output (accept) rate of the trigger level.
        algorithm_latency_ns: latency slice of one algorithm.
        clock_mhz: the algorithm's clock.
        max_initiation_interval_ns: a new event this often (one bunch crossing).
        max_resource_fraction: largest fraction of each resource of the part.
        part: the FPGA part.
        hlt_latency_ms: per-event latency budget of the batched (HLT) runtime.
    """

    name: str = "cms_phase2_l1"
    system_latency_us: float = 12.5
    accept_rate_hz: float = 750e3
    algorithm_latency_ns: float = 500.0
    clock_mhz: float = 200.0
    max_initiation_interval_ns: float = BUNCH_CROSSING_NS
    max_resource_fraction: float = 0.3
    part: str = DEFAULT_PART
    hlt_latency_ms: float = 10.0

    @property
    def clock_period_ns(self) -> float:
        """Clock period in ns."""
        return 1e3 / self.clock_mhz

    def available(self) -> dict[str, int]:
        """Resources of the target part."""
        if self.part not in PARTS:
            raise ConfigError(f"budgets.part {self.part!r} unknown; known: {sorted(PARTS)}")
        return PARTS[self.part]


PRESETS: dict[str, Budget] = {
    "cms_phase2_l1": Budget(),
    "atlas_phase2_l0": Budget(name="atlas_phase2_l0", system_latency_us=10.0, accept_rate_hz=1e6),
    "hlt": Budget(name="hlt", system_latency_us=float("inf"), accept_rate_hz=7.5e3,
                  algorithm_latency_ns=float("inf"), max_initiation_interval_ns=float("inf"),
                  hlt_latency_ms=10.0),
}


def budget_from_config(section: dict[str, Any] | None) -> Budget:
    """A preset (``budgets.preset``, default cms_phase2_l1) with the section's overrides."""
    section = dict(section or {})
    preset = section.pop("preset", "cms_phase2_l1")
    if preset not in PRESETS:
        raise ConfigError(f"budgets.preset {preset!r} unknown; known: {sorted(PRESETS)}")
    known = {f.name for f in dataclasses.fields(Budget)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"budgets: unknown key(s) {unknown}; known: {sorted(known)}")
    budget = dataclasses.replace(PRESETS[preset], **section)
    budget.available()
    return budget


def check(estimate: dict[str, Any], budget: Budget) -> list[dict[str, Any]]:
    """Pass/fail rows: latency, initiation interval, each resource fraction."""
    clock = estimate.get("clock_period_ns", budget.clock_period_ns)
    rows = [
        {"check": "latency", "value": estimate["latency_ns"],
         "limit": budget.algorithm_latency_ns, "unit": "ns",
         "passed": estimate["latency_ns"] <= budget.algorithm_latency_ns},
        {"check": "initiation interval", "value": estimate["initiation_interval"] * clock,
         "limit": budget.max_initiation_interval_ns, "unit": "ns",
         "passed": estimate["initiation_interval"] * clock <= budget.max_initiation_interval_ns},
    ]
    available = budget.available()
    for res, used in estimate["resources"].items():
        if res not in available:
            continue
        frac = used / available[res]
        rows.append({"check": res, "value": used,
                     "limit": int(budget.max_resource_fraction * available[res]),
                     "unit": f"{frac:.2%} of {budget.part}",
                     "passed": frac <= budget.max_resource_fraction})
    for row in rows:
        row["source"] = estimate.get("source", "estimate")
    return rows
