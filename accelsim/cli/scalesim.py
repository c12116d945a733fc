"""`accelsim scalesim -c scale.cfg -t layers.csv`: a SCALE-Sim config and topology, unchanged, on the systolic family."""
from __future__ import annotations

import json

from tabulate import tabulate

HELP = ("Simulate a SCALE-Sim config and topology file unchanged on the systolic array: SCALE-Sim's cycles and "
        "SRAM/DRAM counts, plus stalls and energy.")


def add_arguments(p):
    p.add_argument("-c", "--config", required=True, help="SCALE-Sim config file (.cfg)")
    p.add_argument("-t", "--topology", required=True, help="SCALE-Sim topology file (.csv)")
    p.add_argument("-i", dest="input_type", choices=("conv", "gemm"), default="conv",
                   help="topology rows are conv layers or GEMMs (name, M, N, K), as SCALE-Sim's -i")
    p.add_argument("--dataflow", choices=("ws", "os", "is"), help="override the config's Dataflow")
    p.add_argument("--arch", help="template architecture file for clock, formats and energies "
                                  "(default arch/systolic.yaml)")
    p.add_argument("--mode", choices=("fast", "fine"), default="fast", help="closed form, or the array stepped "
                                                                            "cycle by cycle (small layers)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def main(args) -> int:
    from ..report import table
    from ..scalesim import REPORT, TEMPLATE, figures, load_config, load_topology
    from ..simulate import simulate

    arch, dataflow, notes = load_config(args.config, args.arch or TEMPLATE)
    dataflow = args.dataflow or dataflow
    net = load_topology(args.topology, gemm=args.input_type == "gemm")
    result = simulate(net, arch, dataflow, mode=args.mode)
    scalesim = {layer.name: figures(res, layer, arch, dataflow) for layer, res in zip(net.layers, result.layers)}
    if args.json:
        print(json.dumps({**result.to_dict(), "scalesim": scalesim, "notes": notes}, indent=2))
        return 0
    print(table(result))
    print(f"\nin SCALE-Sim's report columns ({dataflow}; its Total Cycles count from 0):")
    print(tabulate([[name, *row.values()] for name, row in scalesim.items()],
                   headers=["layer", *REPORT.values()], intfmt=","))
    for note in notes:
        print(f"note: {note}")
    return 0
