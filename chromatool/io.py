"""Writing outputs: atomic, never overwriting unless asked, every array with its feature rate.

A ``.npy`` output gets a sidecar ``.json`` (same stem) with the feature rate and parameters; a
``.npz`` holds the array as ``data`` plus ``feature_rate`` and the metadata as a JSON string.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import OutputError, ParameterError


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def check_writable(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Raise if ``path`` exists and ``overwrite`` is false; create its folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists (overwrite=True replaces it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o777)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot create folder ({exc.strerror})") from exc
    return path


def _file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike, write, *, mode: str = "wb") -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place.
    The file gets the mode the umask gives (as ``open()`` would), not the temporary's 0600."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # a full disk, a vanished folder: a per-file failure
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        raise


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool) -> Path:
    path = check_writable(path, overwrite=overwrite)
    atomic_write(path, lambda f: f.write(text), mode="w")
    return path


def save_array(path: str | os.PathLike, data: np.ndarray, metadata: dict[str, Any], *,
               overwrite: bool = False, fmt: str | None = None) -> list[Path]:
    """Save an array with its metadata (which must hold ``feature_rate``).

    ``fmt`` is "npy" or "npz"; by default taken from the extension (``.npz`` → npz, else npy).
    Returns the paths written.
    """
    if "feature_rate" not in metadata:
        raise ParameterError("metadata must hold the feature rate")
    path = Path(path)
    fmt = fmt or ("npz" if path.suffix.lower() == ".npz" else "npy")
    if fmt not in ("npy", "npz"):
        raise ParameterError(f"unknown array format {fmt!r}; choose npy or npz")
    if path.suffix.lower() not in (".npy", ".npz"):
        path = path.with_name(f"{path.name}.{fmt}")
    elif path.suffix.lower() != f".{fmt}":
        path = path.with_suffix(f".{fmt}")
    meta_json = json.dumps(metadata, indent=2, sort_keys=True)
    if fmt == "npz":
        check_writable(path, overwrite=overwrite)
        atomic_write(path, lambda f: np.savez(f, data=data,
                                                 feature_rate=np.float64(metadata["feature_rate"]),
                                                 metadata=np.array(meta_json)))
        return [path]
    side = sidecar_path(path)
    check_writable(path, overwrite=overwrite)
    check_writable(side, overwrite=overwrite)
    atomic_write(path, lambda f: np.save(f, data))
    atomic_write(side, lambda f: f.write(meta_json + "\n"), mode="w")
    return [path, side]


def load_array(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Load an array written by :func:`save_array` with its metadata."""
    path = Path(path)
    if not path.exists():
        raise OutputError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return z["data"], json.loads(str(z["metadata"]))
    data = np.load(path, allow_pickle=False)
    side = sidecar_path(path)
    meta = json.loads(side.read_text()) if side.exists() else {}
    return data, meta


def collect_files(paths: Iterable[str | os.PathLike], extensions: tuple[str, ...], *,
                  what: str = "input") -> list[tuple[Path, Path]]:
    """Files named directly, and files with one of ``extensions`` found recursively in folders.

    Returns (file, root) pairs, where root is the folder the file was found under (or the file
    itself when named directly), so outputs can mirror the input tree.
    """
    from .errors import ChromatoolError

    out: list[tuple[Path, Path]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*")
                           if f.is_file() and f.suffix.lower() in extensions
                           and not f.name.startswith("."))
            out.extend((f, p) for f in found)
        elif p.exists():
            out.append((p, p))
        else:
            raise ChromatoolError(f"{p}: no such file or folder")
    return out


def mirrored_outputs(files: list[tuple[Path, Path]], out_dir: Path, suffix: str) -> list[Path]:
    """One output per (file, root) pair of :func:`collect_files`: ``out_dir`` / the file's path
    relative to the common parent of all the roots (a folder given, or the folder of a file
    given), with ``suffix``. Two inputs never share an output: ``a/x.wav b/x.wav`` go to
    ``out/a/x`` and ``out/b/x``; a collision that remains (``x.wav`` and ``x.flac``) or an
    output that is one of the inputs raises before any work starts."""
    if not files:
        return []
    bases = [os.path.abspath(r if r.is_dir() else r.parent) for _, r in files]
    common = os.path.commonpath(bases)
    outs = [out_dir / Path(os.path.relpath(os.path.abspath(f), common)).with_suffix(suffix) for f, _ in files]
    check_distinct([f for f, _ in files], outs)
    return outs


def check_distinct(inputs: list[Path], outputs: list[Path]) -> None:
    """Raise when two inputs map to one output, or an output is an input."""
    from .errors import ChromatoolError

    seen: dict[str, Path] = {}
    ins = {os.path.abspath(p) for p in inputs}
    for src, dest in zip(inputs, outputs):
        key = os.path.abspath(dest)
        if key in ins:
            raise ChromatoolError(f"{dest}: the output would replace an input; choose another output")
        if key in seen and seen[key] != src:
            raise ChromatoolError(f"{seen[key]} and {src} would both be written to {dest}; "
                                  "rename one or give them separate runs")
        seen[key] = src


def outputs_of(path: Path, fmt: str) -> list[Path]:
    """The files :func:`save_array` writes for ``path`` in ``fmt`` (the array and its sidecar)."""
    return [path] if fmt == "npz" else [path, sidecar_path(path)]


def read_file_list(source: str, *, null: bool = False) -> list[str]:
    """Paths from a file list (``-``: stdin), one per line or NUL-separated (``find -print0``)."""
    import sys

    from .errors import ChromatoolError

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise ChromatoolError(f"{source}: cannot read the file list ({exc.strerror})") from exc
    items = text.split("\0") if null else text.splitlines()
    return [p for p in (i.strip("\n") if null else i.strip() for i in items) if p]


def read_csv_rows(path: str | os.PathLike, columns: tuple[str, ...], *, what: str) -> list[dict]:
    """Rows of a CSV file that must have (at least) ``columns``; errors name the file."""
    import csv

    from .errors import ChromatoolError

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ChromatoolError(f"{path}: cannot read {what} ({exc.strerror})") from exc
    if not rows or not set(columns) <= set(rows[0]):
        raise ChromatoolError(f"{path}: {what} needs the columns {','.join(columns)}")
    return rows
