"""Every default of chromatool, defined once and derived from a few base values.

The CLI, the core functions and the tests read these names; nothing else writes the numbers.
"""

from __future__ import annotations

#: Analysis sample rate (Hz); all audio is resampled to it.
SAMPLE_RATE: int = 22050
#: Feature rate (frames per second) of every feature chromatool returns by default.
FEATURE_RATE: float = 25.0

#: HCQT of Bittner et al. / Zalkow & Müller: harmonics, resolution, range.
HCQT_HARMONICS: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
BINS_PER_SEMITONE: int = 3
BINS_PER_OCTAVE: int = 12 * BINS_PER_SEMITONE
N_OCTAVES: int = 6
N_BINS: int = N_OCTAVES * BINS_PER_OCTAVE  # 216
#: MIDI pitch of the lowest HCQT bin (C1).
MIDI_MIN: int = 24
FMIN: float = 440.0 * 2.0 ** ((MIDI_MIN - 69) / 12.0)  # 32.70 Hz
#: dB range of the log-HCQT (values mapped to dB / DB_RANGE + 1, floored at 0).
DB_RANGE: float = 80.0

#: Chroma: number of pitch classes.
N_CHROMA: int = 12
#: CENS smoothing window (frames at the feature rate) and downsampling (1 = keep the rate).
CENS_WINDOW: int = 41

#: Feature kinds ``features`` can compute.
FEATURE_KINDS: tuple[str, ...] = ("hcqt", "cqt", "chroma", "cens", "stft-chroma")
DEFAULT_FEATURE_KIND: str = "chroma"

#: Subsequence DTW of Zalkow & Müller §4.2: steps (query, document) and their weights.
DTW_STEP_SIZES: tuple[tuple[int, int], ...] = ((2, 1), (1, 2), (1, 1))
DTW_STEP_WEIGHTS: tuple[float, ...] = (2.0, 1.0, 1.0)

#: Feature rate of score-to-audio alignment (finer than retrieval: onsets matter).
ALIGN_FEATURE_RATE: float = 50.0

#: Retrieval defaults.
RETRIEVE_TOP_K: int = 10
#: The features retrieve matches by default: the best on validation, on ensembles and on piano,
#: of those that put every real theme in ../shared/data first (benchmarks/deep_retrieval.py,
#: MRR; docs/retrieval.md). Session 32: "fused", the DTW costs of two deep chromas and the
#: melody chroma mixed (FUSED_PARTS): 0.761 / 0.747 / 0.930 / 0.843 on the Monteverdi renders,
#: the same with vibrato, Beethoven renders and ASAP piano performances, where session 31's
#: fused (one deep chroma 0.7 + melody 0.3) gave 0.711 / 0.701 / 0.919 / 0.843 and the deep
#: chroma alone 0.709 / 0.677 / 0.886 / 0.844; all three MTD themes first among the real recordings.
#: On fresh32, rendered after the choice: 0.758 (session 31's fused 0.720, the authors' weights 0.700).
RETRIEVE_FEATURES: str = "fused"
#: ``retrieve --features fused``: (kind, packaged model, weight) of each feature whose
#: subsequence-DTW cost it mixes at one transposition; the weights sum to 1 (session 32:
#: chosen from melody weights 0.3 / 0.2 on the four validation sets above; docs/retrieval.md).
FUSED_PARTS: tuple[tuple[str, str, float], ...] = (
    ("deep", "ctc-chroma", 0.4), ("deep", "ctc-chroma-large", 0.4), ("melody", "multipitch", 0.2))
#: How long the melody chroma holds a top-line note past its salience (seconds).
MELODY_HOLD_SECONDS: float = 0.2
#: The features a theme index holds by default: hand-made, so that an archive of thousands of
#: hours is indexed fast (benchmarks/index.py measured it with these).
INDEX_FEATURES: str = "stft-chroma"

#: Theme index (Zalkow, Brandner & Müller 2021): features downsampled by INDEX_DOWNSAMPLE (25 Hz
#: → 2.5 Hz), shingles of INDEX_SHINGLE frames (4 s) every INDEX_HOP frames (0.8 s), reduced to
#: INDEX_DIMS by a truncated SVD; a query is shingled at each of INDEX_TEMPI (its notated tempo is a guess),
#: each shingle's INDEX_NEIGHBOURS nearest are looked up, and the INDEX_CANDIDATES best documents
#: are re-ranked by exact subsequence DTW (chosen on the synthetic retrieval set: benchmarks/index.py).
INDEX_DOWNSAMPLE: int = 10
INDEX_SHINGLE: int = 10
INDEX_HOP: int = 2
INDEX_QUERY_HOP: int = 2
INDEX_DIMS: int = 64
INDEX_TEMPI: tuple[float, ...] = tuple(round(2.0 ** (k / 4), 3) for k in range(-3, 4))  # 0.59 … 1.68
INDEX_NEIGHBOURS: int = 64
INDEX_CANDIDATES: int = 50

#: Activation from which a semitone counts as sounding (multi-pitch output): the best pooled F
#: of the packaged multipitch model on a tuning set of 8 Beethoven pieces rendered with today's
#: realistic chain (`chromatool dataset DIR --composers beethoven --pieces 8 --seed 5
#: --excerpts 0`), each recording's tuning estimated as `extract` runs it. Session 22 (stage 5,
#: the log-HCQT without per-frame normalisation): 0.35 0.619, 0.4 0.624, 0.45 0.620, 0.5 0.613,
#: 0.55 0.603, 0.6 0.588 (stage 4 had 0.614 at 0.45). Session 29 (stage 10, stages 8 and 9
#: averaged): 0.3 0.627, 0.35 0.628, 0.4 0.627, 0.45 0.623. Validation: benchmarks/multipitch.py.
PITCH_THRESHOLD: float = 0.35

#: Tuning of recordings: "auto" estimates each recording's deviation from A440 and centres the
#: CQT filters on it; a number forces that many cents.
TUNING: str = "auto"

#: Output formats for arrays.
ARRAY_FORMATS: tuple[str, ...] = ("npy", "npz")

#: Devices; the library computes on DEVICE unless told otherwise (the CLI's --device is "auto").
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DEVICE: str = "cpu"

#: What a deep model outputs by default (extract --kind): its chroma.
DEEP_KIND: str = "chroma"

#: Arithmetic of a network's forward pass (training: float32 or bfloat16 autocast, on the CPU
#: about 3x faster for the multi-pitch network, benchmarks/train_step.py); at inference also
#: "auto", the default: bfloat16 autocast on a CPU
#: with bfloat16 units (AVX512-BF16 or AMX: about 3x faster, posteriors within 0.02 of
#: float32's), else "int8" on a CPU with VNNI units (``chromatool.int8``: the convolutions in
#: 8-bit integers, 1.5-2.4x faster, retrieval and multi-pitch figures those of float32), and
#: float32 elsewhere.
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
INFERENCE_PRECISIONS: tuple[str, ...] = ("auto", *PRECISIONS, "int8")
#: Normalisations of the HCQT a model reads: "l2" per frame and harmonic (Zalkow & Müller §3),
#: "none" (the log-HCQT as it is, so quiet frames and room noise stay quiet), or "both" (the two
#: stacked: twice the input channels, the network sees each frame's level and its shape).
INPUT_NORMS: tuple[str, ...] = ("l2", "none", "both")
INFERENCE_PRECISION: str = "auto"


def hop_length(sample_rate: int = SAMPLE_RATE, feature_rate: float = FEATURE_RATE) -> int:
    """Hop in samples for a feature rate; raises if the rate does not divide the sample rate."""
    from .errors import ParameterError

    if feature_rate <= 0:
        raise ParameterError(f"feature rate must be positive, got {feature_rate}")
    hop = sample_rate / feature_rate
    if abs(hop - round(hop)) > 1e-6:
        raise ParameterError(
            f"feature rate {feature_rate} Hz gives a non-integer hop at {sample_rate} Hz "
            f"({hop:.3f} samples); choose a rate that divides {sample_rate}"
        )
    return int(round(hop))
