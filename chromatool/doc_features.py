"""Each recording's features for retrieval, through the feature cache: one task per recording
(``fused``: one per recording for all of its features, the HCQT computed once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import defaults as D
from .batch import Callback, map_items
from .cache import FeatureCache
from .features import Features

#: Features computed by a model, and the model output each is.
MODEL_FEATURES: dict[str, str] = {"deep": "chroma", "melody": "pitch", "embedding": "embedding"}


def fused_parts(model: str | None = None) -> list[tuple[str, str, float]]:
    """(kind, model, weight) of each feature ``fused`` matches: ``defaults.FUSED_PARTS``, or
    with ``model`` (a chroma model) that one model in place of the deep chromas, at their weight.

    >>> [(k, w) for k, _, w in fused_parts("my.pt")]
    [('deep', 0.8), ('melody', 0.2)]
    """
    if model is None:
        return list(D.FUSED_PARTS)
    deep = [p for p in D.FUSED_PARTS if p[0] == "deep"]
    return [("deep", model, sum(w for *_, w in deep))] + [p for p in D.FUSED_PARTS if p[0] != "deep"]


@dataclass(frozen=True)
class DocFeatureTask:
    path: Path
    kind: str
    feature_rate: float
    device: str
    cache_root: str | None
    model: str | None = None  # deep: the model file
    model_digest: str | None = None  # deep: its content hash, part of the cache key
    tuning: str | float = D.TUNING
    precision: str = D.INFERENCE_PRECISION  # deep chroma: the network's arithmetic

    def params(self) -> dict:
        from .features import FEATURES_VERSION

        extra = {"model": self.model_digest} if self.kind in MODEL_FEATURES else {}
        if self.kind in ("deep", "melody"):
            from .device import resolve_precision

            extra["precision"] = resolve_precision(self.precision, self.device)
        return {"kind": self.kind, "feature_rate": self.feature_rate, "sr": D.SAMPLE_RATE,
                "version": FEATURES_VERSION, "tuning": self.tuning, **extra}

    def compute(self, shared: dict | None = None) -> np.ndarray:
        """The features; ``shared`` (a dict) keeps the network input for the next model that
        reads the same HCQT (``fused``: the deep chromas' and the melody's networks)."""
        from .audio import load_audio

        if self.kind in MODEL_FEATURES:
            from .deep import cached_model, deep_features, network_input

            lm = cached_model(self.model, self.device, MODEL_FEATURES[self.kind])
            output = MODEL_FEATURES[self.kind]
            key = (output == "embedding", *sorted((k, repr(v)) for k, v in lm.features.items() if k != "normalize"))
            shared = {} if shared is None else shared
            if key not in shared:
                y = load_audio(self.path, sr=int(lm.features["sr"]))
                shared[key] = network_input(y, lm.features, output=output, tuning=self.tuning)
            f = deep_features(None, lm, output=output, device=self.device, precision=self.precision,
                              prepared=shared[key])
            if self.kind == "melody":
                from .melody import melody_chroma

                return melody_chroma(f.data, feature_rate=f.feature_rate)
            return f.data
        from .featurize import audio_features

        return audio_features(self.path, kind=self.kind, feature_rate=self.feature_rate,
                              device=self.device, tuning=self.tuning).data

    def __call__(self) -> tuple[Features, bool]:
        """The document's features with their rate (the rate is part of the cache key), and
        whether they came from the cache."""
        return self.shared_call()

    def shared_call(self, shared: dict | None = None) -> tuple[Features, bool]:
        """:meth:`__call__` with a network input ``shared`` with other tasks of the document."""
        cache = FeatureCache(self.cache_root)
        params = self.params()
        data = cache.get(self.path, params, lambda: self.compute(shared))
        return Features(data, self.feature_rate, self.kind, params), cache.hits > 0


@dataclass(frozen=True)
class FusedDocTask:
    """The :func:`fused_parts` features of one document, the HCQT computed once for all networks."""

    tasks: tuple[DocFeatureTask, ...]

    def __call__(self) -> list[tuple[Features, bool]]:
        shared: dict = {}
        return [t.shared_call(shared) for t in self.tasks]


def _run(task):
    return task()


def document_features(paths: list[Path], *, kind: str, feature_rate: float = D.FEATURE_RATE,
                      device: str = D.DEVICE, cache_root: str | None = None, jobs: int = 1,
                      model: str | None = None, on_done: Callback | None = None,
                      tuning: str | float = D.TUNING, scheduler: str | None = None,
                      precision: str = D.INFERENCE_PRECISION) -> list:
    """(Features, from the cache?) of each document, or the ``ChromatoolError`` it failed with
    (computed on ``jobs`` processes, or on the Dask cluster at ``scheduler``); for ``fused`` a
    list of those pairs, one per :func:`fused_parts` feature (``model``: the deep chroma's)."""
    from .deep import model_digest

    def task(p: Path, k: str, m: str | None) -> DocFeatureTask:
        if (k, m) not in digests:  # once per model, not per document
            digests[k, m] = model_digest(m, MODEL_FEATURES[k]) if k in MODEL_FEATURES else None
        return DocFeatureTask(p, k, feature_rate, device, cache_root, m, digests[k, m], tuning, precision)

    digests: dict[tuple[str, str | None], str | None] = {}
    if kind == "fused":
        tasks = [FusedDocTask(tuple(task(p, k, m) for k, m, _ in fused_parts(model))) for p in paths]
    else:
        tasks = [task(p, kind, model) for p in paths]
    if device != "cpu":
        jobs = 1
    return map_items(_run, tasks, jobs=jobs, on_done=on_done, scheduler=scheduler)
