"""chromatool: chroma features, alignment and retrieval for classical music recordings and scores.

The public API, importable from ``chromatool`` (each name is loaded when first used, so
``import chromatool`` stays cheap and pulls in neither torch nor numba):

reading inputs
    load_audio, read_score, NoteList
features (each a :class:`Features`: the array and its feature rate)
    hcqt, cqt, chroma, cens, stft_chroma, estimate_tuning, Features
DTW
    subsequence_dtw
tasks
    retrieve (theme retrieval), align (score-to-audio alignment), Alignment
large archives
    build_index, add_to_index, ThemeIndex, search_index (a theme index: candidates by
    nearest-neighbour search, then the exact ranking)
the learned half
    load_model, extract, train, TrainConfig
errors
    ChromatoolError, ParameterError, AudioError, ScoreError, ModelError, OutputError

>>> import chromatool as ct
>>> "chroma" in ct.__all__ and ct.defaults.FEATURE_RATE
25.0
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name → the module that defines it.
_API: dict[str, str] = {
    "load_audio": "audio", "read_score": "score", "NoteList": "score",
    "hcqt": "features", "cqt": "features", "chroma": "features", "cens": "features",
    "stft_chroma": "features", "Features": "features", "estimate_tuning": "tuning",
    "subsequence_dtw": "dtw",
    "retrieve": "retrieval", "align": "alignment", "Alignment": "alignment",
    "build_index": "index_build", "add_to_index": "index_build", "ThemeIndex": "index",
    "search_index": "index_search",
    "load_model": "deep", "extract": "deep", "train": "training", "TrainConfig": "training",
    "ChromatoolError": "errors", "ParameterError": "errors", "AudioError": "errors",
    "ScoreError": "errors", "ModelError": "errors", "OutputError": "errors",
}

__all__ = sorted(_API) + ["defaults", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "defaults":
        return importlib.import_module(".defaults", __name__)
    try:
        module = _API[name]
    except KeyError:
        raise AttributeError(f"module 'chromatool' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
