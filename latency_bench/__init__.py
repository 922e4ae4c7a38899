"""L1/HLT budgets, FPGA latency/resource estimates from a FirmwareSpec, and runtime benchmarks."""

from triginfer.latency_bench.budgets import PRESETS, Budget, budget_from_config, check
from triginfer.latency_bench.fpga_estimate import estimate, with_synthesis

__all__ = ["PRESETS", "Budget", "budget_from_config", "check", "estimate", "with_synthesis"]
