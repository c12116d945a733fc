"""A corpus of bad inputs run through the CLI: each gets one clear line, a non-zero exit and no output file.

The contract (DEVELOPERS.md, SPEC §8, issue 11): exit 1 (2 for a command line that does not parse), at most two
lines on stderr starting ``accelsim: error:``, naming the file / key / node at fault, no traceback, and no file
of the run left behind. Cases run in-process through ``accelsim.cli.main``; two run as real processes (exit
code of the console script, SIGINT while the imports load).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from accelsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
EYERISS, ISAAC = str(ROOT / "arch/eyeriss.yaml"), str(ROOT / "arch/isaac.yaml")
IC = str(ROOT / "workloads/seed004_ic.onnx")  # 3×32×32 in, 10 classes out (committed)


class Case(NamedTuple):
    argv: list
    names: tuple  # what the line must name (file, key, node, the user's own spelling)
    code: int = 1


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---- ONNX files written in the test -------------------------------------------------------------------------

def onnx_file(d: Path, name, nodes, inputs, outputs, inits=(), opset=17, check=True, in_type=TensorProto.FLOAT,
              domains=()):
    """Save a model; ``inputs``/``outputs`` are {name: shape}; ``check=False`` keeps what onnx's checker refuses."""
    ins = [helper.make_tensor_value_info(n, in_type, s) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()]
    graph = helper.make_graph(nodes, name, ins, outs,
                              initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]
                          + [helper.make_opsetid(dom, 1) for dom in domains])
    m.ir_version = 8
    if check:
        onnx.checker.check_model(m)
    path = d / f"{name}.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path)


def weights(*shape, fill=None):
    w = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if fill is not None:
        w.reshape(-1)[0] = fill
    return w


def conv_file(d, name, w, x_shape, bias=None, **attrs):
    inits = {"w": w, **({"b": bias} if bias is not None else {})}
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if bias is not None else []), ["y"], name="c1", **attrs)
    return onnx_file(d, name, [node], {"x": x_shape}, {"y": ["N", "K", "P", "Q"]}, inits)


def dense_file(d, name, w, b=None):
    node = helper.make_node("Gemm", ["x", "w"] + (["b"] if b is not None else []), ["y"], name="fc", transB=1)
    return onnx_file(d, name, [node], {"x": [1, w.shape[1]]}, {"y": [1, w.shape[0]]},
                     {"w": w, **({"b": b} if b is not None else {})})


@case
def missing_model(d):
    return Case(["info", str(d / "nope.onnx")], ("nope.onnx", "no such"))


@case
def empty_model_file(d):
    (d / "empty.onnx").write_bytes(b"")
    return Case(["info", str(d / "empty.onnx")], ("empty.onnx",))


@case
def garbage_model_file(d):
    (d / "junk.onnx").write_bytes(bytes(range(256)) * 8)
    return Case(["info", str(d / "junk.onnx")], ("junk.onnx",))


@case
def truncated_model_file(d):
    data = Path(IC).read_bytes()
    (d / "half.onnx").write_bytes(data[: len(data) // 2])
    return Case(["run", str(d / "half.onnx"), "--arch", EYERISS], ("half.onnx",))


@case
def text_file_as_model(d):
    (d / "notes.onnx").write_text("this is not a model\n" * 20)
    return Case(["info", str(d / "notes.onnx")], ("notes.onnx",))


@case
def directory_as_model(d):
    (d / "dir.onnx").mkdir()
    return Case(["info", str(d / "dir.onnx")], ("dir.onnx",))


@case
def graph_without_nodes(d):
    return Case(["info", onnx_file(d, "nonodes", [], {"x": [1, 4]}, {"x": [1, 4]})], ("nonodes.onnx",))


@case
def unsupported_op(d):
    node = helper.make_node("TopK", ["x", "k"], ["y", "i"], name="topk1")
    path = onnx_file(d, "topk", [node], {"x": [1, 8]}, {"y": [1, 2], "i": [1, 2]}, {"k": np.array([2], np.int64)},
                     check=False)
    return Case(["info", path], ("topk.onnx", "topk1", "TopK"))


@case
def op_of_unknown_domain(d):
    node = helper.make_node("Frob", ["x"], ["y"], name="frob1", domain="com.example")
    path = onnx_file(d, "frob", [node], {"x": [1, 8]}, {"y": [1, 8]}, domains=["com.example"], check=False)
    return Case(["info", path], ("frob.onnx", "frob1"))


@case
def opset_from_the_future(d):
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    return Case(["info", onnx_file(d, "future", [node], {"x": [1, 8]}, {"y": [1, 8]}, opset=99, check=False)],
                ("future.onnx", "opset 99"))


@case
def kernel_larger_than_input(d):  # issue 11: an 11×11 kernel on an 8×8 input was simulated in 0 cycles
    return Case(["run", conv_file(d, "k11", weights(2, 1, 11, 11), [1, 1, 8, 8]), "--arch", EYERISS],
                ("k11.onnx", "c1", "11×11"))


@case
def kernel_leaving_an_empty_output(d):  # 9×9 on 8×8: output 0×0
    return Case(["info", conv_file(d, "k9", weights(2, 1, 9, 9), [1, 1, 8, 8])], ("k9.onnx", "c1", "empty"))


@case
def groups_not_dividing_channels(d):  # onnxruntime refuses group=2 on 3 channels
    return Case(["run", conv_file(d, "g2", weights(4, 1, 3, 3), [1, 3, 8, 8], group=2), "--arch", EYERISS],
                ("g2.onnx", "c1", "group=2"))


@case
def weight_channels_not_matching_input(d):
    path = onnx_file(d, "wch", [helper.make_node("Conv", ["x", "w"], ["y"], name="c1")], {"x": [1, 3, 8, 8]},
                     {"y": ["N", "K", "P", "Q"]}, {"w": weights(4, 2, 3, 3)})
    return Case(["info", path], ("wch.onnx", "c1"))


@case
def kernel_shape_attribute_disagreeing_with_the_weights(d):  # onnxruntime refuses it
    path = conv_file(d, "kshape", weights(2, 1, 3, 3), [1, 1, 8, 8], kernel_shape=[5, 5])
    return Case(["run", path, "--arch", EYERISS], ("kshape.onnx", "c1", "3×3"))


@case
def clip_bound_that_is_an_input(d):  # was silently treated as no bound
    node = helper.make_node("Clip", ["x", "lo"], ["y"], name="clip1")
    return Case(["info", onnx_file(d, "cliplo", [node], {"x": [1, 4], "lo": [1]}, {"y": [1, 4]})],
                ("cliplo.onnx", "'lo'"))


@case
def nan_conv_weight(d):
    return Case(["run", conv_file(d, "nanw", weights(2, 1, 3, 3, fill=np.nan), [1, 1, 8, 8]), "--arch", EYERISS],
                ("nanw.onnx", "c1", "nan"))


@case
def inf_conv_bias(d):
    return Case(["info", conv_file(d, "infb", weights(2, 1, 3, 3), [1, 1, 8, 8], bias=weights(2, fill=np.inf))],
                ("infb.onnx", "c1", "inf"))


@case
def inf_dense_weight(d):
    return Case(["info", dense_file(d, "infd", weights(4, 6, fill=-np.inf))], ("infd.onnx", "fc", "inf"))


@case
def negative_batchnorm_variance(d):  # folds into the conv as NaN weights
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="bn1")]
    inits = {"w": weights(2, 1, 3, 3), "g": np.ones(2, np.float32), "b": np.zeros(2, np.float32),
             "m": np.zeros(2, np.float32), "v": -np.ones(2, np.float32) * 4}
    return Case(["info", onnx_file(d, "bnvar", nodes, {"x": [1, 1, 8, 8]}, {"y": [1, 2, 6, 6]}, inits)],
                ("bnvar.onnx", "c1"))


@case
def int64_input_fed_to_conv(d):  # issue 11: was converted to float silently
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c1")
    path = onnx_file(d, "int_in", [node], {"x": [1, 1, 8, 8]}, {"y": [1, 2, 6, 6]}, {"w": weights(2, 1, 3, 3)},
                     in_type=TensorProto.INT64)
    return Case(["info", path], ("int_in.onnx", "'x'", "int64"))


@case
def symbolic_spatial_dimension(d):
    return Case(["info", conv_file(d, "symh", weights(2, 1, 3, 3), [1, 1, "H", 8])], ("symh.onnx", "'x'", "'H'"))


@case
def conv_weight_that_is_an_activation(d):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c1")
    path = onnx_file(d, "wact", [node], {"x": [1, 1, 8, 8], "w": [2, 1, 3, 3]}, {"y": [1, 2, 6, 6]})
    return Case(["info", path], ("wact.onnx", "c1", "constant"))


@case
def matmul_of_mismatched_activations(d):
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    return Case(["info", onnx_file(d, "mm2", [node], {"a": [1, 4], "b": [5, 3]}, {"y": [1, 3]})],
                ("mm2.onnx", "mm"))


@case
def maxpool_window_larger_than_input(d):
    node = helper.make_node("MaxPool", ["x"], ["y"], name="pool1", kernel_shape=[5, 5])
    path = onnx_file(d, "bigpool", [node], {"x": [1, 1, 4, 4]}, {"y": ["N", "C", "H", "W"]})
    return Case(["info", path], ("bigpool.onnx",))


@case
def reshape_to_a_wrong_size(d):
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")
    path = onnx_file(d, "badreshape", [node], {"x": [1, 12]}, {"y": [1, 5]}, {"s": np.array([1, 5], np.int64)})
    return Case(["info", path], ("badreshape.onnx",))


@case
def dangling_node_input(d):
    node = helper.make_node("Relu", ["ghost"], ["y"], name="r")
    return Case(["info", onnx_file(d, "ghost", [node], {"x": [1, 4]}, {"y": [1, 4]}, check=False)],
                ("ghost.onnx",))


def sam_file(d, name, wp, wm):
    node = helper.make_node("SamDense", ["x", "wp", "wm"], ["y"], name="sam1", domain="ai.accelsim")
    return onnx_file(d, name, [node], {"x": [1, wp.shape[0]]}, {"y": [1, wp.shape[1]]}, {"wp": wp, "wm": wm},
                     domains=["ai.accelsim"])


@case
def sam_parameter_nan(d):
    return Case(["info", sam_file(d, "samnan", weights(6, 4, fill=np.nan), weights(6, 4))],
                ("samnan.onnx", "sam1", "W_plus"))


@case
def sam_parameter_pruned_with_the_wrong_infinity(d):  # +inf in W+ would win every max
    return Case(["info", sam_file(d, "saminf", weights(6, 4, fill=np.inf), weights(6, 4))],
                ("saminf.onnx", "sam1", "W_plus"))


def test_sam_pruned_parameters_are_legitimate(tmp_path, capsys):
    wp, wm = weights(6, 4), weights(6, 4)
    wp[0, 1], wm[2, 3] = -np.inf, np.inf  # seed 001 §III-D: pruned parameters never win the max / the min
    assert main(["info", sam_file(tmp_path, "pruned", wp, wm)]) == 0
    assert "sam1" in capsys.readouterr().out


@case
def eval_on_a_two_input_model(d):  # issue 11: ValueError: too many values to unpack
    node = helper.make_node("Add", ["a", "b"], ["y"], name="add")
    path = onnx_file(d, "two_in", [node], {"a": [1, 10], "b": [1, 10]}, {"y": [1, 10]})
    return Case(["eval", path, "--dataset", "digits"], ("two_in.onnx", "2 inputs"))


@case
def eval_on_a_model_without_class_scores(d):
    return Case(["eval", conv_file(d, "maps", weights(2, 1, 3, 3), [1, 1, 8, 8]), "--dataset", "digits"],
                ("maps.onnx", "score per class"))


@case
def infer_on_a_two_output_model(d):
    nodes = [helper.make_node("Relu", ["x"], ["y1"], name="r1"), helper.make_node("Neg", ["x"], ["y2"], name="n")]
    path = onnx_file(d, "two_out", nodes, {"x": [1, 4]}, {"y1": [1, 4], "y2": [1, 4]})
    np.save(d / "x.npy", np.zeros((2, 4), np.float32))
    return Case(["infer", path, "--input", str(d / "x.npy"), "--out", str(d / "y.npy")], ("two_out.onnx", "outputs"))


@case
def infer_input_of_the_wrong_shape(d):
    np.save(d / "x.npy", np.zeros((2, 5), np.float32))
    return Case(["infer", dense_file(d, "fc4", weights(3, 4)), "--input", str(d / "x.npy"), "--out",
                 str(d / "y.npy")], ("fc4.onnx",))


@case
def infer_input_of_strings(d):
    np.save(d / "s.npy", np.array(["a", "b"]))
    return Case(["infer", dense_file(d, "fc4", weights(3, 4)), "--input", str(d / "s.npy"), "--out",
                 str(d / "y.npy")], ("s.npy",))


# ---- architecture files -------------------------------------------------------------------------------------

def arch_file(d: Path, edit, name="bad.yaml", base=EYERISS):
    raw = yaml.safe_load(open(base))
    edit(raw)
    path = d / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def run_with(arch):
    return ["run", IC, "--arch", arch]


@case
def missing_arch_file(d):
    return Case(run_with(str(d / "none.yaml")), ("none.yaml",))


@case
def arch_file_invalid_yaml(d):
    (d / "broken.yaml").write_text("name: x\ncomponents: [a, b\n")
    return Case(run_with(str(d / "broken.yaml")), ("broken.yaml", "line"))


@case
def arch_file_a_list(d):
    (d / "list.yaml").write_text("- a\n- b\n")
    return Case(run_with(str(d / "list.yaml")), ("list.yaml",))


@case
def arch_file_binary(d):
    (d / "bin.yaml").write_bytes(b"\xff\xfe\x00\x81" * 50)
    return Case(run_with(str(d / "bin.yaml")), ("bin.yaml",))


@case
def arch_file_a_directory(d):
    (d / "arch.yaml").mkdir()
    return Case(["info", str(d / "arch.yaml")], ("arch.yaml",))


@case
def misspelt_energy_scale(d):  # issue 11: ignored, so every energy was 11% high
    path = arch_file(d, lambda r: r.update(energy_scale=1.11))
    return Case(run_with(path), ("bad.yaml", "energy_scale", "did you mean energy_scale_pj"))


@case
def misspelt_component_key(d):
    path = arch_file(d, lambda r: r["components"]["global_buffer"].update(size_kbb=r["components"]["global_buffer"]
                                                                          .pop("size_kb")))
    return Case(run_with(path), ("bad.yaml", "components.global_buffer.size_kbb", "size_kb"))


@case
def unknown_top_level_key(d):
    return Case(run_with(arch_file(d, lambda r: r.update(clock_ghz=1))), ("bad.yaml", "clock_ghz"))


@case
def unknown_format_role(d):
    return Case(run_with(arch_file(d, lambda r: r["formats"].update(weight="fixed(8)"))),
                ("bad.yaml", "formats.weight", "did you mean weights"))


@case
def bad_format_in_arch_file(d):
    return Case(run_with(arch_file(d, lambda r: r["formats"].update(weights="bfp(8,8,0)"))),
                ("bad.yaml", "formats.weights", "bfp(8,8,0)"))


@case
def negative_buffer_size(d):
    return Case(run_with(arch_file(d, lambda r: r["components"]["global_buffer"].update(size_kb=-8))),
                ("bad.yaml", "components.global_buffer.size_kb"))


@case
def nan_clock(d):
    return Case(run_with(arch_file(d, lambda r: r.update(clock_mhz=float("nan")))), ("bad.yaml", "clock_mhz"))


@case
def string_bandwidth(d):
    return Case(run_with(arch_file(d, lambda r: r["components"]["dram"].update(bandwidth="fast"))),
                ("bad.yaml", "components.dram.bandwidth"))


@case
def flag_that_is_not_a_flag(d):
    return Case(run_with(arch_file(d, lambda r: r["components"]["global_buffer"].update(double_buffered="yes"))),
                ("bad.yaml", "double_buffered"))


@case
def duplicate_key(d):
    text = Path(EYERISS).read_text().replace("    size_kb: 100", "    size_kb: 100\n    size_kb: 16")
    (d / "dup.yaml").write_text(text)
    return Case(run_with(str(d / "dup.yaml")), ("dup.yaml", "size_kb", "twice"))


@case
def unknown_component_kind(d):
    return Case(run_with(arch_file(d, lambda r: r["components"]["ifmap_noc"].update(kind="bus"))),
                ("bad.yaml", "components.ifmap_noc.kind"))


@case
def unknown_family(d):
    return Case(run_with(arch_file(d, lambda r: r.update(family="tpu9"))), ("bad.yaml", "family"))


@case
def component_the_family_needs_is_missing(d):
    return Case(run_with(arch_file(d, lambda r: r["components"].pop("psum_spad"))), ("bad.yaml", "psum_spad"))


@case
def missing_energy_action(d):
    return Case(run_with(arch_file(d, lambda r: r["components"]["dram"]["energy"].pop("write"))),
                ("bad.yaml", "components.dram.energy.write"))


@case
def analog_option_misspelt(d):
    return Case(run_with(arch_file(d, lambda r: r["analog"].update(adc_bit=8), base=ISAAC)), ("bad.yaml", "adc_bit"))


@case
def info_on_a_bad_arch_file(d):
    return Case(["info", arch_file(d, lambda r: r["components"]["pe_array"].update(rows=0))],
                ("bad.yaml", "components.pe_array.rows"))


# ---- --set --------------------------------------------------------------------------------------------------

@case
def set_value_not_yaml(d):  # issue 11: a 57-line YAML error
    return Case(run_with(EYERISS) + ["--set", "global_buffer.size_kb=[64,"], ("--set global_buffer.size_kb",))


@case
def set_word_for_a_number(d):  # issue 11: TypeError
    return Case(run_with(ISAAC) + ["--set", "analog.rows=abc"], ("isaac.yaml", "analog.rows", "abc"))


@case
def set_list_for_a_number(d):
    return Case(run_with(EYERISS) + ["--set", "global_buffer.size_kb=[1, 2]"], ("global_buffer.size_kb",))


@case
def set_unknown_key(d):
    return Case(run_with(EYERISS) + ["--set", "global_buffer.size_k=64"],
                ("eyeriss.yaml", "global_buffer.size_k", "did you mean global_buffer.size_kb"))


@case
def set_without_a_value(d):
    return Case(run_with(EYERISS) + ["--set", "global_buffer.size_kb"], ("--set global_buffer.size_kb",))


@case
def set_a_negative_size(d):
    return Case(run_with(EYERISS) + ["--set", "global_buffer.size_kb=-1"], ("components.global_buffer.size_kb",))


@case
def set_zero_clock(d):
    return Case(run_with(EYERISS) + ["--set", "clock_mhz=0"], ("eyeriss.yaml", "clock_mhz"))


# ---- data sets ----------------------------------------------------------------------------------------------

def npz_file(d, name, x, y=None, **extra):
    arrays = {"x": x, **({"y": y} if y is not None else {}), **extra}
    np.savez(d / name, **arrays)
    return f"npz:{d / name}"


def images(n):
    return np.zeros((n, 3, 32, 32), np.float32)


def eval_on(dataset, *more):
    return ["eval", IC, "--dataset", dataset, *more]


@case
def empty_npz(d):  # issue 11: ZeroDivisionError
    return Case(eval_on(npz_file(d, "empty.npz", images(0), np.zeros(0, np.int64))), ("empty.npz", "no samples"))


@case
def fractional_labels(d):
    return Case(eval_on(npz_file(d, "frac.npz", images(3), np.array([0, 1.5, 2]))), ("frac.npz", "1.5"))


@case
def negative_labels(d):
    return Case(eval_on(npz_file(d, "neg.npz", images(3), np.array([0, -1, 2]))), ("neg.npz", "-1"))


@case
def labels_out_of_range(d):
    return Case(eval_on(npz_file(d, "big.npz", images(3), np.array([0, 10, 2]))), ("big.npz", "10", "10 classes"))


@case
def labels_out_of_range_in_run(d):
    ds = npz_file(d, "big.npz", images(3), np.array([0, 12, 2]))
    return Case(["run", IC, "--arch", EYERISS, "--dataset", ds, "--csv", str(d / "out.csv")], ("big.npz", "12"))


@case
def text_labels(d):
    return Case(eval_on(npz_file(d, "txt.npz", images(2), np.array(["cat", "dog"]))), ("txt.npz", "cat"))


@case
def samples_of_the_wrong_shape(d):
    return Case(eval_on(npz_file(d, "shape.npz", np.zeros((3, 2, 5, 7)), np.arange(3))), ("shape.npz", "(2, 5, 7)"))


@case
def labels_not_one_per_sample(d):
    return Case(eval_on(npz_file(d, "count.npz", images(3), np.arange(4))), ("count.npz", "3 samples"))


@case
def nan_samples(d):
    x = images(2)
    x[1, 0, 0, 0] = np.nan
    return Case(eval_on(npz_file(d, "nanx.npz", x, np.arange(2))), ("nanx.npz", "NaN"))


@case
def npz_without_labels(d):
    return Case(eval_on(npz_file(d, "nolabels.npz", images(2))), ("nolabels.npz", "'y'", "it has x"))


@case
def npz_that_is_not_a_zip(d):
    (d / "zip.npz").write_bytes(b"PK\x03\x04 not really")
    return Case(eval_on(f"npz:{d / 'zip.npz'}"), ("zip.npz",))


@case
def npy_given_as_npz(d):
    np.save(d / "arr.npy", np.zeros(3))
    return Case(eval_on(f"npz:{d / 'arr.npy'}"), ("arr.npy", "npz"))


@case
def unknown_dataset_name(d):
    return Case(eval_on("digit"), ("digit", "did you mean digits"))


@case
def batch_size_zero(d):  # issue 11: a traceback
    return Case(eval_on("digits", "--batch-size", "0"), ("--batch-size",), code=2)


@case
def batch_size_negative(d):  # issue 11: accuracy 0.0 having evaluated nothing
    return Case(eval_on("digits", "--batch-size", "-4"), ("--batch-size", "-4"), code=2)


# ---- number formats -----------------------------------------------------------------------------------------

def with_format(*opts):
    return eval_on("digits", *opts)


@case
def bfp_block_of_zero(d):  # issue 11: division by zero mid-evaluation
    return Case(with_format("--format", "bfp(8,8,0)"), ("bfp(8,8,0)", "B"))


@case
def bfp_without_mantissa(d):  # issue 11: accepted
    return Case(with_format("--format", "bfp(0,8,16)"), ("bfp(0,8,16)", "M"))


@case
def block_minifloat_of_zeros(d):  # issue 11: reported as minifloat(0,0,bias=0,overflow=sat)
    return Case(with_format("--format", "bm(0,0,0)"), ("'bm(0,0,0)'",))


@case
def format_named_as_written(d):
    return Case(with_format("--weights", "BFP( 8, 8, 0 )"), ("BFP( 8, 8, 0 )",))


@case
def float_accumulator(d):  # issue 11: AttributeError
    return Case(with_format("--format", "fixed(8)", "--accumulator", "fp16"), ("accumulator", "fp16"))


@case
def word_length_too_long(d):
    return Case(with_format("--format", "fixed(99)"), ("fixed(99)", "W=99"))


@case
def misspelt_format(d):
    return Case(with_format("--format", "fixd(8)"), ("fixd(8)", "did you mean fixed"))


@case
def unknown_rounding(d):
    return Case(with_format("--format", "fixed(8,4,round=up)"), ("fixed(8,4,round=up)", "round"))


@case
def option_of_the_wrong_type(d):
    return Case(with_format("--activations", "minifloat(4,3,subnormals=2)"), ("minifloat(4,3,subnormals=2)",))


@case
def too_many_format_values(d):
    return Case(with_format("--format", "fixed(8,4,2)"), ("fixed(8,4,2)",))


@case
def unknown_mac_precision(d):
    return Case(with_format("--format", "fixed(16)", "--mac", "9x9"), ("9x9",))


@case
def infer_with_a_bad_format(d):
    np.save(d / "x.npy", np.zeros((2, 4), np.float32))
    return Case(["infer", dense_file(d, "fc4", weights(3, 4)), "--input", str(d / "x.npy"), "--out", str(d / "y.npy"),
                 "--format", "pow2(5)"], ("pow2(5)",))


# ---- output paths -------------------------------------------------------------------------------------------

@case
def csv_under_a_file(d):
    (d / "afile").write_text("x")
    return Case(run_with(EYERISS) + ["--csv", str(d / "afile" / "out.csv")], ("afile", "not a directory"))


@case
def csv_under_proc(d):
    return Case(run_with(EYERISS) + ["--csv", "/proc/accelsim-out.csv"], ("/proc/accelsim-out.csv",))


@case
def csv_onto_a_directory(d):
    (d / "outdir").mkdir()
    return Case(run_with(EYERISS) + ["--csv", str(d / "outdir")], ("outdir", "directory"))


@case
def trace_under_a_file(d):
    (d / "afile").write_text("x")
    return Case(run_with(EYERISS) + ["--trace", str(d / "afile" / "t.json")], ("afile",))


@case
def plot_with_an_unknown_extension(d):  # issue 11: matplotlib's error after the whole simulation
    return Case(run_with(EYERISS) + ["--plot", str(d / "x.xyz"), "--csv", str(d / "t.csv")], ("x.xyz", "png"))


@case
def plot_without_an_extension(d):
    return Case(run_with(EYERISS) + ["--plot", str(d / "energy")], ("energy", "--plot"))


@case
def compare_plot_with_an_unknown_extension(d):
    return Case(["compare", IC, "--arch", EYERISS, "--plot", str(d / "c.doc")], ("c.doc",))


@case
def infer_out_onto_a_directory(d):
    np.save(d / "x.npy", np.zeros((2, 4), np.float32))
    (d / "y.npy").mkdir()
    return Case(["infer", dense_file(d, "fc4", weights(3, 4)), "--input", str(d / "x.npy"), "--out",
                 str(d / "y.npy")], ("y.npy", "directory"))


# ---- command lines ------------------------------------------------------------------------------------------

@case
def no_command(d):
    return Case([], ("COMMAND",), code=2)


@case
def unknown_command(d):
    return Case(["simulate", IC], ("simulate",), code=2)


@case
def run_without_arch(d):  # issue 11: argparse's 5-line usage block
    return Case(["run", IC], ("run", "--arch"), code=2)


@case
def bad_objective(d):
    return Case(run_with(EYERISS) + ["--objective", "speed"], ("--objective", "speed"), code=2)


@case
def unknown_option(d):
    return Case(run_with(EYERISS) + ["--frobnicate"], ("--frobnicate",), code=2)


@case
def density_not_a_number(d):
    return Case(run_with(EYERISS) + ["--density", "half"], ("--density", "half"), code=2)


@case
def density_out_of_range(d):
    return Case(run_with(EYERISS) + ["--density", "2"], ("--density",))


@case
def dataflow_the_family_lacks(d):
    return Case(run_with(EYERISS) + ["--dataflow", "nfu"], ("eyeriss.yaml", "nfu"))


@case
def compare_dataflow_no_arch_supports(d):  # issue 11: silently ran rs
    return Case(["compare", IC, "--arch", EYERISS, "--dataflow", "xyz"], ("--dataflow xyz", "rs"))


@case
def mapping_for_a_layer_that_is_not_there(d):
    (d / "map.yaml").write_text("nolayer:\n  global_buffer: {temporal: [[K, 4]]}\n")
    return Case(run_with(EYERISS) + ["--mapping", str(d / "map.yaml")], ("map.yaml", "nolayer"))


def _files(d: Path) -> set:
    return {p.relative_to(d) for p in d.rglob("*")}


@pytest.mark.parametrize("make", CASES, ids=[f.__name__ for f in CASES])
def test_bad_input_gets_one_clear_line(make, tmp_path, capsys):
    c = make(tmp_path)
    before = _files(tmp_path)
    capsys.readouterr()
    code = main(c.argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == c.code, err
    assert 1 <= len(lines) <= 2 and lines[0].startswith("accelsim: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    for name in c.names:
        assert name in err, f"{name!r} not named in {err!r}"
    assert _files(tmp_path) == before, "a file of the failed run was left behind"


def test_the_corpus_covers_every_class_of_issue_11():
    assert len(CASES) >= 60


@pytest.fixture
def tiny(tmp_path_factory):
    """A one-conv model that simulates in a blink: for the cases that must get past the simulation."""
    return conv_file(tmp_path_factory.mktemp("tiny"), "tiny", weights(2, 1, 3, 3), [1, 1, 8, 8])


def test_a_failure_after_the_simulation_leaves_no_output(tiny, tmp_path, capsys, monkeypatch):
    """csv and trace are written, then the plot fails: none of the three files appears."""
    import accelsim.report as report

    def broken_plot(results, path):
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(report, "write_plot", broken_plot)
    outs = [tmp_path / "t.csv", tmp_path / "t.json", tmp_path / "e.png"]
    assert main(["run", tiny, "--arch", EYERISS, "--csv", str(outs[0]), "--trace", str(outs[1]),
                 "--plot", str(outs[2])]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_outputs_follow_the_umask(tiny, tmp_path, capsys):
    old = os.umask(0o027)  # neither mkstemp's 0600 nor the common 0644
    try:
        assert main(["run", tiny, "--arch", EYERISS, "--csv", str(tmp_path / "t.csv")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "t.csv").stat().st_mode & 0o777 == 0o640


def test_version_and_help(capsys):
    from accelsim import __version__
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"accelsim {__version__}"
    assert main(["run", "--help"]) == 0
    assert "--arch" in capsys.readouterr().out


def test_progress_bar_over_layers_when_asked(tiny, capsys):
    assert main(["run", tiny, "--arch", EYERISS, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "run eyeriss" in err and "1/1" in err


def test_plot_formats_are_ones_matplotlib_writes():
    from matplotlib.figure import Figure

    from accelsim.report import PLOT_FORMATS
    assert set(PLOT_FORMATS) <= set(Figure().canvas.get_supported_filetypes())


def test_console_script_exit_code_and_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "accelsim", "run", IC, "--objective", "speed", "--arch", EYERISS],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--objective" in p.stderr


def test_interrupt_a_library_reports_as_its_own_error_is_still_an_interrupt(monkeypatch, capsys):
    """numpy's C core, interrupted while it imports, drops the KeyboardInterrupt and raises an ImportError of its
    own (one run in 8 of the test below, in a new venv): after a SIGINT, an error is still "interrupted", 130."""
    from accelsim.cli import info

    def interrupted_import(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # C code clears the error, and reports its own:
        raise ImportError('PyCapsule_Import could not import module "datetime"')

    monkeypatch.setattr(info, "main", interrupted_import)
    assert main(["info", IC]) == 130
    assert capsys.readouterr().err == "accelsim: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI's handler is gone again


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see the imports happen")
def test_interrupt_while_importing_is_one_line(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "accelsim", "run", IC, "--arch", EYERISS, "--csv",
                          str(tmp_path / "t.csv")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{p.pid}/maps")
    deadline = time.monotonic() + 30
    while "numpy" not in maps.read_text() and time.monotonic() < deadline:  # main() is importing the command's needs
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "accelsim: interrupted\n"
    assert list(tmp_path.iterdir()) == []
