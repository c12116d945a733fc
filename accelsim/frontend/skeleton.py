"""Read an ONNX file without the values of its large initializers (shapes-only loading, for the timing path).

``onnx.load`` parses every weight into memory and lowering copies them (VGG-16's 553 MB file peaked at 1.7 GB),
yet cycles and energy need only shapes. So the protobuf wire format is walked over a memory map: ModelProto.graph
(field 7) -> GraphProto.initializer (field 5) -> TensorProto. A tensor of more than ``SMALL`` elements is left out
and declared a graph input of its shape and type instead, which onnx's checker, version converter and shape
inference take as they are; small tensors (shapes, pads, scales) keep the values lowering reads. Each stripped
tensor is reported with where its bytes are, so that its finite entries can be counted without holding it (a SAM
layer's kept parameters).
"""
from __future__ import annotations

import mmap
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper, helper

SMALL = 4096  # elements: initializers up to this size keep their values
DATA_FIELDS = {4, 5, 6, 7, 9, 10, 11}  # float, int32, string, int64, raw, double, uint64 data
CONTIGUOUS = {4, 9, 10}  # packed float/double data and raw_data: the values' little-endian bytes, in order


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class Stripped:
    """A tensor read without its values: shape, ONNX element type, and where its bytes lie (file, offset, length),
    None when they are not one contiguous run of little-endian values."""

    shape: tuple[int, ...]
    elem_type: int
    source: tuple[str, int, int] | None

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(helper.tensor_dtype_to_np_dtype(self.elem_type))

    def count_finite(self, chunk: int = 1 << 22) -> int | None:
        """Finite entries, read a chunk at a time (None when the bytes cannot be read)."""
        if self.source is None or self.dtype.kind != "f":
            return None
        path, offset, length = self.source
        total = 0
        with open(path, "rb") as f:
            f.seek(offset)
            for start in range(0, length, chunk * self.dtype.itemsize):
                part = f.read(min(chunk * self.dtype.itemsize, length - start))
                total += int(np.isfinite(np.frombuffer(part, self.dtype.newbyteorder("<"))).sum())
        return total


def read(path: Path) -> tuple[onnx.ModelProto, dict[str, Stripped]]:
    """(the model with its large initializers stripped of their values, {name: Stripped})."""
    stripped: dict[str, Stripped] = {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        out = bytearray()
        for field, wire, start, end, head in _fields(buf, 0, len(buf)):
            if field == 7 and wire == 2:
                out += _wrap(7, _strip_graph(buf, start, end, str(path), stripped))
            else:
                out += buf[head:end]
    model = onnx.ModelProto()
    model.ParseFromString(bytes(out))
    graph = model.graph
    for t in graph.initializer:  # tensors the file itself keeps in side files: small ones loaded, large ones stripped
        if t.data_location == onnx.TensorProto.EXTERNAL:
            if prod(t.dims) <= SMALL:
                external_data_helper.load_external_data_for_tensor(t, str(path.parent))
                t.data_location = onnx.TensorProto.DEFAULT
            else:
                info = external_data_helper.ExternalDataInfo(t)
                length = info.length or prod(t.dims) * np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
                stripped[t.name] = Stripped(tuple(t.dims), t.data_type,
                                            (str(path.parent / info.location), info.offset or 0, length))
    kept = [t for t in graph.initializer if t.name not in stripped]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    declared = {i.name for i in graph.input}
    graph.input.extend(helper.make_tensor_value_info(name, t.elem_type, t.shape)
                       for name, t in stripped.items() if name not in declared)
    return model, stripped


def _strip_graph(buf, start, end, path, stripped) -> bytes:
    out = bytearray()
    for field, wire, s, e, head in _fields(buf, start, end):
        out += _strip_tensor(buf, head, s, e, path, stripped) if field == 5 and wire == 2 else buf[head:e]
    return bytes(out)


def _strip_tensor(buf, head, start, end, path, stripped) -> bytes:
    """The tensor's bytes as they are, or nothing (it is recorded in ``stripped``) when it is large."""
    dims, data_type, name, data, external = [], 0, "", None, False
    for field, wire, s, e, _ in _fields(buf, start, end):
        if field == 1:
            dims += _packed(buf, s, e) if wire == 2 else [_varint(buf, s)[0]]
        elif field == 2:
            data_type = _varint(buf, s)[0]
        elif field == 8:
            name = bytes(buf[s:e]).decode("utf-8", "replace")
        elif field == 14:
            external = _varint(buf, s)[0] == onnx.TensorProto.EXTERNAL
        elif field in DATA_FIELDS:
            data = (s, e) if field in CONTIGUOUS and wire == 2 else None
    if external or prod(dims) <= SMALL:
        return buf[head:end]
    stripped[name] = Stripped(tuple(dims), data_type, None if data is None else (path, data[0], data[1] - data[0]))
    return b""


# ---- protobuf wire format ------------------------------------------------------------------------------------

def _varint(buf, pos) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _packed(buf, start, end) -> list[int]:
    values, pos = [], start
    while pos < end:
        v, pos = _varint(buf, pos)
        values.append(v)
    return values


def _fields(buf, start, end):
    """(field number, wire type, value start, value end, field start) of each field of buf[start:end]."""
    pos = start
    while pos < end:
        head = pos
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            vstart, (_, pos) = pos, _varint(buf, pos)
        elif wire == 1:
            vstart, pos = pos, pos + 8
        elif wire == 2:
            n, vstart = _varint(buf, pos)
            pos = vstart + n
        elif wire == 5:
            vstart, pos = pos, pos + 4
        else:
            raise WireError(f"wire type {wire} at byte {head}")
        if field == 0 or pos > end:
            raise WireError(f"malformed or truncated field at byte {head}")
        yield field, wire, vstart, pos, head


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _encode_varint(field << 3 | wire)


def _wrap(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _tag(field, 2) + _encode_varint(len(payload)) + payload
