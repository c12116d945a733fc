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
    assert a["global_buffer"].size_words == 108 * 1024 // 2
    assert (a.clock_mhz, a.word_bits) == (200, 16)
    # ISCA 2016 normalized costs RF 1x, array 2x, buffer 6x, DRAM 200x of a MAC
    t = a.energy_table
    mac = t["pe_array"]["mac"]
    assert [t[c][k] / mac for c, k in (("weights_spad", "read"), ("noc", "transfer"),
                                       ("global_buffer", "read"), ("dram", "read"))] == pytest.approx([1, 2, 6, 200])
    assert model(a).hierarchy("rs").mac_units == 168


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
