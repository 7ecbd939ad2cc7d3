"""Alignment of one or many score–recording pairs, writing label files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import defaults as D
from .alignment import align, path_csv
from .labels import labels_csv
from .audio import AUDIO_EXTENSIONS
from .batch import Callback, run_batch
from .errors import ChromatoolError
from .io import check_writable, read_csv_rows, write_text
from .score import SCORE_EXTENSIONS


@dataclass(frozen=True)
class AlignTask:
    score: Path
    audio: Path
    output: Path
    fmt: str
    feature_rate: float
    synthesis: str
    soundfont: str | None
    overwrite: bool
    path_file: Path | None = None
    plot: Path | None = None
    tuning: str | float = D.TUNING
    force: bool = False
    repeats: str = "auto"

    def __call__(self) -> list[str]:
        for p in (self.output, self.path_file, self.plot):
            if p is not None:
                check_writable(p, overwrite=self.overwrite)
        a = align(self.score, self.audio, feature_rate=self.feature_rate, synthesis=self.synthesis,
                  soundfont=self.soundfont, tuning=self.tuning, force=self.force, repeats=self.repeats)
        write_text(self.output, labels_csv(a.notes, fmt=self.fmt), overwrite=self.overwrite)
        if self.path_file is not None:
            write_text(self.path_file, path_csv(a), overwrite=self.overwrite)
        if self.plot is not None:
            from .plotting import plot_alignment

            plot_alignment(a, self.plot, overwrite=self.overwrite)
        return a.warnings()


def _run(task: AlignTask) -> list[str]:
    return task()


@dataclass
class AlignReport:
    warnings: list[tuple[Path, str]]
    failures: list[tuple[Path, str]]


def plan_align_tasks(inputs: list[str], output: str | Path, *, fmt: str, feature_rate: float,
                     synthesis: str, soundfont: str | None, overwrite: bool,
                     tuning: str | float = D.TUNING, force: bool = False,
                     skip_existing: bool = False, repeats: str = "auto") -> tuple[list[AlignTask], list[Path]]:
    """Tasks from ``SCORE AUDIO``, ``SCORES/ AUDIO/`` (matching stems) or ``PAIRS.csv``, and the
    recordings skipped because their label file exists (``skip_existing``). An output that is
    one of the inputs, or shared by two pairs, is refused before any work starts."""
    from .errors import ParameterError
    from .io import check_distinct

    if overwrite and skip_existing:
        raise ParameterError("overwrite and skip_existing exclude each other")
    if str(output) == "-":
        raise ParameterError("output '-': labels are written to files, not to stdout; give a file or folder")
    tasks = _plan(inputs, Path(output), fmt=fmt, feature_rate=feature_rate, synthesis=synthesis,
                  soundfont=soundfont, overwrite=overwrite, tuning=tuning, force=force, repeats=repeats)
    check_distinct([t.audio for t in tasks], [t.output for t in tasks])
    for t in tasks:
        check_distinct([t.score], [t.output])
        check_distinct([t.audio], [t.output])
    if not skip_existing:
        return tasks, []
    return [t for t in tasks if not t.output.exists()], [t.audio for t in tasks if t.output.exists()]


def _plan(inputs: list[str], out: Path, *, fmt: str, feature_rate: float, synthesis: str,
          soundfont: str | None, overwrite: bool, tuning: str | float, force: bool,
          repeats: str) -> list[AlignTask]:
    kw = dict(fmt=fmt, feature_rate=feature_rate, synthesis=synthesis, soundfont=soundfont,
              overwrite=overwrite, tuning=tuning, force=force, repeats=repeats)
    D.hop_length(D.SAMPLE_RATE, feature_rate)
    if len(inputs) == 1 and inputs[0].lower().endswith(".csv"):
        return _tasks_from_csv(Path(inputs[0]), out, kw)
    if len(inputs) != 2:
        raise ChromatoolError("give SCORE AUDIO, two folders, or one CSV of score,audio,output rows")
    a, b = Path(inputs[0]), Path(inputs[1])
    for p in (a, b):
        if not p.exists():
            raise ChromatoolError(f"{p}: no such file or folder")
    if a.is_dir() and b.is_dir():
        scores = {p.stem: p for p in sorted(a.rglob("*")) if p.suffix.lower() in SCORE_EXTENSIONS}
        audios = {p.stem: p for p in sorted(b.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS}
        stems = sorted(set(scores) & set(audios))
        if not stems:
            raise ChromatoolError(f"no score in {a} has a recording with the same name in {b}")
        return [AlignTask(scores[s], audios[s], out / f"{s}.csv", **kw) for s in stems]
    if a.is_dir() or b.is_dir():
        raise ChromatoolError("give two files or two folders")
    return [AlignTask(a, b, out, **kw)]


def _tasks_from_csv(path: Path, out: Path, kw: dict) -> list[AlignTask]:
    rows = read_csv_rows(path, ("score", "audio"), what="a list of pairs")
    tasks = []
    for i, r in enumerate(rows, start=2):
        if not r["score"] or not r["audio"]:
            raise ChromatoolError(f"{path}: line {i}: score and audio are required")
        dest = Path(r["output"]) if r.get("output") else out / f"{Path(r['audio']).stem}.csv"
        tasks.append(AlignTask(Path(r["score"]), Path(r["audio"]), dest, **kw))
    return tasks


def run_align_tasks(tasks: list[AlignTask], *, jobs: int = 1, on_done: Callback | None = None,
                    scheduler: str | None = None) -> AlignReport:
    """Run the tasks (in ``jobs`` processes, or on the Dask cluster at ``scheduler``)."""
    done, failed = run_batch(_run, tasks, jobs=jobs, on_done=on_done, scheduler=scheduler)
    return AlignReport([(t.audio, w) for t, r in done for w in r], [(t.audio, msg) for t, msg in failed])
