"""SCALE-Sim's input files, read unchanged: a config (``.cfg``) becomes a systolic :class:`Arch` and its
dataflow, a topology (``.csv``, conv or GEMM) a shape-only :class:`Network` of conv / dense layers.

The keys are SCALE-Sim 3.0.0's (scalesim/scale_config.py, scalesim/topology_utils.py). The config gives the
array, the three SRAM sizes, the dataflow and the DRAM ports; clock, formats and energies come from a
template architecture file (``arch/systolic.yaml`` by default). A topology row is ``name, ifmap height,
ifmap width, filter height, filter width, channels, filters, stride`` (an unpadded input: the output is
``ceil((H - R + stride) / stride)`` rows, the last window may hang over the edge), or ``name, M, N, K`` for
a GEMM; a layer whose name contains ``DP`` is depthwise (one channel per filter group), as in SCALE-Sim.
"""
from __future__ import annotations

import configparser
import copy
from pathlib import Path

import numpy as np

from .arch import Arch, model
from .arch.spec import parse_arch, read_yaml
from .errors import AccelsimError
from .ir.graph import Network
from .ir.layer import Layer, LoopBounds

TEMPLATE = Path(__file__).resolve().parents[1] / "arch" / "systolic.yaml"
#: SCALE-Sim's defaults for keys a config may leave out (scale_config.py: bank bandwidths 10 words/cycle)
DEFAULTS = {"ifmapsrambankbandwidth": 10, "filtersrambankbandwidth": 10, "bandwidth": "10"}


def _read(path) -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    try:
        with open(path) as f:
            config.read_file(f)
    except OSError as exc:
        raise AccelsimError(f"{path}: cannot read ({exc.strerror})") from None
    except configparser.Error as exc:
        raise AccelsimError(f"{path}: not a SCALE-Sim config ({exc.message.splitlines()[0]})") from None
    return config


def _get(config, path, section, key, kind=str):
    try:
        text = config.get(section, key.lower()) if config.has_option(section, key.lower()) else DEFAULTS[key.lower()]
    except KeyError:
        raise AccelsimError(f"{path}: [{section}] {key}: missing") from None
    if kind is int:
        try:
            value = int(str(text).split(",")[0].strip())
        except ValueError:
            raise AccelsimError(f"{path}: [{section}] {key}: must be an integer, got {text!r}") from None
        if value <= 0:
            raise AccelsimError(f"{path}: [{section}] {key}: must be > 0, got {value}")
        return value
    return str(text).strip()


def load_config(path, template=TEMPLATE) -> tuple[Arch, str, list[str]]:
    """(architecture, dataflow, notes) of a SCALE-Sim config; notes say where accelsim's model differs."""
    config = _read(path)
    arch_sec = "architecture_presets"
    dataflow = _get(config, path, arch_sec, "Dataflow").lower()
    if dataflow not in ("ws", "os", "is"):
        raise AccelsimError(f"{path}: [{arch_sec}] Dataflow: must be ws, os or is, got {dataflow!r}")
    notes = []
    if config.has_section("sparsity") and config.get("sparsity", "sparsitysupport", fallback="false").lower() == "true":
        raise AccelsimError(f"{path}: [sparsity] SparsitySupport: true is not modelled by accelsim's systolic family")
    if config.get("run_presets", "useramulatortrace", fallback="False") == "True":
        raise AccelsimError(f"{path}: [run_presets] UseRamulatorTrace: Ramulator latency traces are not modelled")
    if config.get("run_presets", "interfacebandwidth", fallback="CALC") == "USER":
        notes.append("InterfaceBandwidth USER: stalls come from accelsim's DRAM channel, not SCALE-Sim's prefetch "
                     "buffers; compute cycles and SRAM counts are SCALE-Sim's")
    ports = (_get(config, path, arch_sec, "Bandwidth", int) + _get(config, path, "layout", "IfmapSRAMBankBandwidth", int)
             + _get(config, path, "layout", "FilterSRAMBankBandwidth", int))
    raw = copy.deepcopy(read_yaml(template))
    comps = raw["components"]
    raw["name"] = config.get("general", "run_name", fallback=Path(path).stem)
    comps["pe_array"]["rows"] = _get(config, path, arch_sec, "ArrayHeight", int)
    comps["pe_array"]["cols"] = comps["vector_unit"]["lanes"] = _get(config, path, arch_sec, "ArrayWidth", int)
    for sram, key in (("ifmap_sram", "IfmapSramSzkB"), ("filter_sram", "FilterSramSzkB"), ("ofmap_sram", "OfmapSramSzkB")):
        comps[sram]["size_kb"] = _get(config, path, arch_sec, key, int)
    comps["dram"]["bandwidth"] = ports
    arch = parse_arch(raw, str(path))
    model(arch)
    return arch, dataflow, notes


def _layer(name, bounds: LoopBounds) -> Layer:
    b = bounds
    if b.P == b.Q == b.R == b.S == 1 and b.H == b.W == 1:
        shapes, out, w = [(b.N, b.C)], (b.N, b.K), (b.K, b.C)
        op = "dense"
    else:
        shapes, out, w = [(b.N, b.C, b.H, b.W)], (b.N, b.K, b.P, b.Q), (b.K, b.C // b.groups, b.R, b.S)
        op = "conv"
    weights = {"W": np.broadcast_to(np.float32(0), w)}  # shape only: no storage
    return Layer(name, op, [f"{name}.in"], f"{name}.out", shapes, out, weights, {}, b)


def _conv_bounds(H, W, R, S, C, K, stride, depthwise) -> LoopBounds:
    P, Q = -(-(H - R + stride) // stride), -(-(W - S + stride) // stride)
    pads = (0, 0, (P - 1) * stride + R - H, (Q - 1) * stride + S - W)
    groups = C if depthwise else 1
    return LoopBounds(1, K * groups, C, P, Q, R, S, stride=(stride, stride), pads=pads, groups=groups)


def load_topology(path, gemm: bool = False) -> Network:
    """A SCALE-Sim topology file as a Network of independent conv / dense layers (SCALE-Sim's header line is
    skipped; a trailing comma and a sparsity column ``N:M`` are accepted and ignored, as SCALE-Sim does)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise AccelsimError(f"{path}: cannot read ({exc.strerror})") from None
    want = 4 if gemm else 8
    layers = []
    for number, line in enumerate(lines[1:], start=2):
        fields = [f.strip() for f in line.split(",")]
        while fields and not fields[-1]:
            fields.pop()
        if not fields:
            continue
        name, values = fields[0], fields[1:want]
        if len(fields) not in (want, want + 1) or not all(v.isdigit() and int(v) > 0 for v in values):
            raise AccelsimError(f"{path}: line {number}: expected {want} columns (name, then positive integers "
                                f"{'M, N, K' if gemm else 'ifmap H, W, filter H, W, channels, filters, stride'}), "
                                f"got {line.strip()!r}")
        v = [int(x) for x in values]
        if gemm:
            bounds = LoopBounds(v[0], v[1], v[2], 1, 1)
        else:
            if v[2] > v[0] or v[3] > v[1]:
                raise AccelsimError(f"{path}: line {number}: {name}: filter larger than the ifmap")
            bounds = _conv_bounds(*v, depthwise="DP" in name)
        if any(l.name == name for l in layers):
            raise AccelsimError(f"{path}: line {number}: layer name {name!r} repeated")
        layers.append(_layer(name, bounds))
    if not layers:
        raise AccelsimError(f"{path}: no layers")
    return Network.from_layers(Path(path).stem, layers, {l.inputs[0]: l.in_shapes[0] for l in layers},
                               [l.output for l in layers], source=str(path))


def config_text(arch: Arch, dataflow: str) -> str:
    """A SCALE-Sim 3.0.0 config of a systolic architecture (CALC bandwidth mode, SCALE-Sim's default layout)."""
    c = arch.components
    kb = [c[n].size_words * arch.word_bits // 8192 for n in ("ifmap_sram", "filter_sram", "ofmap_sram")]
    return f"""[general]
run_name = {arch.name}_{dataflow}

[architecture_presets]
ArrayHeight: {c['pe_array'].get('rows')}
ArrayWidth: {c['pe_array'].get('cols')}
IfmapSramSzkB: {kb[0]}
FilterSramSzkB: {kb[1]}
OfmapSramSzkB: {kb[2]}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


#: run inside SCALE-Sim's own interpreter: simulate, print the wall time of the run
_DRIVER = """import sys, time
from scalesim.scale_sim import scalesim
config, topology, layout, out, gemm = sys.argv[1:6]
start = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology, layout=layout,
               input_type_gemm=gemm == "gemm")
sim.run_scale(top_path=out)
print(time.perf_counter() - start)
"""
#: SCALE-Sim's report columns -> the names used here
REPORT = {"Total Cycles": "cycles", "Stall Cycles": "stalls", "SRAM IFMAP Reads": "ifmap_sram_reads",
          "SRAM Filter Reads": "filter_sram_reads", "SRAM OFMAP Writes": "ofmap_sram_writes",
          "DRAM IFMAP Reads": "ifmap_dram_reads", "DRAM Filter Reads": "filter_dram_reads",
          "DRAM OFMAP Writes": "ofmap_dram_writes"}


def run_reference(python, config: str, topology: str, gemm: bool = False) -> tuple[list[dict], float]:
    """Run SCALE-Sim (``python``: an interpreter that imports it) on config and topology texts:
    (per layer {name in REPORT: value}, wall seconds of its run)."""
    import csv
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "run.cfg").write_text(config)
        (tmp / "layers.csv").write_text(topology)
        (tmp / "layout.csv").write_text("Layer name,\n")  # read by SCALE-Sim, used only with custom layouts
        done = subprocess.run([str(python), "-c", _DRIVER, str(tmp / "run.cfg"), str(tmp / "layers.csv"),
                               str(tmp / "layout.csv"), str(tmp / "out"), "gemm" if gemm else "conv"],
                              capture_output=True, text=True)
        if done.returncode:
            raise AccelsimError(f"SCALE-Sim failed: {done.stderr.strip().splitlines()[-1:]}")
        (run,) = (tmp / "out").iterdir()
        rows = {}
        for report in ("COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
            with open(run / report) as f:
                for i, row in enumerate(csv.DictReader(f, skipinitialspace=True)):
                    rows.setdefault(i, {}).update({REPORT[k]: int(float(v)) for k, v in row.items() if k in REPORT})
        return [rows[i] for i in sorted(rows)], float(done.stdout.split()[-1])


def figures(result, layer: Layer, arch: Arch, dataflow: str) -> dict:
    """An accelsim layer result in SCALE-Sim's report columns and conventions: its Total Cycles is the index of
    the last cycle (each SCALE-Sim layer counts from 0, a depthwise layer is one SCALE-Sim layer per channel),
    and in OS it adds array rows + columns to the OFMAP SRAM writes of every fold (systolic_compute_os.py)."""
    from .arch.systolic import Folds, Gemm

    c, b = result.counts, layer.bounds
    rows, cols = arch["pe_array"].get("rows"), arch["pe_array"].get("cols")
    extra = Folds(dataflow, rows, cols, Gemm.of(b)).count * (rows + cols) * b.groups if dataflow == "os" else 0
    return {"cycles": result.cycles - result.stall_cycles - b.groups, "stalls": 0,
            "ifmap_sram_reads": c["ifmap_sram"]["read"], "filter_sram_reads": c["filter_sram"]["read"],
            "ofmap_sram_writes": c["ofmap_sram"]["write"] + extra,
            "ifmap_dram_reads": c["ifmap_sram"].get("write", 0), "filter_dram_reads": c["filter_sram"].get("write", 0),
            "ofmap_dram_writes": c["ofmap_sram"]["read"]}
