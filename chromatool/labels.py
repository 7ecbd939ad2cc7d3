"""Note label files: chromatool's CSV (seconds, beats) and MusicNet's (44.1 kHz samples).

``align`` writes them, ``train`` and ``evaluate pitch`` read them (as does MusicNet's own
release, whose columns ``read_labels`` accepts).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .errors import ChromatoolError, ParameterError
from .score import NoteList

#: Columns of chromatool's label CSV, and of MusicNet's.
LABEL_COLUMNS = ("start_time", "end_time", "instrument", "note", "start_beat", "end_beat",
                 "measure", "note_value")
MUSICNET_COLUMNS = ("start_sample", "end_sample", "instrument_id", "midi_note", "measure", "beat",
                    "note_value")
MUSICNET_RATE = 44100
#: Label formats ``labels_csv`` writes.
LABEL_FORMATS: tuple[str, ...] = ("chromatool", "musicnet")


def _beat_in_measure(notes: NoteList) -> np.ndarray:
    """Onset position within its measure as a fraction of the measure (MusicNet's ``beat``); NaN
    where the notes carry no beat positions."""
    beat = np.zeros(len(notes))
    if not len(notes) or np.all(notes.measure < 0):
        return beat
    measures = np.unique(notes.measure)
    starts = {m: notes.onset_beat[notes.measure == m].min() for m in measures}
    for i, m in enumerate(measures):
        nxt = starts[measures[i + 1]] if i + 1 < len(measures) else None
        sel = notes.measure == m
        length = (nxt - starts[m]) if nxt is not None and nxt > starts[m] else None
        if length is None:
            prev = [starts[measures[k + 1]] - starts[measures[k]] for k in range(i)]
            length = float(np.median(prev)) if prev else max(1.0, float(notes.offset_beat[sel].max() - starts[m]))
        # no beat positions (labels read from MusicNet samples): the position is unknown
        beat[sel] = (notes.onset_beat[sel] - starts[m]) / length if length > 0 else np.nan
    return beat


def labels_csv(notes: NoteList, *, fmt: str = "chromatool") -> str:
    """Note labels as CSV text: chromatool's columns (seconds) or MusicNet's (44.1 kHz samples)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if fmt == "musicnet":
        w.writerow(MUSICNET_COLUMNS)
        beat = _beat_in_measure(notes)
        for i in np.argsort(notes.onset, kind="stable"):
            w.writerow([int(round(notes.onset[i] * MUSICNET_RATE)), int(round(notes.offset[i] * MUSICNET_RATE)),
                        int(notes.program[i]) + 1 if notes.program[i] >= 0 else 1, int(notes.pitch[i]),
                        int(notes.measure[i]), f"{beat[i]:.6f}", notes.note_value[i]])
    elif fmt == "chromatool":
        w.writerow(LABEL_COLUMNS)
        for i in np.argsort(notes.onset, kind="stable"):
            part = int(notes.part[i])
            inst = notes.part_names[part] if part < len(notes.part_names) else str(part)
            inst = " ".join(inst.split())  # score part names may hold line breaks (e.g. "Bass\rContinuo")
            w.writerow([f"{notes.onset[i]:.4f}", f"{notes.offset[i]:.4f}", inst, int(notes.pitch[i]),
                        f"{notes.onset_beat[i]:.4f}", f"{notes.offset_beat[i]:.4f}",
                        int(notes.measure[i]), notes.note_value[i]])
    else:
        raise ParameterError(f"fmt={fmt!r} is unknown; choose one of {', '.join(LABEL_FORMATS)}")
    return buf.getvalue()


def read_labels(path: str | Path) -> NoteList:
    """Read a label file written by :func:`labels_csv` (either format) or by MusicNet."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ChromatoolError(f"{path}: cannot read labels ({exc.strerror})") from exc
    if not rows:
        raise ChromatoolError(f"{path}: no notes")
    cols = set(rows[0])
    from .score import _from_rows

    out = []
    parts: dict[str, int] = {}  # one part per instrument, in order of appearance
    try:
        if set(MUSICNET_COLUMNS) <= cols:
            for r in rows:
                part = parts.setdefault(r["instrument_id"], len(parts))
                out.append((int(r["start_sample"]) / MUSICNET_RATE, int(r["end_sample"]) / MUSICNET_RATE,
                            int(r["midi_note"]), 0.0, 0.0, 64, part, int(r["instrument_id"]) - 1,
                            int(r["measure"]), r["note_value"]))
        elif set(LABEL_COLUMNS) <= cols:
            for r in rows:
                part = parts.setdefault(r["instrument"], len(parts))
                out.append((float(r["start_time"]), float(r["end_time"]), int(r["note"]),
                            float(r["start_beat"]), float(r["end_beat"]), 64, part, -1,
                            int(r["measure"]), r["note_value"]))
        else:
            raise ChromatoolError(f"{path}: not a label file (columns {', '.join(sorted(cols))})")
    except (ValueError, KeyError) as exc:
        raise ChromatoolError(f"{path}: malformed label row ({exc})") from None
    return _from_rows(out, source=str(path), part_names=tuple(parts))
