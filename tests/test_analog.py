"""In-memory arrays: exact when ideal, degrading with fewer ADC bits and more noise, reproducible, priced right."""
from __future__ import annotations

import numpy as np
import pytest

from accelsim.analog import AnalogExecutor, ArrayConfig, analog_matmul
from accelsim.arch import load_arch
from accelsim.energy import energy_pj
from accelsim.errors import AccelsimError
from accelsim.frontend import load_onnx
from accelsim.functional import run
from accelsim.functional.quantized import run_quantized
from accelsim.simulate import simulate

RNG = np.random.default_rng(0)
X = RNG.integers(-128, 128, (40, 300))  # 300 inputs: three 128-row arrays, the last one partly used
W = RNG.integers(-128, 128, (300, 12))


def test_ideal_crossbar_with_enough_adc_bits_is_exact():
    """128 rows × 2-bit cells × 1-bit inputs: column sums up to 384 need 9 ADC bits (ISAAC §V)."""
    got = analog_matmul(X, W, ArrayConfig(rows=128, cell_bits=2, adc_bits=9), 8, 8, np.random.default_rng(1))
    assert np.array_equal(got, X @ W)  # exact integers, every bit plane, slice and array
    signed = analog_matmul(np.sign(X), np.sign(W), ArrayConfig(rows=64, weights="signed", inputs="levels",
                                                                adc_bits=8), 2, 2, np.random.default_rng(1))
    assert np.array_equal(signed, np.sign(X) @ np.sign(W))


def per_plane(xi, wi, cfg, in_bits, w_bits, rng):
    """The arrays one conversion at a time, as accelsim computed them before the exact and fused paths: every
    bit plane × slice × array column sum in float64 through numpy's ADC. (out, conversions, clipped)."""
    n, c = xi.shape
    chunks = -(-c // cfg.rows)
    pad = chunks * cfg.rows - c
    xp, wp = np.pad(xi, ((0, 0), (0, pad))), np.pad(wi, ((0, pad), (0, 0)))
    if cfg.inputs == "levels":
        planes = [(1, xp)]
    else:
        u = np.where(xp < 0, xp + (1 << in_bits), xp)
        planes = [((-1 if t == in_bits - 1 else 1) << t, (u >> t) & 1) for t in range(in_bits)]
    if cfg.weights == "signed":
        slices = [(1, wp)]
    else:
        mask, count = (1 << cfg.cell_bits) - 1, max(1, -(-(w_bits - 1) // cfg.cell_bits))
        slices = [(sign << (cfg.cell_bits * s), (mag >> (cfg.cell_bits * s)) & mask)
                  for sign, mag in ((1, np.maximum(wp, 0)), (-1, np.maximum(-wp, 0))) for s in range(count)]
    out = np.zeros((n, wi.shape[1]))
    max_in = max(int(np.abs(p).max(initial=0)) for _, p in planes) if cfg.inputs == "levels" else 1
    conversions = clipped = 0
    for sw, cells in slices:
        g = cells.astype(np.float64)
        top = max(int(np.abs(cells).max(initial=0)), 1)
        if cfg.stuck:
            u = rng.random(g.shape)
            g = np.where(u < cfg.stuck / 2, 0.0, np.where(u < cfg.stuck, float(top), g))
        if cfg.variation:
            g = g * (1 + cfg.variation * rng.standard_normal(g.shape))
        gc = g.reshape(chunks, cfg.rows, -1)
        hi = cfg.rows * max_in * ((1 << cfg.cell_bits) - 1 if cfg.weights == "differential" else 1)
        lo = -hi if (cfg.weights == "signed" or cfg.inputs == "levels") else 0
        lo, hi = lo * cfg.adc_full_scale, hi * cfg.adc_full_scale
        step = max((hi - lo) / (cfg.levels - 1), 1.0) if hi > lo else 1.0
        for sx, plane in planes:
            ps = np.matmul(plane.astype(np.float64).reshape(n, chunks, cfg.rows).transpose(1, 0, 2), gc)
            if cfg.read_noise:
                ps = ps + cfg.read_noise * rng.standard_normal(ps.shape)
            code = np.clip(np.rint((ps - lo) / step), 0, cfg.levels - 1)
            conversions += ps.size
            clipped += int(np.count_nonzero((ps < lo - step / 2) | (ps > lo + (cfg.levels - 1) * step + step / 2)))
            out += sx * sw * (lo + code * step).sum(axis=0)
    return out, conversions, clipped


BIT_SERIAL = [dict(adc_bits=9), dict(adc_bits=6), dict(adc_bits=3), dict(adc_bits=9, adc_full_scale=0.3),
              dict(adc_bits=8, rows=64, cell_bits=1), dict(adc_bits=9, stuck=0.05), dict(adc_bits=7, stuck=0.05),
              dict(adc_bits=9, variation=0.05), dict(adc_bits=9, read_noise=0.5),
              dict(adc_bits=6, variation=0.1, read_noise=0.5, stuck=0.02)]
LEVELS = [dict(adc_bits=8), dict(adc_bits=4, adc_levels=11, adc_full_scale=0.1), dict(adc_bits=8, variation=0.05),
          dict(adc_bits=4, adc_levels=11, adc_full_scale=0.1, read_noise=0.3)]


@pytest.mark.parametrize("options, weights, inputs", [(o, "differential", "bit_serial") for o in BIT_SERIAL] +
                         [(o, "signed", "levels") for o in LEVELS])
@pytest.mark.parametrize("shape", [(5, 25, 3), (1, 300, 4), (7, 256, 2)])  # one array, a part-used third, exact fit
def test_fast_paths_equal_the_per_plane_conversions_bit_for_bit(options, weights, inputs, shape):
    """The one-GEMM exact path and the fused plane-by-plane path give the old per-plane results exactly
    (same random draws, same floating-point operations), and the same ADC statistics."""
    n, c, k = shape
    rng = np.random.default_rng(c + k)
    cfg = ArrayConfig(**{"rows": 128 if weights == "differential" else 64, **options}, weights=weights,
                      inputs=inputs, seed=1)
    if inputs == "levels":
        xi, wi, bits = rng.integers(-1, 2, (n, c)), rng.integers(-1, 2, (c, k)), 2
    else:
        xi, wi, bits = rng.integers(-128, 128, (n, c)), rng.integers(-128, 128, (c, k)), 8
    stats = {}
    got = analog_matmul(xi, wi, cfg, bits, bits, np.random.default_rng(4), stats)
    expected, conversions, clipped = per_plane(xi, wi, cfg, bits, bits, np.random.default_rng(4))
    assert np.array_equal(got, expected)
    assert stats == {"adc_conversions": conversions, "adc_clipped": clipped}
    if inputs == "levels":  # all-zero inputs: the ADC's range collapses to a point
        zeros = np.zeros_like(xi)
        expected_zeros = per_plane(zeros, wi, cfg, bits, bits, np.random.default_rng(4))[0]
        assert np.array_equal(analog_matmul(zeros, wi, cfg, bits, bits, np.random.default_rng(4)), expected_zeros)


def relative_error(cfg, seed):
    got = analog_matmul(X, W, cfg, 8, 8, np.random.default_rng(seed))
    return np.linalg.norm(got - X @ W) / np.linalg.norm(X @ W)


def test_fewer_adc_bits_never_lower_the_error():
    """From exact (9 bits) down to 4 bits; below that the outputs are noise (error > 100%) and no longer ordered."""
    errors = [np.mean([relative_error(ArrayConfig(adc_bits=b), s) for s in range(3)]) for b in (9, 8, 7, 6, 5, 4)]
    assert errors[0] == 0 and all(a <= b for a, b in zip(errors, errors[1:])), errors


@pytest.mark.parametrize("kind", ["variation", "read_noise"])
def test_more_noise_raises_the_error_in_expectation_over_seeds(kind):
    levels = (0.0, 0.02, 0.1, 0.3) if kind == "variation" else (0.0, 0.3, 1.0, 3.0)
    errors = [np.mean([relative_error(ArrayConfig(adc_bits=9, **{kind: v, "seed": s}), s) for s in range(6)]) for v in levels]
    assert errors[0] == 0 and all(a < b for a, b in zip(errors, errors[1:])), errors


def test_noise_is_reproducible_from_its_seed():
    cfg = ArrayConfig(variation=0.1, read_noise=0.5, stuck=0.01, seed=3)
    a = analog_matmul(X, W, cfg, 8, 8, np.random.default_rng(7))
    assert np.array_equal(a, analog_matmul(X, W, cfg, 8, 8, np.random.default_rng(7)))
    assert not np.array_equal(a, analog_matmul(X, W, cfg, 8, 8, np.random.default_rng(8)))


def test_analog_network_equals_digital_fixed_point_when_ideal(trained):
    net = load_onnx(trained("lenet5"))
    x = np.random.default_rng(2).random((6, 1, 32, 32)).astype(np.float32)
    digital, _ = run_quantized(net, x, "fixed(8)")
    ideal = AnalogExecutor(ArrayConfig(adc_bits=9), "fixed(8)", "fixed(8)")
    np.testing.assert_array_equal(run(net, x, mac_executor=ideal), digital)
    coarse = AnalogExecutor(ArrayConfig(adc_bits=5), "fixed(8)", "fixed(8)")
    assert not np.array_equal(run(net, x, mac_executor=coarse), digital)
    assert sum(s.adc_conversions for s in coarse.stats.values()) > 0


@pytest.mark.parametrize("path", ["arch/isaac.yaml", "arch/sram_cim.yaml"])
def test_in_memory_architectures_price_converters_and_keep_the_invariants(trained, path):
    net = load_onnx(trained("seed001_mac"))
    arch = load_arch(path)
    result = simulate(net, arch)
    for layer in result.layers:
        # counts × table = energy, component by component
        assert layer.energy_pj == pytest.approx(energy_pj(layer.counts, arch.energy_table))
        if layer.macs:
            ref = net[layer.name]
            assert layer.macs == ref.macs
            assert layer.counts["adc"]["convert"] > 0 and layer.counts["dac"]["convert"] > 0
            # weights are programmed before inference (resident): DRAM delivers the inputs only
            assert layer.counts["dram"]["read"] >= ref.input_size and "write" not in layer.counts["array"]
            mac_units = arch["array"].get("arrays") * arch["array"].get("rows") * arch["array"].get("weights_per_row")
            assert layer.cycles >= layer.macs / mac_units
    assert result.to_dict()["total"]["energy_by_component_pj"]["adc"] > 0


def test_clock_must_match_the_bit_serial_steps(tmp_path):
    text = open("arch/isaac.yaml").read().replace("clock_mhz: 0.625", "clock_mhz: 1.0")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(AccelsimError, match="clock_mhz"):
        load_arch(tmp_path / "bad.yaml")


def test_xnor_sram_macro_runs_the_ternary_lenet_accurately(trained):
    """The ternary-weight, 2-bit-activation LeNet-5 (workloads/train.py) through the 11-level column ADCs."""
    from accelsim.analog import executor_for
    from accelsim.functional.evaluate import evaluate
    net = load_onnx(trained("lenet5_ternary"))
    arch = load_arch("arch/sram_cim.yaml")
    analog = evaluate(net, "digits", arch.formats, executor=executor_for(arch))
    digital = evaluate(net, "digits", arch.formats)
    assert analog["accuracy"] >= 0.9 and digital["accuracy"] >= 0.9
    full_range = load_arch("arch/sram_cim.yaml", ["analog.adc_full_scale=1.0"])
    assert evaluate(net, "digits", arch.formats, executor=executor_for(full_range))["accuracy"] < 0.5


def test_weights_too_large_for_the_arrays_are_fetched_and_programmed(trained):
    """Residency holds only for a layer whose weights fit in all arrays; the closed form and the tiles agree."""
    from accelsim.arch import model
    from accelsim.engine.tiles import add_counts, expand, fast_tiles
    from accelsim.mapping.mapper import search
    from accelsim.mapping.nest import Shape, by_component
    net = load_onnx(trained("lenet5"))
    for arrays, expect_fetch in ((16128, False), (2, True)):
        arch = load_arch("arch/isaac.yaml", [f"components.array.arrays={arrays}"])
        hier = model(arch).hierarchy("ws")
        fc = net["gemm14"]  # 48,000 weights: fit in 16,128 arrays of 1,024, not in 2
        nest = search(hier, Shape.of(fc.bounds), arch.energy_table, "energy").nest
        closed, tiles = by_component(nest.counts()["counts"]), expand(fast_tiles(nest))
        tile_counts = {}
        for t in tiles:
            add_counts(tile_counts, by_component(t.counts))
        assert closed["dram"]["read"] == sum(t.load_words for t in tiles)
        assert closed["array"] == tile_counts["array"]
        fetched = closed["dram"]["read"] >= fc.bounds.weight_size
        assert fetched == expect_fetch and (closed["array"].get("write", 0) >= fc.bounds.weight_size) == expect_fetch


def test_isaac_pipelines_layers_so_throughput_follows_the_slowest_layer(trained):
    net = load_onnx(trained("seed001_mac"))
    piped = simulate(net, load_arch("arch/isaac.yaml"))
    serial = simulate(net, load_arch("arch/isaac.yaml", ["layer_pipeline=false"]))
    slowest = max(l.cycles for l in piped.layers)
    assert piped.inferences_per_s == pytest.approx(piped.clock_mhz * 1e6 / slowest)
    assert serial.inferences_per_s == pytest.approx(serial.clock_mhz * 1e6 / serial.total["cycles"])
    assert piped.inferences_per_s > serial.inferences_per_s
    assert piped.total == serial.total  # same work and energy per inference
