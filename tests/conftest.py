"""Shared fixtures: workloads are built on demand, so a clean checkout runs every test."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/onnx_builders.py, tests/sim_helpers.py
os.environ.setdefault("ACCELSIM_CACHE", "off")  # every test searches its mappings: nothing from earlier runs

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ROOT / "workloads"


def _build_module():
    spec = importlib.util.spec_from_file_location("workloads_build", WORKLOADS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_script():
    """workloads/build.py as a module (its builders, e.g. the onnx.helper twins of the exported transformers)."""
    return _build_module()


@pytest.fixture(scope="session")
def workload():
    """workload(name) -> path of workloads/<name>.onnx, built first if missing."""
    build = _build_module().build
    return lambda name: build([name], WORKLOADS)[name]


@pytest.fixture(scope="session")
def trained():
    """trained(name) -> path of workloads/trained/<name>.onnx (committed; made by workloads/train.py)."""
    def path(name):
        p = WORKLOADS / "trained" / f"{name}.onnx"
        if not p.exists():
            pytest.skip(f"{p} is missing: run python workloads/train.py")
        return p
    return path
