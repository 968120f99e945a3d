"""The recorded CPU identity: the model name and only the instruction-set flags that select float kernels."""

from __future__ import annotations

from pathlib import Path

from invarlock.adapters.cpu_identity import cpu_identity
from invarlock.adapters.environment import runtime_environment

XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 hypervisor

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 hypervisor
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve
CPU implementer\t: 0x41
"""


def test_the_model_and_the_kernel_selecting_flags_in_a_fixed_order(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(XEON)
    assert cpu_identity(info) == "Intel(R) Xeon(R) Processor; sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile amx_bf16"


def test_an_arm_cpuinfo_without_a_model_name_keeps_its_features(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(GRAVITON)
    assert cpu_identity(info).endswith("; asimd sve")


def test_without_cpuinfo_the_platform_says_what_it_can(tmp_path: Path) -> None:
    assert cpu_identity(tmp_path / "absent")


def test_the_run_environment_records_this_machines_cpu() -> None:
    assert runtime_environment()["cpu"] == cpu_identity()
