"""Training renders of human performances: piano MIDI with real timing, dynamics and sustain
pedal (ASAP, ../shared/data/asap), played through the same chain as the score renders.

The labels come from the performance MIDI. **The pedal's effect on note ends:** a key released
while the sustain pedal is down (CC 64 ≥ 64) keeps sounding until the pedal comes up, or until
the same key is struck again; the label's offset is that end, as MAESTRO's labels and the
multi-pitch targets of Weiss et al. have it (what sounds is what a multi-pitch model must hear).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import defaults as D
from .errors import ScoreError
from .io import atomic_write
from .score import NoteList, _from_rows

#: The sustain pedal: MIDI controller 64, down from this value on.
PEDAL_CC: int = 64
PEDAL_DOWN: int = 64


def pedal_intervals(times: np.ndarray, values: np.ndarray, end: float) -> list[tuple[float, float]]:
    """(down, up) times of the sustain pedal from its controller events.

    >>> pedal_intervals(np.array([1.0, 2.0, 3.0, 3.5]), np.array([127, 0, 100, 0]), end=10.0)
    [(1.0, 2.0), (3.0, 3.5)]
    """
    out, down = [], None
    for t, v in zip(times, values):
        if v >= PEDAL_DOWN and down is None:
            down = float(t)
        elif v < PEDAL_DOWN and down is not None:
            out.append((down, float(t)))
            down = None
    if down is not None:
        out.append((down, float(end)))
    return out


def sustained_offsets(onset: np.ndarray, offset: np.ndarray, pitch: np.ndarray,
                      pedal: list[tuple[float, float]]) -> np.ndarray:
    """Note ends with the sustain pedal: a key released while the pedal is down sounds until
    the pedal comes up or the same key is struck again.

    >>> sustained_offsets(np.array([0.0, 0.5, 3.0]), np.array([0.4, 0.8, 3.2]), np.array([60, 64, 60]),
    ...                   [(0.3, 2.0)]).tolist()
    [2.0, 2.0, 3.2]
    """
    out = offset.astype(np.float64).copy()
    for i, t in enumerate(offset):
        for down, up in pedal:
            if down <= t < up:
                out[i] = up
                break
    for p in np.unique(pitch):  # a key struck again cuts the sustained note
        idx = np.flatnonzero(pitch == p)
        idx = idx[np.argsort(onset[idx], kind="stable")]
        for a, b in zip(idx[:-1], idx[1:]):
            out[a] = min(out[a], max(onset[b], offset[a]))
    return np.maximum(out, offset)


def performance_notes(pm) -> NoteList:
    """The notes of a pretty_midi performance with pedal-sustained offsets, one piano part."""
    rows = []
    for inst in pm.instruments:
        if inst.is_drum or not inst.notes:
            continue
        cc = [c for c in inst.control_changes if c.number == PEDAL_CC]
        pedal = pedal_intervals(np.array([c.time for c in cc]), np.array([c.value for c in cc]),
                                end=pm.get_end_time())
        on = np.array([n.start for n in inst.notes])
        off = np.array([n.end for n in inst.notes])
        pitch = np.array([n.pitch for n in inst.notes])
        ends = sustained_offsets(on, off, pitch, pedal)
        rows += [(a, b, int(p), 0.0, 0.0, int(n.velocity), 0, inst.program, -1, "")
                 for a, b, p, n in zip(on, ends, pitch, inst.notes)]
    if not rows:
        raise ScoreError("the performance has no notes")
    return _from_rows(rows, source="performance", part_names=("Piano",))


def render_performance(task) -> dict[str, list[dict]]:
    """Render one performance MIDI (a dataset RenderTask whose ``score`` is the .mid) with its
    pedal, through the recording chain; write audio, labels and its manifest rows."""
    import pretty_midi
    import soundfile as sf

    from .augment import recording_chain
    from .dataset import GM_FAMILIES, _rows_path
    from .labels import labels_csv
    from .render import add_noise, add_reverb, detune, find_soundfonts, pad, render_midi_file, silence_at_end

    s, rng = task.settings, np.random.default_rng(task.seed)
    try:
        pm = pretty_midi.PrettyMIDI(str(task.score))
    except Exception as exc:  # noqa: BLE001 - mido/pretty_midi raise many types
        raise ScoreError(f"{task.score}: cannot parse MIDI ({exc})") from exc
    shift = int(rng.integers(-s.max_transpose, s.max_transpose + 1))
    program = int(rng.choice(GM_FAMILIES["piano"]))
    for inst in pm.instruments:
        inst.program = program
        inst.notes = [n for n in inst.notes if n.start < s.max_duration]
        for n in inst.notes:
            n.pitch = int(np.clip(n.pitch + shift, 0, 127))
        inst.control_changes = [c for c in inst.control_changes if c.time < s.max_duration]
        inst.pitch_bends = []
    notes = performance_notes(pm)
    fonts = [Path(f) for f in s.soundfonts] or find_soundfonts()
    with tempfile.TemporaryDirectory(prefix="chromatool-perf-") as tmp:
        mid = Path(tmp) / "perf.mid"
        silence_at_end(pm)
        pm.write(str(mid))
        y = render_midi_file(mid, soundfont=fonts[int(rng.integers(len(fonts)))],
                             reverb=bool(rng.random() < 0.5), what=str(task.score))
    y = add_reverb(y, rng=rng, rt60=float(rng.uniform(*s.rt60)), wet=float(rng.uniform(0.0, 0.35)))
    y = recording_chain(add_noise(y, snr_db=float(rng.uniform(*s.snr_db)), rng=rng), rng=rng,
                        lossy_share=s.lossy_share)
    cents, lead = float(rng.uniform(-s.max_cents, s.max_cents)), float(rng.uniform(0, s.max_pad))
    y = pad(detune(y, cents), lead=lead, trail=float(rng.uniform(0, s.max_pad)), rng=rng)
    speed = 2.0 ** (cents / 1200)
    notes = replace(notes, onset=notes.onset / speed + lead, offset=notes.offset / speed + lead)
    group = performance_group(task.score)
    for d in ("audio", "labels"):
        (task.out / d).mkdir(parents=True, exist_ok=True)
    audio, labels = Path("audio") / f"{task.name}.flac", Path("labels") / f"{task.name}.csv"
    sf.write(task.out / audio, y, D.SAMPLE_RATE, subtype="PCM_16")
    (task.out / labels).write_text(labels_csv(notes))
    ctc = [{**row, "audio": str(audio), "group": group} for row in
           score_excerpts(task, shift, lambda t: t / speed + lead, np.random.default_rng([task.seed, 1]))]
    rows = {"ctc": ctc, "bce": [{"audio": str(audio), "labels": str(labels), "group": group}]}
    if task.piece:  # a version of its piece: the beats give its time map
        score_t, perf_t = beat_map(task.score, s.max_duration)
        (task.out / "paths").mkdir(exist_ok=True)
        path, gm = Path("paths") / f"{task.name}.csv", Path("labels") / f"{task.name}.musicnet.csv"
        (task.out / path).write_text("score_time,audio_time\n" + "".join(
            f"{a:.4f},{b / speed + lead:.4f}\n" for a, b in zip(score_t, perf_t)))
        (task.out / gm).write_text(labels_csv(notes, fmt="musicnet"))
        rows["versions"] = [{"piece": task.piece, "audio": str(audio), "path": str(path),
                             "labels": str(gm), "group": group}]
    _rows_path(task).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(_rows_path(task), lambda f: json.dump(rows, f), mode="w")
    return rows


def score_excerpts(task, shift: int, to_audio, rng: np.random.Generator) -> list[dict]:
    """Theme-like excerpts of a rendered performance for ``train --loss ctc``: the top voice of
    the piece's ``midi_score.mid`` (the right hand's skyline, as a theme book writes it), placed
    in the render through the annotated beats (``to_audio`` maps performance seconds to the
    render's); each excerpt's notes go to ``themes/``, untransposed, and its row gives the
    excerpt's seconds in the render and the render's transposition ``shift``."""
    from .excerpts import write_excerpts
    from .score import read_score

    perf = Path(task.score)
    try:
        score_t, perf_t = beat_map(perf, task.settings.max_duration)
        top = read_score(perf.parent / "midi_score.mid").top_voice()
    except (ScoreError, OSError):
        return []  # no annotations or score beside the performance: bce labels only
    top = top.select((top.onset >= score_t[0]) & (top.offset <= score_t[-1]))
    if not len(top):
        return []
    top = replace(top, onset=to_audio(np.interp(top.onset, score_t, perf_t)),
                  offset=to_audio(np.interp(top.offset, score_t, perf_t)))
    return [{**row, "transpose": shift} for row in write_excerpts(top, task.settings, rng, task.out, task.name)]


def performance_group(performance: Path) -> str:
    """The piece a performance belongs to (its folder: the manifests' ``group``, one split)."""
    return f"{Path(performance).parent.parent.name}/{Path(performance).parent.name}"


def asap_performances(root: str | Path) -> list[Path]:
    """The performance MIDI files listed in an ASAP folder's metadata.csv."""
    import csv

    root = Path(root)
    try:
        with open(root / "metadata.csv", newline="") as f:
            return [root / r["midi_performance"] for r in csv.DictReader(f)]
    except (OSError, KeyError) as exc:
        raise ScoreError(f"{root}: not an ASAP folder (metadata.csv with midi_performance)") from exc


def read_beats(path: str | Path) -> np.ndarray:
    """Seconds of the beats in an ASAP annotation file (tab-separated, time first)."""
    path = Path(path)
    try:
        return np.array([float(line.split("\t")[0]) for line in path.read_text().splitlines() if line.strip()])
    except (OSError, ValueError) as exc:
        raise ScoreError(f"{path}: not an ASAP beat annotation file ({exc})") from None


def beat_map(performance: Path, max_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Score seconds (``midi_score.mid``'s annotated beats) and performance seconds of the same
    beats, up to ``max_seconds`` of the performance: an ASAP performance's time map."""
    performance = Path(performance)
    score = read_beats(performance.parent / "midi_score_annotations.txt")
    perf = read_beats(performance.with_name(f"{performance.stem}_annotations.txt"))
    n = min(score.size, perf.size)
    score, perf = score[:n], perf[:n]
    keep = perf < max_seconds
    keep[1:] &= (np.diff(score) > 0) & (np.diff(perf) > 0)
    if keep.sum() < 2:
        raise ScoreError(f"{performance}: fewer than two annotated beats in its first {max_seconds:g} s")
    return score[keep], perf[keep]


def asap_version_sets(root: str | Path, versions: int, n: int, rng: np.random.Generator, *,
                      exclude: frozenset[str] = frozenset()) -> list[tuple[Path, ...]]:
    """Up to ``n`` ASAP pieces with at least ``versions`` performances (none of the groups in
    ``exclude``), round-robin over composers, and ``versions`` of each piece's performances
    drawn at random: real pianists' versions of one score, for ``chromatool dataset --asap
    --versions``."""
    import csv

    from .dataset import pick_pieces

    root = Path(root)
    try:
        with open(root / "metadata.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        by_piece: dict[Path, list[Path]] = {}
        for r in rows:
            by_piece.setdefault(root / r["folder"], []).append(root / r["midi_performance"])
    except (OSError, KeyError) as exc:
        raise ScoreError(f"{root}: not an ASAP folder (metadata.csv with folder, midi_performance)") from exc
    pieces = [p for p, perfs in sorted(by_piece.items())
              if len(perfs) >= versions and performance_group(perfs[0]) not in exclude]
    chosen = pick_pieces(pieces, n, rng, composer=lambda p: p.relative_to(root).parts[0])
    return [tuple(Path(q) for q in rng.choice(sorted(map(str, by_piece[p])), versions, replace=False))
            for p in chosen]
