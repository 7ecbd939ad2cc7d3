"""Decode one recording and compute its network input in a forked process while this process
imports torch.

``import torch`` takes 1.3–2 s of a whole ``chromatool extract FILE`` command (about 6 s for
ten minutes of audio on two cores); decoding, the tuning estimate and the HCQT need numpy only.
The command therefore forks, before torch is imported, a process that computes
:func:`chromatool.deep.network_input` of its one file and sends the array back through a pipe,
and meanwhile imports torch and loads the model. The result is the same array the command would
compute itself (the same code on the same samples). Only where it cannot go wrong: Linux
(``fork``), torch not yet imported (a fork after it may deadlock in its thread pools), and a CPU
run. Anything else, or a child that fails to start, leaves the work to the task in process.
"""

from __future__ import annotations

import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: Work started for a file: its key (path, feature config, output, tuning) and the pipe's end.
_PENDING: dict[str, tuple[tuple, Any, Any]] = {}


class _NoTensors(pickle.Unpickler):
    """Unpickles a torch checkpoint's plain values, every tensor as None (no torch needed).
    Nothing else is constructed: like ``torch.load(weights_only=True)`` it runs no code a file
    names (any class but an ordered dict is refused, and the task then loads the model itself)."""

    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "torch":
            return lambda *args, **kwargs: None
        if (module, name) == ("collections", "OrderedDict"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not read here")

    def persistent_load(self, pid):
        return None


def checkpoint_features(path: str | Path) -> dict[str, Any] | None:
    """The feature config a chromatool checkpoint stores, read without importing torch (None
    when the file is not one torch's zip format holds)."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            ck = _NoTensors(z.open(name)).load()
        return dict(ck["features"]) if isinstance(ck, dict) and isinstance(ck.get("features"), dict) else None
    except Exception:  # noqa: BLE001 - any unreadable file: the task loads the model itself
        return None


def _key(src: Path, features: dict, output: str, tuning) -> tuple:
    return str(Path(src).resolve()), repr(sorted(features.items())), output, repr(tuning)


def start_input(src: Path, model: str | None, *, output: str, tuning: str | float, device: str) -> bool:
    """Start computing ``src``'s network input for ``model`` in a forked process; whether it was
    started (see the module's conditions)."""
    import multiprocessing as mp

    if device != "cpu" or "torch" in sys.modules or not sys.platform.startswith("linux") \
            or "fork" not in mp.get_all_start_methods():
        return False
    from .deep import resolve_model
    from .errors import ChromatoolError

    try:
        features = checkpoint_features(resolve_model(model, output))
    except ChromatoolError:  # the model is not there: loading it says so
        return False
    if not features:
        return False
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, Path(src), features, output, tuning), daemon=True)
    try:
        proc.start()
    except OSError:
        return False
    send.close()
    _PENDING[str(Path(src).resolve())] = (_key(src, features, output, tuning), receive, proc)
    return True


def _child(conn, src: Path, features: dict, output: str, tuning) -> None:
    from .audio import load_audio
    from .deep import network_input

    try:
        H, cents = network_input(load_audio(src, sr=int(features["sr"])), features, output=output, tuning=tuning)
        H = np.ascontiguousarray(H)
        conn.send((H.shape, H.dtype.str, cents))
        conn.send_bytes(memoryview(H).cast("B"))
    except BaseException as exc:  # the task raises it in the parent, as it would have
        conn.send(exc)
    finally:
        conn.close()


def take_input(src: Path, features: dict, *, output: str, tuning) -> tuple[np.ndarray, float] | None:
    """The network input started for ``src`` with these settings, and the tuning it used; None
    when none was started (or the process died: the caller computes it)."""
    pending = _PENDING.pop(str(Path(src).resolve()), None)
    if pending is None:
        return None
    key, conn, proc = pending
    try:
        if key != _key(src, features, output, tuning):
            proc.terminate()
            return None
        head = conn.recv()
        if isinstance(head, BaseException):
            raise head
        shape, dtype, cents = head
        H = np.empty(shape, np.dtype(dtype))
        conn.recv_bytes_into(memoryview(H).cast("B"))
        return H, float(cents)
    except (EOFError, OSError):
        return None
    finally:
        conn.close()
        proc.join(timeout=5)
