"""Describing the machine and the installed versions, for reports and benchmark results."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

__all__ = ["machine_info", "machine_lines", "package_versions"]

_PACKAGES = (
    "cnnedge",
    "numpy",
    "onnxruntime",
    "opencv-python-headless",
    "opencv-python",
    "onnx",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "ai-edge-litert",
)
# Instruction-set flags that decide which kernels onnxruntime / TFLite pick.
_INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "i8mm",
    "sve",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter to results (absent ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, Any]:
    """CPU model, core count, instruction-set flags, memory and OS."""
    cpu_model, flags = _cpuinfo()
    return {
        "cpu": cpu_model or platform.processor() or platform.machine(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "isa_flags": [f for f in _INTERESTING_FLAGS if f in flags],
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
    }


def machine_lines(machine: dict[str, Any], versions: dict[str, str]) -> list[str]:
    """The two lines every results file starts with: the machine, then the versions."""
    return [
        f"Machine: {machine.get('cpu')} ({machine.get('cores')} cores, {machine.get('arch')}), "
        f"{machine.get('os')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
    ]


def _cpuinfo() -> tuple[str | None, set[str]]:
    model: str | None = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and model is None:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)
