"""Choosing the compute device at call time (never at import time)."""

from __future__ import annotations

import os
import sys

from . import defaults as D
from .errors import ParameterError


def _nvidia_present() -> bool:
    """Whether an NVIDIA driver is loaded (its /proc entry or device nodes exist): cheap,
    without importing torch."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0") \
        or os.path.exists("/dev/nvidiactl")


def resolve_device(name: str = "auto") -> str:
    """"auto" → "cuda" when a GPU is visible, else "cpu"; "cuda" without a GPU is an error."""
    if name not in D.DEVICES:
        raise ParameterError(f"unknown device {name!r}; choose one of {', '.join(D.DEVICES)}")
    if name == "cpu":
        return "cpu"
    if name == "auto" and "torch" not in sys.modules and not _nvidia_present():
        return "cpu"  # no GPU driver: no need to import torch (seconds) to learn that
    try:
        import torch
    except ImportError:
        if name == "cuda":
            raise ParameterError("device='cuda': torch is not installed") from None
        return "cpu"
    has_cuda = torch.cuda.is_available()
    if name == "cuda" and not has_cuda:
        raise ParameterError("device='cuda': no CUDA GPU is available (use device='cpu' or device='auto')")
    return "cuda" if has_cuda else "cpu"


def resolve_precision(name: str = D.INFERENCE_PRECISION, device: str = "cpu", model=None) -> str:
    """"auto" → "bfloat16" on a CPU with bfloat16 units (AVX512-BF16 or AMX tiles), else
    "int8" on one with VNNI units (:mod:`chromatool.int8`) where it runs ``model`` (when given),
    else "float32"; the others as given."""
    if name not in D.INFERENCE_PRECISIONS:
        raise ParameterError(f"unknown precision {name!r}; choose one of {', '.join(D.INFERENCE_PRECISIONS)}")
    if name == "int8" and device != "cpu":
        raise ParameterError("precision='int8' runs on the CPU only; use 'float32' or 'bfloat16' on a GPU")
    if name != "auto":
        return name
    if device != "cpu":
        return "float32"
    import torch

    cpu = torch.cpu
    fast = any(getattr(cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    if fast:
        return "bfloat16"
    from .int8 import runs, supported

    return "int8" if supported() and (model is None or runs(model)) else "float32"


def seed_everything(seed: int, device: str = "cpu") -> None:
    """Seed Python's, numpy's and torch's generators; on CUDA also choose deterministic
    kernels (cuDNN's and cuBLAS's), so that one seed gives one model on every device."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read at cuBLAS's first use
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        torch.use_deterministic_algorithms(True, warn_only=True)
