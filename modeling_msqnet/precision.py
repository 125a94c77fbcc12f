"""The compute precision of inference commands, chosen per machine (`--dtype auto`) or by the user."""

import functools

import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
# CPU flags (as in /proc/cpuinfo) of native bfloat16 matrix instructions; without them bfloat16 is emulated, slower
# than float32.
NATIVE_BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The flags of this machine's first CPU, from `/proc/cpuinfo` (empty where the file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX)."""
    return any(flag in cpu_flags() for flag in NATIVE_BFLOAT16_CPU_FLAGS)


def device_supports_bfloat16(device: str | torch.device) -> bool:
    """Whether bfloat16 is fast on `device`: a CUDA GPU that supports it, or a CPU with native bfloat16."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bfloat16()


def resolve_dtype(name: str, device: str | torch.device = "cpu") -> torch.dtype:
    """
    The `torch.dtype` a command runs in for `--dtype name`: `"auto"` is bfloat16 where `device` computes it natively
    and float32 elsewhere; any other name is taken as given. The choice is logged once.
    """
    if name not in DTYPE_CHOICES:
        raise ValueError(f"`--dtype` must be one of {DTYPE_CHOICES}, got {name!r}.")
    if name == "auto":
        dtype = torch.bfloat16 if device_supports_bfloat16(device) else torch.float32
        reason = "native bfloat16" if dtype == torch.bfloat16 else "no native bfloat16"
        logger.info(f"--dtype auto: running in {dtype} on {torch.device(device)} ({reason}); override with --dtype.")
        return dtype
    return getattr(torch, name)


def apply_dtype(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """
    Run a loaded model in `dtype`, the one way every command does it: its weights are cast to `dtype` (bfloat16
    weights need no per-call weight casts, unlike autocast, and halve the memory; the model still takes float32
    frames and its logits are cast back to float32 by the callers that read them). Float32 leaves the model as loaded.
    Returns the model (cast in place).
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"`dtype` must be a floating point `torch.dtype`, got {dtype!r}.")
    return model.to(dtype)


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """
    A copy of a float32 CPU model whose `nn.Linear` layers hold int8 weights (PyTorch dynamic quantisation: weights
    quantised per tensor once, activations per call; int8 matrix products use VNNI where the CPU has it). Everything
    else (attention products, convolutions, norms) stays float32.
    """
    from torch.ao.quantization import quantize_dynamic

    if next(model.parameters()).dtype != torch.float32:
        raise ValueError("int8 quantisation starts from float32 weights; load the model in float32.")
    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
