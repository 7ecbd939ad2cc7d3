"""Training manifests: CSV rows → :class:`Item` (a recording with its weak or strong labels),
checked row by row, and the validation split by group (see :mod:`chromatool.training`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import defaults as D
from .errors import ChromatoolError, ParameterError
from .train_config import CONTRASTIVE, LOSSES


class ManifestError(ChromatoolError):
    """A manifest row that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class Item:
    audio: Path
    group: str
    start: float = 0.0  # ctc: excerpt (s)
    end: float = 0.0
    target: tuple[int, ...] = ()  # ctc: chroma labels 0..11 of the theme, transposed
    notes: Any = None  # bce: NoteList in recording time
    piece: str = ""  # versions: the piece this recording is a version of
    timemap: Any = None  # versions: (2, K) score times and their times in this recording (s)


# ---------------------------------------------------------------------------------------------
# manifests


def _rows(path: Path, required: tuple[str, ...]) -> list[dict]:
    from .io import read_csv_rows

    return read_csv_rows(path, required, what="training manifest")


def _file(base: Path, value: str, where: str, what: str) -> Path:
    if not value:
        raise ManifestError(f"{where}: empty {what} path")
    p = Path(value)
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        raise ManifestError(f"{where}: {what} {p} does not exist")
    return p


def theme_target(path: str | Path, transpose: int = 0) -> tuple[int, ...]:
    """The CTC target of a theme: the pitch classes (C=0) of its top voice's notes, in order."""
    from .score import read_score

    notes = read_score(path, melody=True)
    return tuple(int(p) for p in (notes.pitch + int(transpose)) % D.N_CHROMA)


def ctc_fits(n_notes: int, seconds: float) -> bool:
    """Whether a CTC path of ``n_notes`` targets fits an excerpt of ``seconds``: every note
    needs its own frame and a blank or another note between repeats, so at most one per two
    frames."""
    return n_notes <= seconds * D.FEATURE_RATE / 2


def read_manifest(path: str | Path, loss: str) -> list[Item]:
    """Items of a ctc or bce manifest, or of a versions manifest for the contrastive losses;
    every bad row is an error naming it."""
    from .errors import ScoreError

    if loss not in LOSSES:
        raise ParameterError(f"loss={loss!r} is unknown; choose one of {', '.join(LOSSES)}")
    if loss in CONTRASTIVE:
        return read_versions(path)
    path = Path(path)
    base = path.parent
    items: list[Item] = []
    required = ("audio", "start", "end", "theme") if loss == "ctc" else ("audio", "labels")
    for i, r in enumerate(_rows(path, required), start=2):
        where = f"{path}:{i}"
        audio = _file(base, r["audio"], where, "audio")
        group = (r.get("group") or "").strip() or audio.stem
        if loss == "ctc":
            try:
                start, end = float(r["start"]), float(r["end"])
                transpose = int(r.get("transpose") or 0)
            except ValueError as exc:
                raise ManifestError(f"{where}: not a number ({exc})") from None
            if start < 0 or end <= start:
                raise ManifestError(f"{where}: excerpt end {end:g} s is not after start {start:g} s")
            theme = _file(base, r["theme"], where, "theme")
            try:
                target = theme_target(theme, transpose)
            except ScoreError as exc:
                raise ManifestError(f"{where}: {exc}") from None
            if not target:
                raise ManifestError(f"{where}: theme {theme} has no notes")
            if not ctc_fits(len(target), end - start):
                raise ManifestError(f"{where}: {len(target)} theme notes cannot fit a {end - start:.1f} s excerpt")
            items.append(Item(audio, group, start, end, target))
        else:
            from .labels import read_labels

            labels = _file(base, r["labels"], where, "labels")
            try:
                notes = read_labels(labels)
            except ChromatoolError as exc:
                raise ManifestError(f"{where}: {exc}") from None
            items.append(Item(audio, group, notes=notes))
    if not items:
        raise ManifestError(f"{path}: no rows")
    return items


def split_by_group(items: list[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Hold out whole groups (works/composers) for validation (scikit-learn GroupShuffleSplit)."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = [it.group for it in items]
    if len(set(groups)) < 2:
        raise ParameterError("a validation split needs at least two groups (works) in the manifest; "
                             "add a group column or pass --valid")
    gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    tr, va = next(gss.split(np.zeros(len(items)), groups=groups))
    return [items[i] for i in tr], [items[i] for i in va]


def read_versions(path: str | Path) -> list[Item]:
    """Items of a versions manifest (columns ``piece,audio,path[,labels][,group]``): each
    recording with its score-to-audio time map (a CSV ``score_time,audio_time`` as ``chromatool
    dataset --versions`` or ``chromatool align --path`` writes), and its note labels if given."""
    import csv

    path = Path(path)
    base = path.parent
    items: list[Item] = []
    for i, r in enumerate(_rows(path, ("piece", "audio", "path")), start=2):
        where = f"{path}:{i}"
        audio = _file(base, r["audio"], where, "audio")
        tm = _file(base, r["path"], where, "time map")
        try:
            with open(tm, newline="") as f:
                rows = [(float(a["score_time"]), float(a["audio_time"])) for a in csv.DictReader(f)]
        except (KeyError, ValueError, TypeError) as exc:
            raise ManifestError(f"{where}: {tm} is not a score_time,audio_time CSV ({exc})") from None
        timemap = np.array(rows, dtype=np.float64).T.reshape(2, -1)
        if timemap.shape[1] < 2 or np.any(np.diff(timemap[0]) < 0) or np.any(np.diff(timemap[1]) < 0):
            raise ManifestError(f"{where}: the time map {tm} needs two or more rows, both columns non-decreasing")
        notes = None
        if r.get("labels"):
            from .labels import read_labels

            notes = read_labels(_file(base, r["labels"], where, "labels"))
        piece = r["piece"].strip()
        items.append(Item(audio, (r.get("group") or "").strip() or piece, notes=notes, piece=piece,
                          timemap=timemap))
    if not items:
        raise ManifestError(f"{path}: no rows")
    return items
