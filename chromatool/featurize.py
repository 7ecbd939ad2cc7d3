"""Features of audio files: read → compute → write, for one file or a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import defaults as D
from .audio import AUDIO_EXTENSIONS, load_audio
from .batch import Callback, run_batch
from .errors import ChromatoolError, OutputError, ParameterError
from .features import Engine, Features, compute
from .io import check_distinct, collect_files, mirrored_outputs, outputs_of, save_array


def engine_for(device: str) -> Engine | None:
    """The CQT engine for a resolved device ("cpu" → numpy, "cuda" → torch)."""
    if device == "cpu":
        return None
    from .hcqt_torch import TorchEngine

    return TorchEngine(device)


def audio_features(path: str | Path, *, kind: str = D.DEFAULT_FEATURE_KIND,
                   feature_rate: float = D.FEATURE_RATE, device: str = D.DEVICE,
                   tuning: str | float = D.TUNING) -> Features:
    """Features of one audio file (``device`` already resolved; ``tuning``: cents from A440 or
    "auto" to estimate it from the file)."""
    from .tuning import resolve_tuning

    y = load_audio(path)
    f = compute(kind, y, sr=D.SAMPLE_RATE, feature_rate=feature_rate, engine=engine_for(device),
                tuning=resolve_tuning(tuning, y))
    return Features(f.data, f.feature_rate, f.kind, {**f.params, "source": str(path)})


@dataclass(frozen=True)
class FeatureTask:
    source: Path
    output: Path
    kind: str
    feature_rate: float
    device: str
    fmt: str
    overwrite: bool
    tuning: str | float = D.TUNING

    def __call__(self) -> list[Path]:
        f = audio_features(self.source, kind=self.kind, feature_rate=self.feature_rate,
                           device=self.device, tuning=self.tuning)
        return save_array(self.output, f.data, f.metadata(), overwrite=self.overwrite,
                          fmt=self.fmt)


def _run_task(task: FeatureTask) -> list[Path]:
    return task()


@dataclass
class BatchReport:
    written: list[Path]
    failures: list[tuple[Path, str]]
    skipped: list[Path] = field(default_factory=list)


def plan_outputs(inputs: list[str | Path], output: str | Path, *, fmt: str, overwrite: bool,
                 skip_existing: bool = False) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(audio file, output path) pairs to compute, and the inputs skipped because their outputs
    are complete (``skip_existing``). A single file with an output that is not a folder writes
    there; otherwise ``output`` is a folder and the outputs mirror the inputs' paths relative to
    their common parent. Existing outputs are refused (without ``overwrite`` or
    ``skip_existing``), and collisions found, before any work is done."""
    if fmt not in D.ARRAY_FORMATS:
        raise ParameterError(f"unknown format {fmt!r}; choose one of {', '.join(D.ARRAY_FORMATS)}")
    if overwrite and skip_existing:
        raise ParameterError("overwrite and skip_existing exclude each other")
    if str(output) == "-":
        raise ParameterError("output '-': arrays are written to files, not to stdout; give a file or folder")
    files = collect_files(inputs, AUDIO_EXTENSIONS)
    if not files:
        raise ChromatoolError("no audio files found in " + ", ".join(str(p) for p in inputs))
    out = Path(output)
    single = (len(inputs) == 1 and len(files) == 1 and files[0][0] == files[0][1]
              and not out.is_dir() and not str(output).endswith(("/", "\\")))
    if single:
        if out.suffix.lower() in (".npy", ".npz") and out.suffix.lower() != f".{fmt}":
            raise ParameterError(f"output {out} does not end in .{fmt} (the format); name it "
                                 f"{out.with_suffix('.' + fmt).name} or choose fmt={out.suffix[1:]!r}")
        dest = out if out.suffix.lower() == f".{fmt}" else out.with_name(f"{out.name}.{fmt}")
        check_distinct([files[0][0]], [dest])
        pairs = [(files[0][0], dest)]
    else:
        pairs = list(zip([f for f, _ in files], mirrored_outputs(files, out, f".{fmt}")))
    todo, skipped = [], []
    for src, dest in pairs:
        done = [p.exists() for p in outputs_of(dest, fmt)]
        if all(done) and skip_existing:
            skipped.append(src)
        elif any(done) and not overwrite and not skip_existing:
            raise OutputError(f"{dest}: exists (overwrite=True replaces it, skip_existing=True keeps it)")
        else:
            todo.append((src, dest))
    return todo, skipped


def plan_feature_tasks(inputs: list[str | Path], output: str | Path, *, kind: str,
                       feature_rate: float, device: str, fmt: str, overwrite: bool,
                       tuning: str | float = D.TUNING, skip_existing: bool = False
                       ) -> tuple[list[FeatureTask], list[Path]]:
    """One task per audio file to compute, and the files skipped (outputs as :func:`plan_outputs`)."""
    if kind not in D.FEATURE_KINDS:
        raise ParameterError(f"unknown feature kind {kind!r}; choose one of {', '.join(D.FEATURE_KINDS)}")
    D.hop_length(D.SAMPLE_RATE, feature_rate)
    from .tuning import resolve_tuning

    if tuning != "auto":
        resolve_tuning(tuning)  # checked before any work
    todo, skipped = plan_outputs(inputs, output, fmt=fmt, overwrite=overwrite, skip_existing=skip_existing)
    return [FeatureTask(src, dest, kind, feature_rate, device, fmt, overwrite, tuning)
            for src, dest in todo], skipped


def run_feature_tasks(tasks: list[FeatureTask], *, jobs: int = 1, on_done: Callback | None = None,
                      scheduler: str | None = None) -> BatchReport:
    """Run the tasks (in ``jobs`` processes on the CPU, or on the Dask cluster at
    ``scheduler``); failures are collected, not raised."""
    if any(t.device != "cpu" for t in tasks):
        jobs = 1  # the GPU is driven from this process
    done, failed = run_batch(_run_task, tasks, jobs=jobs, on_done=on_done, scheduler=scheduler)
    return BatchReport([p for _, r in done for p in r], [(t.source, msg) for t, msg in failed])
