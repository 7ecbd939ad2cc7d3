"""Training settings: the losses, the architectures they train, and :class:`TrainConfig` (each
default of the ``train`` command defined here once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import defaults as D

LOSSES: tuple[str, ...] = ("ctc", "bce", "ce", "cross-version", "single-version")
DEFAULT_ARCH: dict[str, str] = {"ctc": "ctc-chroma", "bce": "multipitch", "ce": "ctc-chroma",
                                "cross-version": "embedding", "single-version": "embedding"}
#: Losses that learn an embedding from pairs of excerpts (read a versions manifest).
CONTRASTIVE: tuple[str, ...] = ("cross-version", "single-version")
IGNORE = -100  # frame class of padding (cross-entropy's ignore_index)
VOICES: tuple[str, ...] = ("top", "all")  # salience pre-training targets of a ctc-chroma
BLANK = D.N_CHROMA  # the ε class is the last of 13


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (the ``train`` command's options; each default defined here).

    Examples
    --------
    >>> from chromatool import TrainConfig
    >>> cfg = TrainConfig(loss="bce", arch="multipitch", max_minutes=30)
    >>> cfg.architecture, cfg.batch_size, cfg.lr
    ('multipitch', 8, 0.001)
    """

    loss: str = "ctc"
    arch: str | None = None  # DEFAULT_ARCH[loss] when None
    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    max_transpose: int = 3
    crop_seconds: float = 10.0  # bce: training crops of the recordings
    patience: int = 3  # epochs without improvement before the learning rate is halved
    max_halvings: int = 3  # then stop at the next plateau
    valid_fraction: float = 0.1
    steps_per_epoch: int | None = None  # None: one pass over the training items
    max_steps: int | None = None
    max_minutes: float | None = None  # stop after the epoch that passes this
    seed: int = 0
    threads: int | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  # start from this checkpoint's weights (same model configuration)
    onset_frames: int = 3  # ce: frames of a note's pitch class at its onset, ε after them
    voices: str = "top"  # bce on a ctc-chroma: salience targets of the top voice or of "all" notes
    precision: str = "float32"  # or "bfloat16": the forward pass under autocast (PRECISIONS)
    per_recording: int = 1  # contrastive losses: anchors per recording in a batch, at different times
    positive_offset: float = 0.0  # cross-version: at most this many score seconds between a pair
    input_norm: str = "l2"  # the HCQT's per-frame normalisation (INPUT_NORMS): "l2" or "none" (keeps level)

    @property
    def architecture(self) -> str:
        return self.arch or DEFAULT_ARCH[self.loss]


#: Input normalisations of the HCQT a model reads (defaults.INPUT_NORMS).
INPUT_NORMS: tuple[str, ...] = D.INPUT_NORMS

#: Arithmetic of the forward pass in training (defaults.PRECISIONS).
PRECISIONS: tuple[str, ...] = D.PRECISIONS
