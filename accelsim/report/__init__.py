"""Reports of a simulation Result: terminal tables (tabulate), CSV, Chrome/Perfetto trace, energy plot.

Files are written atomically (``accelsim.io``): an error never leaves half a file. Check a plot's path with
``plot_format`` before the work: matplotlib (imported only to draw) would refuse a bad extension only at the end.
"""
from __future__ import annotations

import csv
import io
import json
import os

from tabulate import tabulate

from ..errors import AccelsimError
from ..io import atomic_path, write_text

#: plot formats matplotlib's Agg canvas writes without extra software (pgf needs LaTeX)
PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


def _components(results) -> list[str]:
    seen = []
    for r in results:
        for layer in r.layers:
            for comp in layer.energy_pj:
                if comp not in seen:
                    seen.append(comp)
    return seen


def layer_rows(result):
    comps = _components([result])
    rows = []
    for l in result.layers:
        rows.append([l.name, l.op, l.macs, l.cycles, l.stall_cycles, f"{l.utilization:.1%}",
                     *(l.energy_pj.get(c, 0.0) / 1e6 for c in comps), l.total_energy_pj / 1e6, l.note])
    return comps, rows


def table(result) -> str:
    """Per-layer table (energy in µJ by component) with totals and, when known, accuracy metrics."""
    comps, rows = layer_rows(result)
    t = result.to_dict()["total"]
    rows.append(["total", "", t["macs"], t["cycles"], sum(l.stall_cycles for l in result.layers), "",
                 *(t["energy_by_component_pj"].get(c, 0.0) / 1e6 for c in comps), t["energy_pj"] / 1e6, ""])
    batch = f", batch {result.batch}" if result.batch > 1 else ""
    head = (f"{result.model} on {result.arch} ({result.dataflow}), {result.clock_mhz:g} MHz{batch}, "
            f"mappings minimising {result.objective}")
    text = tabulate(rows, headers=["layer", "op", "MACs", "cycles", "stalls", "util",
                                   *(f"{c} µJ" for c in comps), "total µJ", "note"],
                    intfmt=",", floatfmt=".3f")
    summary = (f"latency {t['latency_ms']:.3f} ms, {result.inferences_per_s:,.0f} inferences/s"
               f"{' (layers pipelined)' if result.layer_pipeline else ''}, energy {t['energy_pj'] / 1e6:.3f} µJ, "
               f"{t['energy_pj'] / t['macs']:.3f} pJ/MAC" if t["macs"] else "")
    metrics = result.metrics()
    if metrics:
        summary += "\n" + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if v is not None)
    return f"{head}\n{text}\n{summary}"


def compare_table(results) -> str:
    rows = []
    for r in results:
        t = r.to_dict()["total"]
        rows.append([r.arch, r.dataflow, t["macs"], t["cycles"], f"{t['latency_ms']:.3f}", t["energy_pj"] / 1e6,
                     t["energy_pj"] / t["macs"] if t["macs"] else 0.0, t["memory_accesses"],
                     *([r.accuracy, r.metrics()["accuracy_per_joule"]] if r.accuracy is not None else [])])
    heads = ["arch", "dataflow", "MACs", "cycles", "latency ms", "energy µJ", "pJ/MAC", "memory accesses"]
    if any(r.accuracy is not None for r in results):
        heads += ["accuracy", "accuracy/J"]
    objectives = sorted({r.objective for r in results})
    return tabulate(rows, headers=heads, intfmt=",", floatfmt=".3f") + f"\nmappings minimising {', '.join(objectives)}"


def write_csv(result, path) -> None:
    comps, rows = layer_rows(result)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["layer", "op", "macs", "cycles", "stall_cycles", "utilization",
                *(f"{c}_uj" for c in comps), "total_uj", "note"])
    for r in rows:
        r[5] = f"{float(r[5].rstrip('%')) / 100:.6f}"
        w.writerow(r)
    write_text(path, buf.getvalue())


def write_trace(result, path) -> None:
    """Chrome / Perfetto trace (JSON): one track per unit, one slice per tile; 1 µs in the trace = 1 cycle."""
    events, offset = [], 0
    for pid, layer in enumerate(result.layers):
        for unit, index, start, dur in layer.trace:
            events.append({"name": f"{layer.name} tile {list(index)}", "cat": layer.op, "ph": "X",
                           "ts": offset + start, "dur": max(dur, 1), "pid": 0, "tid": unit,
                           "args": {"layer": layer.name}})
        offset += layer.cycles
    meta = {"model": result.model, "arch": result.arch, "dataflow": result.dataflow, "time_unit": "cycle"}
    write_text(path, json.dumps({"traceEvents": events, "displayTimeUnit": "ns", "otherData": meta}))


def plot_format(path) -> str:
    """The plot format named by ``path``'s extension; AccelsimError if matplotlib cannot write it."""
    ext = str(path).rsplit(".", 1)[-1].lower() if "." in os.path.basename(str(path)) else ""
    if ext not in PLOT_FORMATS:
        raise AccelsimError(f"{path}: --plot needs one of the extensions {', '.join(PLOT_FORMATS)}"
                            f"{f', not .{ext}' if ext else ''}")
    return ext


def write_plot(results, path) -> None:
    """Stacked bars of energy per component, per layer (one result) or per run (several)."""
    fmt = plot_format(path)
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state

    results = list(results)
    comps = _components(results)
    if len(results) == 1:
        labels = [l.name for l in results[0].layers if l.energy_pj]
        values = [[l.energy_pj.get(c, 0.0) / 1e6 for l in results[0].layers if l.energy_pj] for c in comps]
    else:
        labels = [f"{r.arch}/{r.dataflow}" for r in results]
        values = [[r.to_dict()["total"]["energy_by_component_pj"].get(c, 0.0) / 1e6 for r in results] for c in comps]
    fig = Figure(figsize=(max(6, 0.5 * len(labels) + 3), 4))
    ax = fig.subplots()
    bottom = [0.0] * len(labels)
    for comp, vals in zip(comps, values):
        ax.bar(labels, vals, bottom=bottom, label=comp)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("energy (µJ)")
    ax.set_title(f"{results[0].model}: energy by component")
    ax.legend(fontsize="small")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt)
