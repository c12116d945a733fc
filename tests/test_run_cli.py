"""`accelsim run` / `accelsim compare` end to end on a small ONNX model."""
import json

import numpy as np
import onnx
import pytest

from accelsim.cli import main
from onnx_builders import conv_net


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "cnn.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), str(path))
    return str(path)


@pytest.mark.parametrize("arch", ["arch/eyeriss.yaml", "arch/diannao.yaml"])
def test_run_json(model_path, arch, capsys):
    assert main(["run", model_path, "--arch", arch, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"model", "arch", "layers", "total"} <= set(out)
    for layer in out["layers"]:
        assert {"name", "op", "macs", "cycles", "stall_cycles", "utilization", "counts", "energy_pj"} <= set(layer)
    assert out["total"]["macs"] == sum(l["macs"] for l in out["layers"]) > 0
    assert out["total"]["energy_pj"] == pytest.approx(sum(sum(l["energy_pj"].values()) for l in out["layers"]))
    assert out["total"]["cycles"] == sum(l["cycles"] for l in out["layers"])


def test_run_outputs_and_table(model_path, tmp_path, capsys):
    trace, csv, plot = tmp_path / "t.json", tmp_path / "t.csv", tmp_path / "e.png"
    assert main(["run", model_path, "--arch", "arch/eyeriss.yaml", "--show-mapping", "--density", "0.5",
                 "--trace", str(trace), "--csv", str(csv), "--plot", str(plot),
                 "--set", "global_buffer.size_kb=64"]) == 0
    out = capsys.readouterr().out
    assert "MAC (pe_array)" in out and "total" in out and "pJ/MAC" in out
    events = json.loads(trace.read_text())["traceEvents"]
    assert {e["tid"] for e in events} >= {"compute", "dma load"}
    assert csv.read_text().startswith("layer,op,macs,cycles")
    assert plot.stat().st_size > 0


def test_compare_json(model_path, capsys):
    assert main(["compare", model_path, "--arch", "arch/eyeriss.yaml", "--arch", "arch/diannao.yaml",
                 "--dataflow", "rs", "nlr", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["arch"], r["dataflow"]) for r in out] == [("eyeriss", "rs"), ("eyeriss", "nlr"), ("diannao", "nfu")]


def test_bad_arch_exits_1_with_one_line(model_path, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(open("arch/eyeriss.yaml").read().replace("size_kb: 100", "size_kb: -100"))
    out = tmp_path / "out.csv"
    assert main(["run", model_path, "--arch", str(bad), "--csv", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "global_buffer.size_kb" in err
    assert not out.exists()
    assert main(["run", model_path, "--arch", "arch/eyeriss.yaml", "--set", "nope=1"]) == 1


def test_info_describes_architecture_files(capsys):
    import json
    from accelsim.cli import main as cli
    assert cli(["info", "arch/isaac.yaml", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "isaac" and info["components"]["adc"]["kind"] == "unit"
    assert cli(["info", "arch/eyeriss.yaml"]) == 0
    assert "global_buffer" in capsys.readouterr().out


def test_simulate_reports_progress_once_per_layer(model_path):
    from accelsim.frontend import load_onnx
    from accelsim.simulate import simulate
    net = load_onnx(model_path)
    seen = []
    result = simulate(net, "arch/eyeriss.yaml", progress=seen.append)
    assert [l.name for l in seen] == [l.name for l in net.layers] == [l.name for l in result.layers]


def test_compare_refuses_a_dataflow_no_architecture_supports(model_path, capsys):
    assert main(["compare", model_path, "--arch", "arch/eyeriss.yaml", "--arch", "arch/diannao.yaml",
                 "--dataflow", "rs", "xyz"]) == 1
    err = capsys.readouterr().err
    assert "--dataflow xyz" in err and "nfu" in err and "nlr" in err
