"""Vendor HLS synthesis reports: locating and parsing ``<project>_csynth.xml``.

Reads the latency (cycles, best/worst case, and in ns at the target clock),
the initiation interval and the resources (LUT, FF, DSP, BRAM_18K, URAM) with
the part's available resources. Handles the Vivado HLS (``DSP48E``) and
Vitis HLS (``DSP``) spellings.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from triginfer.errors import InputFileError

RESOURCES = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")


def hls_tool() -> str | None:
    """``vitis_hls`` or ``vivado_hls`` if one is on PATH, else None."""
    for tool in ("vitis_hls", "vivado_hls"):
        if shutil.which(tool):
            return tool
    return None


def find_csynth_report(output_dir: str | Path, project_name: str) -> Path:
    """The csynth XML report of an hls4ml project built with ``synth=True``."""
    output_dir = Path(output_dir)
    candidates = sorted(output_dir.glob(f"{project_name}_prj/solution1/syn/report/"
                                        f"{project_name}_csynth.xml"))
    candidates += sorted(output_dir.glob("**/syn/report/*_csynth.xml"))
    if not candidates:
        raise InputFileError(f"{output_dir}: no csynth report found; run the synthesis first")
    return candidates[0]


def _num(node: ET.Element | None, tag: str) -> float | None:
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    text = child.text.strip().split()[0]
    try:
        return float(text)
    except ValueError:
        return None


def _resources(node: ET.Element | None) -> dict[str, int]:
    out: dict[str, int] = {}
    if node is None:
        return out
    for child in node:
        tag = "DSP" if child.tag.startswith("DSP") else child.tag
        if tag in RESOURCES and child.text:
            out[tag] = int(float(child.text))
    return out


def parse_csynth_report(path: str | Path) -> dict[str, Any]:
    """Parse a ``*_csynth.xml`` into latency, interval and resources (see the module docstring)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputFileError(f"{path}: not a readable csynth XML report ({exc})") from exc
    user = root.find("UserAssignments")
    perf = root.find("PerformanceEstimates")
    latency = perf.find("SummaryOfOverallLatency") if perf is not None else None
    timing = perf.find("SummaryOfTimingAnalysis") if perf is not None else None
    area = root.find("AreaEstimates")
    clock = _num(user, "TargetClockPeriod")
    best, worst = _num(latency, "Best-caseLatency"), _num(latency, "Worst-caseLatency")
    resources = _resources(area.find("Resources") if area is not None else None)
    available = _resources(area.find("AvailableResources") if area is not None else None)
    return {
        "source": "synthesis",
        "report": str(path),
        "tool_version": (root.findtext("ReportVersion/Version") or "").strip(),
        "part": (user.findtext("Part") if user is not None else "") or "",
        "top": (user.findtext("TopModelName") if user is not None else "") or "",
        "clock_period_ns": clock,
        "estimated_clock_period_ns": _num(timing, "EstimatedClockPeriod"),
        "latency_cycles_best": int(best) if best is not None else None,
        "latency_cycles_worst": int(worst) if worst is not None else None,
        "latency_ns_worst": worst * clock if worst is not None and clock else None,
        "initiation_interval_min": int(_num(latency, "Interval-min") or 0),
        "initiation_interval_max": int(_num(latency, "Interval-max") or 0),
        "resources": resources,
        "available": available,
        "utilisation": {k: resources[k] / available[k] for k in resources
                        if available.get(k)},
    }
