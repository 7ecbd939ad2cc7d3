"""The features score-to-audio alignment compares (:mod:`chromatool.alignment`): both sides'
CQT (the score's from a FluidSynth piano render or from its notes), log-compressed chroma,
per-semitone log energy and per-semitone onsets at the alignment feature rate."""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .errors import ParameterError
from .features import cens_from_chroma, chroma_onsets, cqt, fold_to_chroma, normalize, semitones
from .score import NoteList

#: Onset features per score synthesis: folded to 12 chroma classes or kept per semitone, and
#: the decay of each onset's trace. Measured with FluidSynth on benchmarks/align_eval.py (onsets
#: or beats within 100 ms, smooth / expressive / ASAP): per semitone 97.2 / 94.5 / 90.1 %,
#: folded 95.4 / 93.5 / 88.2 % (decay 0.2 s); decay 0.05 s 99.2 / 96.2 / 91.7 %, 0.03 s 99.3 /
#: 95.5 / 91.8 %, 0.07 s 99.3 / 95.8 / 91.7 %, 0.1 s 99.1 / 95.5 / 91.4 %. The notes fallback keeps the onsets its
#: COST_WARNING levels were measured with.
ONSET_SETTINGS: dict[str, dict] = {"fluidsynth": {"fold": False, "decay_seconds": 0.05},
                                   "notes": {"fold": True, "decay_seconds": 0.2}}
#: Weights of the per-semitone log spectrum (72 rows, C1–B6) beside the chroma in the DTW
#: features, per score synthesis: (finest level, coarser levels). Chroma alone folds the
#: register away, so a bass tremolo and the runs above it look alike; measured on
#: benchmarks/align_eval.py (within 100 ms, smooth / expressive / ASAP without the skipped
#: repeat): chroma only 99.5 / 96.6 / 94.2 %, (0.25, 1) 99.6 / 96.6 / 94.8 %, (0.5, 1) 99.6 /
#: 96.5 / 94.7 %, (1, 2) 99.6 / 96.2 / 94.8 %, (0.1, 1) ASAP 94.8 %, (0.25, 1.5) 94.7 %, (0, 1)
#: 94.8 %, (0, 0.5) 94.3 %. The notes fallback keeps chroma alone (its partials are made up).
PITCH_WEIGHTS: dict[str, tuple[float, float]] = {"fluidsynth": (0.25, 1.0), "notes": (0.0, 0.0)}
#: Log compression of the CQT before folding to chroma: log(1 + gamma * C / max C).
LOG_GAMMA: float = 10.0
#: Frames this far (dB) below the loud frames of their side are silence.
SILENCE_DB: float = 40.0
#: CENS smoothing (frames at the alignment rate) of the coarse levels' chroma (0: plain chroma).
#: Measured on both evaluation sets: quantised without smoothing (1) beats 9, 21 and 41 frames.
COARSE_WINDOW: int = 1
#: Silence (seconds) around the score render, so that silence, applause or talk before and
#: after the music in a recording has something to match.
PAD_SECONDS: float = 1.0
#: Seconds of the score render kept after its last note ends. FluidSynth renders until every
#: voice has died away (seconds of a piano's release); a recording's quiet last chords then
#: matched that tail while the score's last notes were squeezed into a frame or two. Measured on
#: benchmarks/align_eval.py's cases (wrong onsets or beats, smooth / expressive / ASAP): the whole
#: tail 57 / 288 / 304, 1 s 59 / 288 / 299, 0.3 s 59 / 288 / 302.
RENDER_TAIL_SECONDS: float = 1.0
#: GM program the score is rendered with: a piano, whose sharp attacks give crisp onset
#: features whatever the recording's instruments (measured on the expressive set: 97.0 % of
#: onsets within 100 ms against 94.2 % with the score's own instruments).
RENDER_PROGRAM: int | None = 0
#: Score synthesis choices.
SYNTHESES: tuple[str, ...] = ("auto", "fluidsynth", "notes")


def alignment_features(C: np.ndarray, feature_rate: float, *, onsets: dict | None = None) -> dict[str, np.ndarray]:
    """Alignment features of a CQT magnitude (216, N): log-compressed chroma and its CENS-like
    smoothed version for the coarse levels, each (12, N), the log-compressed energy per
    semitone ("pitch", (72, N)) and onsets per semitone (72, N) (or as ``onsets`` says:
    ``ONSET_SETTINGS``, FluidSynth's by default). Frames more than ``SILENCE_DB`` below the
    loud frames are silence: zero (compared as uniform vectors); columns are ℓ2-normalised."""
    ref = max(float(C.max()), 1e-12) if C.size else 1.0
    E = C.sum(axis=0)
    loud = max(float(np.quantile(E, 0.95)), 1e-12) if E.size else 1.0
    silent = E < loud * 10 ** (-SILENCE_DB / 20)
    ch = fold_to_chroma(np.log1p(LOG_GAMMA * C / ref))
    S = semitones(C)  # once: the semitone energies and the onsets both start from it
    pitch = np.log1p(LOG_GAMMA * S / max(float(S.max()), 1e-12)) if S.size else S
    on = chroma_onsets(S, feature_rate=feature_rate, **(onsets or ONSET_SETTINGS["fluidsynth"]))
    for F in (ch, pitch, on):
        F[:, silent] = 0
    ch = normalize(ch)
    coarse = cens_from_chroma(ch, window=COARSE_WINDOW) if COARSE_WINDOW else ch
    return {"chroma": ch, "coarse": coarse, "pitch": normalize(pitch), "onsets": on}


def dtw_features(X: dict[str, np.ndarray], weights: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The (fine, coarse) features DTW compares: chroma and CENS-like chroma, each stacked with
    the per-semitone log spectrum at ``weights`` (``PITCH_WEIGHTS``) and ℓ2-normalised."""
    return tuple(normalize(np.vstack([X[k], w * X["pitch"]])) if w > 0 else X[k]
                 for k, w in zip(("chroma", "coarse"), weights))


def recording_cqt(y: np.ndarray, feature_rate: float, cents: float = 0.0) -> np.ndarray:
    """CQT magnitude (216, N) of a recording with the filters centred on its tuning."""
    return cqt(y, feature_rate=feature_rate, tuning=cents).data


def note_cqt(notes: NoteList, feature_rate: float, *, n_partials: int = 4) -> np.ndarray:
    """A CQT-like pitch roll made from the note list itself (no synthesis): each note a
    velocity-weighted, decaying trace at the bins of its first ``n_partials`` harmonics
    (amplitude 1/h), as a plucked or struck string would leave."""
    n = int(np.ceil(notes.duration * feature_rate)) + 1
    C = np.zeros((D.N_BINS, n), dtype=np.float32)
    offsets = [int(round(D.BINS_PER_OCTAVE * np.log2(h))) for h in range(1, n_partials + 1)]
    for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity):
        b = (p - D.MIDI_MIN) * D.BINS_PER_SEMITONE
        a0 = int(round(on * feature_rate))
        a1 = min(n, max(a0 + 1, int(round(off * feature_rate))))
        if a0 >= n:
            continue
        env = np.exp(-np.arange(a1 - a0) / (2.0 * feature_rate)) * (v / 127.0)
        for h, k in enumerate(offsets, start=1):
            if 0 <= b + k < D.N_BINS:
                C[b + k, a0:a1] += env / h
    return C


def score_cqt(notes: NoteList, feature_rate: float, *, synthesis: str = "auto",
              soundfont: str | None = None) -> tuple[np.ndarray, str]:
    """The score side's CQT: of a FluidSynth rendering (``RENDER_TAIL_SECONDS`` of its release
    after the last note), or made from the notes, with ``PAD_SECONDS`` of silence before and
    after."""
    from .render import can_render, render

    if synthesis not in SYNTHESES:
        raise ParameterError(f"synthesis must be one of {', '.join(SYNTHESES)}, got {synthesis!r}")
    pad = int(round(PAD_SECONDS * feature_rate))
    if synthesis == "fluidsynth" or (synthesis == "auto" and can_render()):
        y = render(notes, soundfont=soundfont, program=RENDER_PROGRAM)
        y = y[: int(round((float(notes.offset.max()) + RENDER_TAIL_SECONDS) * D.SAMPLE_RATE))]
        hop = D.hop_length(D.SAMPLE_RATE, feature_rate)
        y = np.concatenate([np.zeros(pad * hop, np.float32), y, np.zeros(pad * hop, np.float32)])
        return recording_cqt(y, feature_rate), "fluidsynth"
    return np.pad(note_cqt(notes, feature_rate), ((0, 0), (pad, pad))), "notes"
