"""The machine a job ran on (``run_info.yaml``'s ``machine``): the same seed gives other
numbers on another CPU, core count or library version, so a report must not pool seeds
across machines without saying so."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# the instruction sets that change which kernels oneDNN picks (and so the numbers)
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
# what must be equal for two jobs' numbers to be comparable (not the host's name)
FINGERPRINT_KEYS = ("cpu", "cpu_id", "cpu_features", "cores", "threads", "torch", "cuda", "gpu")


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    path = Path("/proc/cpuinfo")
    fields: dict[str, str] = {}
    if not path.is_file():
        return fields
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 0


def machine() -> dict[str, str | int]:
    """CPU model, family/model/stepping, instruction sets, usable cores, torch threads,
    torch and CUDA versions and GPU name: what a seed's numbers depend on."""
    import torch

    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    cpu_id = "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping"))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_id": cpu_id if info else "?",
        "cpu_features": " ".join(f for f in CPU_FEATURES if f in flags),
        "cores": _cores(),
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "cuda": str(torch.version.cuda or "none"),
        "gpu": gpu,
        "host": platform.node(),
    }


def fingerprint(recorded: dict | None) -> str:
    """One comparable string of a recorded machine ("unknown" for jobs run before
    machines were recorded)."""
    if not recorded:
        return "unknown"
    return ", ".join(f"{k}={recorded.get(k, '?')}" for k in FINGERPRINT_KEYS)


def describe(recorded: dict | None) -> str:
    """Short, for tables: CPU, cores × threads, torch (CUDA, GPU)."""
    if not recorded:
        return "unknown (run before machines were recorded)"
    gpu = "" if recorded.get("gpu") in (None, "none") else f", {recorded['gpu']}"
    features = f" [{recorded['cpu_features']}]" if recorded.get("cpu_features") else ""
    threads = recorded.get("threads")
    return (
        f"{recorded.get('cpu')} ({recorded.get('cpu_id')}){features}, {recorded.get('cores')} "
        f"cores, {threads} thread{'' if threads == 1 else 's'}, torch {recorded.get('torch')}, "
        f"CUDA {recorded.get('cuda')}{gpu}"
    )
