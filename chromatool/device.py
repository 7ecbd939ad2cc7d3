"""Choosing the compute device at call time (never at import time)."""

from __future__ import annotations

from .errors import ParameterError
from . import defaults as D


def resolve_device(name: str = "auto") -> str:
    """"auto" → "cuda" when a GPU is visible, else "cpu"; "cuda" without a GPU is an error."""
    if name not in D.DEVICES:
        raise ParameterError(f"unknown device {name!r}; choose one of {', '.join(D.DEVICES)}")
    if name == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if name == "cuda":
            raise ParameterError("--device cuda: torch is not installed") from None
        return "cpu"
    has_cuda = torch.cuda.is_available()
    if name == "cuda" and not has_cuda:
        raise ParameterError("--device cuda: no CUDA GPU is available (use --device cpu or auto)")
    return "cuda" if has_cuda else "cpu"
