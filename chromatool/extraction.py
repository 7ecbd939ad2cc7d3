"""Batch extraction: one task per recording, a model loaded once per process (or per Dask
worker), each output written atomically beside its sidecar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import defaults as D
from .deep import _LOADED, LoadedModel, cached_model, deep_features, resolve_model


@dataclass(frozen=True)
class ExtractTask:
    """Deep features of one recording written to ``dest`` (the model is loaded once per process)."""

    src: Path
    dest: Path
    model: str
    output: str
    device: str
    fmt: str
    overwrite: bool
    tuning: str | float
    precision: str = D.INFERENCE_PRECISION

    def __call__(self) -> list[Path]:
        from .audio import load_audio
        from .featurize import engine_for
        from .io import save_array
        from .prefetch import take_input

        lm = cached_model(self.model, self.device, self.output)
        ready = take_input(self.src, lm.features, output=self.output, tuning=self.tuning)
        y = None if ready else load_audio(self.src, sr=int(lm.features["sr"]))
        f = deep_features(y, lm, output=self.output, device=self.device, engine=engine_for(self.device),
                          tuning=self.tuning, precision=self.precision, prepared=ready)
        return save_array(self.dest, f.data, {**f.metadata(), "source": str(self.src)},
                          overwrite=self.overwrite, fmt=self.fmt)


def _run_extract(task: ExtractTask) -> list[Path]:
    return task()


def extract_files(pairs: list[tuple[Path, Path]], lm: LoadedModel, *, output: str = D.DEEP_KIND,
                  device: str = D.DEVICE, fmt: str = "npy", overwrite: bool = False,
                  on_done=None, tuning: str | float = D.TUNING, scheduler: str | None = None,
                  precision: str = D.INFERENCE_PRECISION) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Extract deep features of each (audio, destination) pair with one model (loaded once in
    this process, or once per worker on the Dask cluster at ``scheduler``); returns the written
    files and the (audio, message) failures."""
    from .batch import run_batch

    _LOADED.setdefault((str(resolve_model(str(lm.source), output)), device), lm)  # no second load here
    tasks = [ExtractTask(src, dest, str(lm.source), output, device, fmt, overwrite, tuning, precision)
             for src, dest in pairs]
    done, failed = run_batch(_run_extract, tasks, jobs=1, on_done=on_done, scheduler=scheduler)
    return [p for _, r in done for p in r], [(t.src, msg) for t, msg in failed]
