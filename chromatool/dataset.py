"""Training data from scores: FluidSynth renders with varied instruments, soundfonts, expressive
timing or tempo curves, transposition, reverb, noise, a recording's signal chain
(:mod:`chromatool.augment`), tuning off A440 and room tone, and the two manifests
``chromatool train`` reads.

For each score, one render goes to ``audio/`` (FLAC, 22050 Hz) with

* its strong labels (``labels/*.csv``, chromatool's label columns, performance time), listed in
  ``bce.csv`` (columns ``audio,labels,group``);
* a few weakly aligned theme-like excerpts of the top voice (6–14 s): the excerpt's notes at the
  score's own tempo, untransposed, as an MTD note list (``themes/*.csv``), and its start and end
  in the render, listed in ``ctc.csv`` (columns ``audio,start,end,theme,transpose,group``, where
  ``transpose`` is the semitones the render was transposed by).

With ``versions`` N > 1, each score is rendered N times (each version its own soundfont,
timing, balance, room and noise, none transposed; all versions of a piece share its
instrumentation, the parts' GM programs, as two recordings of one score do) and ``versions.csv`` (columns
``piece,audio,path,labels,group``) lists every version with its score-to-audio time map
(``paths/*.csv``: ``score_time,audio_time`` at every score onset, the format of ``chromatool
align --path``), so time-corresponding frames of two versions are known, and its labels in
MusicNet's columns (``labels/*.musicnet.csv``, which keep each note's GM program).

Paths in the manifests are relative to the manifest. ``group`` (``composer/work``) keeps all
material of one work on one side of a validation split.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import defaults as D
from .batch import Callback, map_items
from .errors import ChromatoolError, OutputError, ParameterError, ScoreError
from .excerpts import write_excerpts
from .io import atomic_write

#: music21 corpus composers reserved for testing: never rendered for training.
TEST_COMPOSERS: tuple[str, ...] = ("mozart", "haydn", "schumann_robert", "schumann_clara", "chopin",
                                   "schubert", "beach", "joplin", "verdi", "weber")
#: GM programs a render draws its instruments from, by family.
GM_FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 4, 5, 6, 7),
    "organ": (16, 19, 20, 21),
    "guitar": (24, 25, 46),
    "strings": (40, 41, 42, 43, 44, 48, 49),
    "choir": (52, 53, 54),
    "brass": (56, 57, 58, 60, 61),
    "reeds": (64, 65, 66, 68, 69, 70, 71),
    "pipes": (72, 73, 74, 75),
}
CTC_COLUMNS: tuple[str, ...] = ("audio", "start", "end", "theme", "transpose", "group")
VERSION_COLUMNS: tuple[str, ...] = ("piece", "audio", "path", "labels", "group")
BCE_COLUMNS: tuple[str, ...] = ("audio", "labels", "group")
SCORE_SUFFIXES: tuple[str, ...] = (".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi")


@dataclass(frozen=True)
class RenderSettings:
    """The random ranges of one data set."""

    excerpts: int = 4
    min_excerpt: float = 6.0
    max_excerpt: float = 14.0
    max_transpose: int = 4
    tempo_scale: tuple[float, float] = (0.75, 1.3)
    tempo_ratio: float = 1.25
    snr_db: tuple[float, float] = (20.0, 45.0)
    rt60: tuple[float, float] = (0.3, 1.8)
    max_duration: float = 300.0
    soundfonts: tuple[str, ...] = ()
    #: share of pieces played with expressive timing (rubato, ritardandi, fermatas, pauses,
    #: spread chords) instead of a smooth tempo curve
    expressive_share: float = 0.5
    #: tuning off A440 by up to this many cents either way (labels keep their MIDI pitches)
    max_cents: float = 50.0
    #: room tone before and after the music, up to this many seconds
    max_pad: float = 3.0
    #: share of renders whose singers, strings and winds play with vibrato (drawn from a
    #: generator of its own, so the other draws of a seed stay as they were without it)
    vibrato_share: float = 0.0
    #: share of renders coded as Ogg Vorbis and decoded again
    lossy_share: float = 0.3


def composer_of(path: Path) -> str:
    parts = path.parts
    return parts[parts.index("corpus") + 1] if "corpus" in parts else path.parent.name


def score_group(path: Path) -> str:
    """The piece a score's renders belong to (the manifests' ``group``: one split)."""
    return f"{composer_of(Path(path))}/{Path(path).stem}"


def corpus_scores(composers: tuple[str, ...]) -> list[Path]:
    """Scores of these music21 corpus composers (reserved test composers refused)."""
    from music21 import corpus

    bad = sorted(set(composers) & set(TEST_COMPOSERS))
    if bad:
        raise ParameterError(f"{', '.join(bad)}: reserved test composer(s), never used for training data")
    paths = sorted(Path(p) for p in corpus.getPaths())
    out = [p for p in paths if composer_of(p) in composers and p.suffix in SCORE_SUFFIXES]
    missing = sorted(set(composers) - {composer_of(p) for p in out})
    if missing:
        raise ParameterError(f"no music21 corpus scores for: {', '.join(missing)}")
    return out


def pick_pieces(paths: list[Path], n: int, rng: np.random.Generator, *,
                composer: Callable[[Path], str] | None = None) -> list[Path]:
    """Up to ``n`` pieces, round-robin over composers (``composer``, default
    :func:`composer_of`) so that none dominates."""
    pools: dict[str, list[Path]] = {}
    for p in paths:
        pools.setdefault((composer or composer_of)(p), []).append(p)
    pools = {c: list(rng.permutation(ps)) for c, ps in sorted(pools.items())}
    out: list[Path] = []
    while len(out) < n and any(pools.values()):
        for c in pools:
            if pools[c] and len(out) < n:
                out.append(Path(pools[c].pop()))
    return out


def random_programs(n_parts: int, rng: np.random.Generator) -> list[int]:
    """GM programs for the parts: one family for all parts, or a mixed ensemble."""
    fams = list(GM_FAMILIES.values())
    if rng.random() < 0.5:
        fam = fams[int(rng.integers(len(fams)))]
        return [int(rng.choice(fam)) for _ in range(n_parts)]
    return [int(rng.choice(fams[int(rng.integers(len(fams)))])) for _ in range(n_parts)]


@dataclass(frozen=True)
class RenderTask:
    score: Path
    out: Path
    seed: int
    settings: RenderSettings
    name: str
    piece: str = ""  # versions: the piece this render is a version of (writes its time map)
    programs_seed: int | None = None  # versions: the piece's seed for its parts' GM programs


def render_piece(task: RenderTask) -> dict[str, list[dict]]:
    """Render one score with random performance settings; write audio, labels and themes."""
    import soundfile as sf

    from .labels import labels_csv
    from .augment import recording_chain
    from .expressive import expressive_timing, spread_chords
    from .render import TempoCurve, add_noise, add_reverb, detune, find_soundfonts, pad, render
    from .score import read_score

    s, rng = task.settings, np.random.default_rng(task.seed)
    notes = read_score(task.score)
    notes = notes.select(notes.onset < s.max_duration)
    if len(notes) < 10 or notes.duration < s.min_excerpt:
        raise ScoreError(f"{task.score}: too short to render for training ({len(notes)} notes)")
    n_parts = int(notes.part.max()) + 1
    programs = np.array(random_programs(n_parts, rng if task.programs_seed is None
                                         else np.random.default_rng(task.programs_seed)))
    shift = int(rng.integers(-s.max_transpose, s.max_transpose + 1))
    vel = np.clip(notes.velocity + rng.normal(0, 12, len(notes)) + rng.normal(0, 10, n_parts)[notes.part], 25, 120)
    perf = replace(notes.transpose(shift), program=programs[notes.part], velocity=vel.astype(int))
    if rng.random() < s.expressive_share:
        curve = expressive_timing(perf, rng=rng, tempo=(1 / s.tempo_scale[1], 1 / s.tempo_scale[0]))
        perf = spread_chords(curve.apply(perf), rng=rng)
    else:
        curve = TempoCurve(notes.duration, rng=rng, scale=float(rng.uniform(*s.tempo_scale)),
                           max_ratio=s.tempo_ratio)
        perf = curve.apply(perf)
    fonts = [Path(f) for f in s.soundfonts] or find_soundfonts()
    font = fonts[int(rng.integers(len(fonts)))]
    vib = np.random.default_rng([task.seed, 31])
    y = render(perf, soundfont=font, reverb=bool(rng.random() < 0.5),
               vibrato=vib if vib.random() < s.vibrato_share else None)
    y = add_reverb(y, rng=rng, rt60=float(rng.uniform(*s.rt60)), wet=float(rng.uniform(0.0, 0.35)))
    y = add_noise(y, snr_db=float(rng.uniform(*s.snr_db)), rng=rng)
    y = recording_chain(y, rng=rng, lossy_share=s.lossy_share)
    cents, lead = float(rng.uniform(-s.max_cents, s.max_cents)), float(rng.uniform(0, s.max_pad))
    y = pad(detune(y, cents), lead=lead, trail=float(rng.uniform(0, s.max_pad)), rng=rng)
    speed = 2.0 ** (cents / 1200)  # a detuned render plays faster by this factor

    def at(t):  # score seconds → seconds of the recording as written
        return curve(t) / speed + lead

    perf = replace(perf, onset=perf.onset / speed + lead, offset=perf.offset / speed + lead)
    name, group = task.name, score_group(task.score)
    for d in ("audio", "labels", "themes"):
        (task.out / d).mkdir(parents=True, exist_ok=True)
    audio = Path("audio") / f"{name}.flac"
    sf.write(task.out / audio, y, D.SAMPLE_RATE, subtype="PCM_16")
    labels = Path("labels") / f"{name}.csv"
    (task.out / labels).write_text(labels_csv(perf))
    ctc = [{"audio": str(audio), **row, "transpose": shift, "group": group}
           for row in write_excerpts(notes.top_voice(), s, rng, task.out, name, at)]
    rows = {"ctc": ctc, "bce": [{"audio": str(audio), "labels": str(labels), "group": group}]}
    if task.piece:
        (task.out / "paths").mkdir(exist_ok=True)
        path = Path("paths") / f"{name}.csv"
        s_times = np.unique(np.concatenate([notes.onset, [notes.offset.max()]]))
        (task.out / path).write_text("score_time,audio_time\n" + "".join(
            f"{a:.4f},{float(at(a)):.4f}\n" for a in s_times))
        gm = Path("labels") / f"{name}.musicnet.csv"  # MusicNet's columns keep each note's GM program
        (task.out / gm).write_text(labels_csv(perf, fmt="musicnet"))
        rows["versions"] = [{"piece": task.piece, "audio": str(audio), "path": str(path),
                             "labels": str(gm), "group": group}]
    _rows_path(task).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(_rows_path(task), lambda f: json.dump(rows, f), mode="w")  # last: the piece is complete
    return rows


def _rows_path(task: RenderTask) -> Path:
    return task.out / "rows" / f"{task.name}.json"


def _kept_rows(task: RenderTask) -> dict[str, list[dict]]:
    """The manifest rows of a piece rendered by an earlier run (``skip_existing``)."""
    return json.loads(_rows_path(task).read_text())


def _write_manifest(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        w.writerows(rows)


#: What a dataset folder holds (``overwrite`` removes these and nothing else).
DATASET_ENTRIES: tuple[str, ...] = ("ctc.csv", "bce.csv", "versions.csv", "audio", "labels", "themes",
                                     "paths", "rows")


def build_dataset(scores: list[Path], out: str | Path, *, seed: int = 0,
                  settings: RenderSettings = RenderSettings(), jobs: int = 1, overwrite: bool = False,
                  skip_existing: bool = False, on_done: Callback | None = None,
                  render_fn: Callable[[RenderTask], dict] | None = None, versions: int = 1
                  ) -> tuple[Path, Path, list[tuple[Path, str]]]:
    """Render ``scores`` into ``out``; returns the ctc and bce manifests and the skipped scores.
    A folder that is not empty is refused unless ``overwrite``, which first removes the dataset
    a previous run left there (its manifests, audio/, labels/, themes/ and rows/; nothing
    else), or ``skip_existing``, which keeps the pieces an interrupted run of the same command
    completed and renders the rest (the manifests are written anew from all of them).
    ``render_fn`` renders one task (default :func:`render_piece`, a score;
    :func:`chromatool.performances.render_performance` takes performance MIDI files instead).
    ``versions`` > 1: that many untransposed versions of each score, and ``versions.csv``; an
    item of ``scores`` may then be a tuple of ``versions`` files, the versions of one piece
    (performances: :func:`chromatool.performances.asap_version_sets`)."""
    from .render import RenderError, can_render

    if not scores:
        raise ParameterError("no scores to render")
    out = Path(out)
    if overwrite and skip_existing:
        raise ParameterError("overwrite and skip_existing exclude each other")
    occupied = out.is_dir() and any(out.iterdir()) and not skip_existing
    if occupied and not overwrite:
        raise OutputError(f"{out}: exists and is not empty (overwrite=True replaces the dataset in it)")
    if not can_render():  # after the checks that need no renderer, before anything is removed
        raise RenderError("rendering training data needs FluidSynth and a General MIDI soundfont "
                          "(the set-up installs both)")
    if occupied:
        import shutil

        for name in DATASET_ENTRIES:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    tasks, seen = [], set()
    for i, p in enumerate(scores):
        files = tuple(map(Path, p)) if isinstance(p, (tuple, list)) else (Path(p),) * versions
        name = (f"{files[0].parent.parent.name}_{files[0].parent.name}" if files[0] != files[-1]
                else f"{composer_of(files[0])}_{files[0].stem}")[:80].replace(" ", "_")
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        if versions > 1:
            v_settings = replace(settings, max_transpose=0)
            piece_seed = seed * 100003 + i * 101  # the versions' programs; + v: each version's own draws
            tasks += [RenderTask(files[v], out, piece_seed + v, v_settings, f"{name}_v{v}", name,
                                 programs_seed=piece_seed) for v in range(versions)]
        else:
            tasks.append(RenderTask(Path(p), out, seed * 100003 + i, settings, name))
    kept = {i for i, t in enumerate(tasks) if skip_existing and _rows_path(t).is_file()}
    todo = [t for i, t in enumerate(tasks) if i not in kept]
    fresh = iter(map_items(render_fn or render_piece, todo, jobs=jobs, on_done=on_done))
    results = [_kept_rows(t) if i in kept else next(fresh) for i, t in enumerate(tasks)]
    ctc, bce, vers, skipped = [], [], [], []
    for t, r in zip(tasks, results):
        if isinstance(r, ChromatoolError):
            skipped.append((t.score, str(r)))
        else:
            ctc += r["ctc"]
            bce += r["bce"]
            vers += r.get("versions", [])
    if not bce:
        raise ChromatoolError("no score could be rendered: " + "; ".join(m for _, m in skipped[:3]))
    _write_manifest(out / "ctc.csv", CTC_COLUMNS, ctc)
    _write_manifest(out / "bce.csv", BCE_COLUMNS, bce)
    if versions > 1:
        _write_manifest(out / "versions.csv", VERSION_COLUMNS, vers)
    return out / "ctc.csv", out / "bce.csv", skipped
