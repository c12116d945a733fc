"""Architecture files: YAML -> validated :class:`Arch` (components, energy table, formats), with ``--set`` overrides.

Every check raises :class:`AccelsimError` with one line naming the file, the key and the problem. Keys are a
closed vocabulary (``TOP_KEYS``, ``OPTIONAL_KEYS``, ``PARAMETERS``, ``FORMAT_ROLES``): a misspelt key is an error
with a did-you-mean, not a silently ignored line. A family that reads a new component parameter adds it to
``PARAMETERS``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import AccelsimError, did_you_mean

#: per component kind: the keys it must have (besides ``energy``) and the energy actions it must price
KINDS = {
    "dram": ({"bandwidth", "latency"}, {"read", "write"}),
    "buffer": (set(), {"read", "write"}),
    "spad": (set(), {"read", "write"}),
    "noc": (set(), {"transfer"}),
    "compute": (set(), {"mac", "gated_mac", "idle"}),
    "unit": (set(), set()),
}
TOP_KEYS = ("name", "family", "clock_mhz", "word_bits", "formats", "components")
OPTIONAL_KEYS = ("energy_scale_pj", "layer_pipeline", "analog")  # analog: checked by accelsim.arch.array.ArrayConfig
#: component parameters any family reads -> what they must be
PARAMETERS = {
    **dict.fromkeys(("size_kb", "size_words", "size_bytes", "word_bits", "bandwidth", "rows", "cols", "lanes", "tn",
                     "pipeline_stages", "arrays", "weights_per_row", "step_ns", "width_bits"), "positive"),
    **dict.fromkeys(("latency", "pipeline"), "non-negative"),
    "double_buffered": "flag",
    "compression": "mapping",  # tensor (inputs/weights/outputs) -> codec, checked by accelsim.engine.compression
    "gates": "list",           # components whose operand reads a zero operand skips
    "zeros": "mapping",        # tensor (weights/inputs) -> gate | skip | none, checked by accelsim.sparsity
    "sparse_format": "mapping",  # tensor (weights/inputs) -> bitmask | rle | coo | csr, checked by accelsim.sparsity
}
#: operand roles of ``formats`` (inputs = activations, psums = accumulator; mac: seed 004's MAC precision)
FORMAT_ROLES = ("weights", "activations", "inputs", "outputs", "accumulator", "psums", "mac")


@dataclass
class Component:
    """One hardware component: a kind, its parameters (sizes, bandwidth, ...) and its energy per action in pJ."""

    name: str
    kind: str
    params: dict
    energy: dict[str, float]
    word_bits: int

    def get(self, key, default=None):
        return self.params.get(key, default)

    @property
    def size_words(self) -> int | None:
        """Capacity in words of this component's width (``size_words``, ``size_kb`` or ``size_bytes``)."""
        p = self.params
        if "size_words" in p:
            return int(p["size_words"])
        if "size_kb" in p:
            return int(p["size_kb"] * 1024 * 8 // self.word_bits)
        if "size_bytes" in p:
            return int(p["size_bytes"] * 8 // self.word_bits)
        return None


@dataclass
class Arch:
    """A loaded architecture file. ``raw`` keeps the YAML tree (after overrides) for reports and family models."""

    name: str
    family: str
    path: str
    clock_mhz: float
    word_bits: int
    formats: dict[str, str]
    components: dict[str, Component]
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def energy_table(self) -> dict[str, dict[str, float]]:
        """{component: {action: pJ}}: what energy = Σ counts × table multiplies with."""
        return {n: dict(c.energy) for n, c in self.components.items() if c.energy}

    def __getitem__(self, name) -> Component:
        return self.components[name]

    def error(self, key: str, problem: str) -> AccelsimError:
        return AccelsimError(f"{self.path}: {key}: {problem}")

    def component(self, name: str, kind: str | None = None) -> Component:
        """The named component, checked to exist (and to be of ``kind``)."""
        comp = self.components.get(name)
        if comp is None:
            raise self.error(f"components.{name}", f"missing (the {self.family} family needs it)")
        if kind and comp.kind != kind:
            raise self.error(f"components.{name}.kind", f"must be '{kind}', not '{comp.kind}'")
        return comp

    def number(self, comp: str, key: str, *, integer=False, minimum=0.0, default=None, strict=True):
        """A numeric parameter of a component, checked (positive by default)."""
        value = self.component(comp).params.get(key, default)
        where = f"components.{comp}.{key}"
        if value is None:
            raise self.error(where, "missing")
        return _check_number(self, where, value, integer=integer, minimum=minimum, strict=strict)


def _check_number(arch_or_path, where, value, *, integer=False, minimum=0.0, strict=True):
    path = arch_or_path.path if isinstance(arch_or_path, Arch) else arch_or_path
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AccelsimError(f"{path}: {where}: must be a finite number, got {value!r}")
    if integer and value != int(value):
        raise AccelsimError(f"{path}: {where}: must be an integer, got {value!r}")
    if value < minimum or (strict and value == minimum and minimum == 0):
        raise AccelsimError(f"{path}: {where}: must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return int(value) if integer else value


def _dotted_keys(node, prefix=""):
    for k, v in node.items():
        yield prefix + str(k)
        if isinstance(v, dict):
            yield from _dotted_keys(v, f"{prefix}{k}.")


def apply_override(raw: dict, assignment: str, path: str) -> None:
    """Apply one ``KEY=VALUE`` (dotted key; a component's keys may omit the ``components.`` prefix). The value is
    YAML and must be of the kind the file has there (a number for a number, a word for a word...)."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise AccelsimError(f"--set {assignment}: expected KEY=VALUE, e.g. global_buffer.size_kb=64")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AccelsimError(f"--set {key}: value '{text}' is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    parts = key.split(".")
    for candidate in (parts, ["components", *parts]):
        node = raw
        for part in candidate[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and candidate[-1] in node:
            _check_same_kind(path, key, node[candidate[-1]], value)
            node[candidate[-1]] = value
            return
    known = [k for k in _dotted_keys(raw) if not k.startswith("components.")] + \
        list(_dotted_keys(raw.get("components") or {}))
    raise AccelsimError(f"{path}: --set {key}: no such key in the architecture file{did_you_mean(key, known)}")


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "word", dict: "mapping", list: "list"}.get(type(value), type(value).__name__)


def _check_same_kind(path, key, old, new) -> None:
    if old is not None and _kind(old) != _kind(new):
        raise AccelsimError(f"{path}: --set {key}: must be a {_kind(old)} (the file has {old!r}), got {new!r}")


def parse_arch(raw, path: str) -> Arch:
    """Validate a YAML tree into an :class:`Arch` (generic checks; the family model adds its own)."""
    if not isinstance(raw, dict):
        raise AccelsimError(f"{path}: not a YAML mapping")
    _known_keys(path, "", raw, TOP_KEYS + OPTIONAL_KEYS)
    for key in TOP_KEYS:
        if key not in raw:
            raise AccelsimError(f"{path}: {key}: missing")
    clock = _check_number(path, "clock_mhz", raw["clock_mhz"])
    word_bits = _check_number(path, "word_bits", raw["word_bits"], integer=True)
    scale = _check_number(path, "energy_scale_pj", raw.get("energy_scale_pj", 1.0))
    formats = raw["formats"]
    if not isinstance(formats, dict) or not all(isinstance(v, str) for v in formats.values()):
        raise AccelsimError(f"{path}: formats: must map operands to format strings, e.g. weights: fixed(16,8)")
    _known_keys(path, "formats.", formats, FORMAT_ROLES)
    _check_formats(path, formats)
    if not isinstance(raw["components"], dict) or not raw["components"]:
        raise AccelsimError(f"{path}: components: must be a non-empty mapping")
    comps = {}
    for name, spec in raw["components"].items():
        where = f"components.{name}"
        if not isinstance(spec, dict):
            raise AccelsimError(f"{path}: {where}: must be a mapping")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise AccelsimError(f"{path}: {where}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
        required, actions = KINDS[kind]
        for key in sorted(required):
            if key not in spec:
                raise AccelsimError(f"{path}: {where}.{key}: missing")
        params = {k: v for k, v in spec.items() if k not in ("kind", "energy")}
        _known_keys(path, f"{where}.", params, PARAMETERS)
        for key, value in params.items():
            kind_of = PARAMETERS[key]
            if kind_of == "flag":
                if not isinstance(value, bool):
                    raise AccelsimError(f"{path}: {where}.{key}: must be true or false, got {value!r}")
            elif kind_of == "mapping":
                if not isinstance(value, dict):
                    raise AccelsimError(f"{path}: {where}.{key}: must be a mapping, got {value!r}")
            elif kind_of == "list":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise AccelsimError(f"{path}: {where}.{key}: must be a list of component names, got {value!r}")
            else:
                _check_number(path, f"{where}.{key}", value, strict=kind_of == "positive")
        energy = spec.get("energy", {})
        if not isinstance(energy, dict):
            raise AccelsimError(f"{path}: {where}.energy: must map actions to pJ")
        for action in sorted(actions):
            if action not in energy:
                raise AccelsimError(f"{path}: {where}.energy.{action}: missing")
        energy = {a: _check_number(path, f"{where}.energy.{a}", e, strict=False) * scale for a, e in energy.items()}
        comps[name] = Component(name, kind, params, energy, int(spec.get("word_bits", word_bits)))
    for name, comp in comps.items():
        if comp.kind in ("buffer", "spad") and comp.size_words is None:
            raise AccelsimError(f"{path}: components.{name}.size_kb: missing (or size_words / size_bytes)")
    return Arch(str(raw["name"]), str(raw["family"]), path, clock, word_bits, dict(formats), comps, raw)


def _known_keys(path, where, node: dict, known) -> None:
    for key in node:
        if key not in known:
            hint = did_you_mean(str(key), known) or f" (known: {', '.join(known)})"
            raise AccelsimError(f"{path}: {where}{key}: unknown key{hint}")


def _check_formats(path, formats) -> None:
    """Every operand's format parses (the multi-precision MAC's precision is checked where it is used)."""
    from ..formats import parse

    for role, text in formats.items():
        if role != "mac":
            try:
                parse(text)
            except AccelsimError as exc:
                raise AccelsimError(f"{path}: formats.{role}: {exc}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise AccelsimError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise AccelsimError(f"{path}: not a text (YAML) file") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise AccelsimError(f"{path}: {where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
