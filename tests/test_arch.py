"""Architecture files: published values loaded, --set overrides, one-line errors for bad files."""
import pytest
import yaml

from accelsim.arch import load_arch, model
from accelsim.errors import AccelsimError
from accelsim.simulate import simulate
from sim_helpers import small_cnn


def test_eyeriss_published_values():
    # Chen et al. JSSC 2017: 12x14 PEs, spads 12/224/24 x 16 b, 108 KB global buffer, 200 MHz, 16-bit
    a = load_arch("arch/eyeriss.yaml")
    assert (a["pe_array"].get("rows"), a["pe_array"].get("cols")) == (12, 14)
    assert [a[s].size_words for s in ("ifmap_spad", "weights_spad", "psum_spad")] == [12, 224, 24]
    # the 108 kB global buffer: 100 kB of ifmaps and psums, 8 kB of filters
    assert a["global_buffer"].size_words + a["filter_buffer"].size_words == 108 * 1024 // 2
    assert (a.clock_mhz, a.word_bits) == (200, 16)
    assert model(a).hierarchy("rs").mac_units == 168


def test_eyeriss_energies_trace_to_accelergy_table():
    """Every on-chip action of arch/eyeriss.yaml is Accelergy's Eyeriss-like ERT entry (45 nm; 64-bit accesses
    carry 4 words) times the file's one 65 nm factor, 2.62 (benchmarks/fidelity/accelergy_ert.csv)."""
    import csv
    ert = {}
    with open("benchmarks/fidelity/accelergy_ert.csv") as f:
        for row in csv.DictReader(f):
            if "04_eyeriss_like" in row["source_path"]:
                ert[(row["component"].split(".")[-1].split("[")[0], row["action"])] = float(row["energy_pJ"])
    t = load_arch("arch/eyeriss.yaml").energy_table
    expected = {("pe_array", "mac"): ert["mac", "mac_random"], ("pe_array", "gated_mac"): ert["mac", "mac_gated"],
                ("pe_array", "idle"): ert["mac", "idle"],
                ("global_buffer", "read"): ert["shared_glb", "read"] / 4, ("global_buffer", "write"): ert["shared_glb", "write"] / 4,
                ("filter_buffer", "read"): ert["weights_glb", "read"] / 4, ("filter_buffer", "write"): ert["weights_glb", "write"] / 4,
                ("ifmap_noc", "transfer"): ert["ifmap_NoC", "transfer_random"],
                ("filter_noc", "transfer"): ert["weights_NoC", "transfer_random"] / 4,
                ("psum_noc", "transfer"): ert["psum_write_NoC", "transfer_random"] / 4}
    for spad in ("ifmap_spad", "weights_spad", "psum_spad"):
        expected[spad, "read"] = expected[spad, "write"] = ert[spad, "read"]
    for (comp, action), pj in expected.items():
        assert t[comp][action] == pytest.approx(pj * 2.62, rel=2e-3), (comp, action)


def test_diannao_published_values():
    # Chen et al. ASPLOS 2014: Tn = 16 (256 multipliers), NBin/NBout 2 KB, SB 32 KB, 16-bit
    a = load_arch("arch/diannao.yaml")
    assert model(a).hierarchy("nfu").mac_units == 256
    assert [a[b].size_words for b in ("nbin", "nbout", "sb")] == [1024, 1024, 16384]
    assert a.formats["weights"].startswith("fixed(16")


def test_set_override_changes_capacity():
    a = load_arch("arch/eyeriss.yaml", ["global_buffer.size_kb=64"])
    assert a["global_buffer"].size_words == 64 * 512
    assert model(a).hierarchy("rs").levels[1].capacity == 64 * 512
    with pytest.raises(AccelsimError, match="no such key"):
        load_arch("arch/eyeriss.yaml", ["global_buffer.sizee_kb=64"])


def _bad(tmp_path, edit):
    raw = yaml.safe_load(open("arch/eyeriss.yaml"))
    edit(raw)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw))
    return str(p)


@pytest.mark.parametrize("edit, key", [
    (lambda r: r.pop("clock_mhz"), "clock_mhz: missing"),
    (lambda r: r["components"]["global_buffer"].update(size_kb=-4), "components.global_buffer.size_kb"),
    (lambda r: r["components"]["dram"].pop("bandwidth"), "components.dram.bandwidth: missing"),
    (lambda r: r["components"]["dram"]["energy"].pop("read"), "components.dram.energy.read: missing"),
    (lambda r: r["components"].pop("psum_spad"), "components.psum_spad: missing"),
    (lambda r: r.update(family="tpu"), "family: unknown family"),
])
def test_bad_files_one_line_error(tmp_path, edit, key):
    path = _bad(tmp_path, edit)
    with pytest.raises(AccelsimError) as e:
        load_arch(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(path) and key in msg


def test_buffer_too_small_for_any_mapping(tmp_path):
    path = _bad(tmp_path, lambda r: r["components"]["global_buffer"].update(size_kb=0.004))  # 2 words, double-buffered
    with pytest.raises(AccelsimError) as e:
        simulate(small_cnn(), path)
    assert "\n" not in str(e.value) and path in str(e.value) and "no mapping" in str(e.value)
