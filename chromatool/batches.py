"""Training inputs: cached HCQTs of the recordings, frame targets and CTC paths, batches with
transposition and cropping, and the loss of a batch (see :mod:`chromatool.training`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import defaults as D
from .errors import ChromatoolError
from .manifests import Item
from .train_config import BLANK, CONTRASTIVE, IGNORE, TrainConfig


# ---------------------------------------------------------------------------------------------
# features


def recording_hcqts(paths: list[Path], features: dict, *, cache_root: str | None = None,
                    on_done: Callable[[int, Any], None] | None = None, jobs: int = 1) -> dict[Path, np.ndarray]:
    """float16 log-HCQT (n_harmonics, n_bins, n_frames) of each distinct recording, cached."""
    from .batch import map_items

    uniq = sorted(set(paths))
    tasks = [_HCQTTask(p, features, cache_root) for p in uniq]
    results = map_items(_hcqt_task, tasks, jobs=jobs, on_done=on_done)
    for p, r in zip(uniq, results):
        if isinstance(r, ChromatoolError):
            raise ChromatoolError(f"{p}: {r}")
    return dict(zip(uniq, results))


@dataclass(frozen=True)
class _HCQTTask:
    path: Path
    features: dict
    cache_root: str | None


def hcqt_cache_params(features: dict) -> dict:
    """The cache key of a training HCQT: the model's feature config, the storage type and the
    feature code's version (a change of the features invalidates cached training inputs)."""
    from .features import FEATURES_VERSION

    return {**{k: v for k, v in features.items() if k != "normalize"}, "dtype": "float16",
            "version": FEATURES_VERSION}


def _hcqt_task(task: _HCQTTask) -> np.ndarray:
    from .audio import load_audio
    from .cache import FeatureCache
    from .deep import input_hcqt

    feats = task.features
    params = hcqt_cache_params(feats)
    cache = FeatureCache(task.cache_root)
    return cache.get(task.path, params, lambda: input_hcqt(load_audio(task.path, sr=int(feats["sr"])),
                                                           feats).astype(np.float16))


# ---------------------------------------------------------------------------------------------
# batches


def shift_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """Shift an HCQT (..., n_bins, n_frames) up by ``bins`` bins (down if negative), zero-filled."""
    if bins == 0:
        return x
    out = np.zeros_like(x)
    if bins > 0:
        out[..., bins:, :] = x[..., :-bins, :]
    else:
        out[..., :bins, :] = x[..., -bins:, :]
    return out


def frame_targets(notes, n_frames: int, start_frame: int, arch: str, shift: int,
                  feature_rate: float, voices: str = TrainConfig.voices) -> np.ndarray:
    """(n_frames, 72) semitone or (n_frames, 12) pitch-class targets from note labels; for a
    ctc-chroma, (n_frames, 216) salience targets — the centre bin of each semitone — of the top
    voice (the melody a theme is, the target of its CTC training) or, ``voices="all"``, of all
    notes."""
    if arch == "ctc-chroma" and voices == "top":  # the salience of the deep chroma model learns the top voice
        notes = notes.top_voice()
    roll = notes.transpose(shift).piano_roll(feature_rate=feature_rate, n_frames=start_frame + n_frames,
                                             midi_min=D.MIDI_MIN, n_pitches=D.N_BINS // D.BINS_PER_SEMITONE)
    roll = roll[:, start_frame:start_frame + n_frames]
    if arch == "pitchclass":
        roll = np.stack([roll[c::D.N_CHROMA].max(0) for c in range(D.N_CHROMA)])
    elif arch == "ctc-chroma":  # salience: the centre bin of each semitone's three
        k = D.BINS_PER_SEMITONE
        bins = np.zeros((roll.shape[0] * k, roll.shape[1]), dtype=roll.dtype)
        bins[k // 2::k] = roll
        roll = bins
    return roll.T.astype(np.float32)


def ctc_path(notes, n_frames: int, start_frame: int, shift: int, feature_rate: float,
             onset_frames: int = TrainConfig.onset_frames) -> np.ndarray:
    """(n_frames,) class per frame of one CTC path through the top voice of note labels: the
    pitch class (C=0) of each note in its first ``onset_frames`` frames — all but its last
    frame, so that repeated pitch classes stay apart — and ε (``BLANK``) elsewhere.

    Frames are timed by ``NoteList.frame_spans``; collapsed, the path is the top voice's
    label sequence, the target ``--loss ctc`` learns without timing."""
    top = notes.top_voice().transpose(shift)
    path = np.full(start_frame + n_frames, BLANK, dtype=np.int64)
    first, stop = top.frame_spans(feature_rate)
    last = np.minimum(first + onset_frames, np.maximum(stop - 1, first + 1))
    for c, a, b in zip(top.pitch % D.N_CHROMA, first, last):
        path[max(a, 0):max(b, 0)] = c
    return path[start_frame:]


class Batcher:
    """Draws (augmented) batches from the cached HCQTs; deterministic given its rng."""

    def __init__(self, items: list[Item], hcqts: dict[Path, np.ndarray], features: dict, cfg: TrainConfig):
        self.items, self.hcqts, self.features, self.cfg = items, hcqts, features, cfg
        self.fr = float(features["feature_rate"])
        self.bins_per_semitone = int(features["bins_per_octave"]) // D.N_CHROMA
        self.crop = int(round(cfg.crop_seconds * self.fr))

    def frames(self, it: Item) -> tuple[int, int]:
        n = self.hcqts[it.audio].shape[-1]
        if self.cfg.loss == "ctc":
            a = min(n - 1, int(round(it.start * self.fr)))
            return a, max(a + 1, min(n, int(round(it.end * self.fr))))
        return 0, n

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        """Index batches for one epoch; ctc batches group excerpts of similar length."""
        idx = rng.permutation(len(self.items))
        bs = self.cfg.batch_size
        if self.cfg.loss == "ctc":
            chunk = bs * 32
            lengths = np.array([np.subtract(*self.frames(self.items[i])[::-1]) for i in idx])
            order = np.concatenate([idx[s:s + chunk][np.argsort(lengths[s:s + chunk], kind="stable")]
                                    for s in range(0, len(idx), chunk)])
        else:
            order = idx
        batches = [order[s:s + bs].tolist() for s in range(0, len(order), bs)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, indices: list[int], rng: np.random.Generator | None) -> dict[str, Any]:
        """Inputs (B, H, T, F) and targets; ``rng`` None: no augmentation, validation crops."""
        import torch

        from .deep import model_input

        xs, ys, lens = [], [], []
        for i in indices:
            it = self.items[i]
            H = self.hcqts[it.audio]
            k = int(rng.integers(-self.cfg.max_transpose, self.cfg.max_transpose + 1)) if rng is not None else 0
            if self.cfg.loss == "ctc":
                a, b = self.frames(it)
                ys.append([(c + k) % D.N_CHROMA for c in it.target])
            else:
                n = H.shape[-1]
                if n > self.crop:
                    a = int(rng.integers(0, n - self.crop + 1)) if rng is not None else (n - self.crop) // 2
                else:
                    a = 0
                b = min(n, a + self.crop)
                if self.cfg.loss == "ce":
                    ys.append(ctc_path(it.notes, b - a, a, k, self.fr, self.cfg.onset_frames))
                else:
                    ys.append(frame_targets(it.notes, b - a, a, self.cfg.architecture, k, self.fr,
                                            self.cfg.voices))
            x = shift_bins(H[:, :, a:b].astype(np.float32), k * self.bins_per_semitone)
            xs.append(model_input(x, self.features))
            lens.append(b - a)
        T = max(lens)
        X = torch.zeros((len(xs), xs[0].shape[0], T, xs[0].shape[2]))
        for j, x in enumerate(xs):
            X[j, :, : x.shape[1]] = x
        out: dict[str, Any] = {"x": X,
                               "lengths": torch.tensor(lens)}
        if self.cfg.loss == "ctc":
            out["targets"] = torch.tensor([c for y in ys for c in y], dtype=torch.long)
            out["target_lengths"] = torch.tensor([len(y) for y in ys])
        elif self.cfg.loss == "ce":
            Y = torch.full((len(ys), T), IGNORE, dtype=torch.long)
            for j, y in enumerate(ys):
                Y[j, : y.shape[0]] = torch.from_numpy(y)
            out["classes"] = Y
        else:
            Y = torch.zeros((len(ys), T, ys[0].shape[1]))
            mask = torch.zeros((len(ys), T, 1))
            for j, y in enumerate(ys):
                Y[j, : y.shape[0]] = torch.from_numpy(y)
                mask[j, : y.shape[0]] = 1
            out["y"], out["mask"] = Y, mask
        return out


def batch_loss(model, batch: dict[str, Any], cfg: TrainConfig, device: str):
    """Mean loss of a batch (CTC per target length as in torch's "mean"; BCE per frame and
    output; CE per frame)."""
    import torch

    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16"):
        return _batch_loss(model, batch, cfg, device)


def _batch_loss(model, batch: dict[str, Any], cfg: TrainConfig, device: str):
    import torch
    from torch.nn import functional as F

    if cfg.loss in CONTRASTIVE:
        from .contrastive import info_nce

        return info_nce(model(batch["x"].to(device)))
    pretrain = cfg.loss == "bce" and cfg.architecture == "ctc-chroma"  # its salience, frame-wise
    logits = model(batch["x"].to(device), **({"output": "salience"} if pretrain else {}))
    if cfg.loss == "ctc":
        logp = torch.log_softmax(logits.float(), -1).transpose(0, 1)  # (T, B, 13)
        return F.ctc_loss(logp, batch["targets"].to(device), batch["lengths"].to(device),
                          batch["target_lengths"].to(device), blank=BLANK, reduction="mean",
                          zero_infinity=True)
    if cfg.loss == "ce":
        return F.cross_entropy(logits.float().flatten(0, 1), batch["classes"].to(device).flatten(),
                               ignore_index=IGNORE)
    mask = batch["mask"].to(device)
    bce = F.binary_cross_entropy_with_logits(logits.float(), batch["y"].to(device), reduction="none")
    return (bce * mask).sum() / (mask.sum() * logits.shape[-1]).clamp_min(1)
