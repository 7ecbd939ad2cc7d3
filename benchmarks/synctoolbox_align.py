"""Reference aligner for benchmarks/align_eval.py: the Sync Toolbox's MrMsDTW (Müller et al.,
JOSS 2021) with quantized chroma and DLNCO onset features at 50 Hz, estimated tuning and the
chroma shift of its audio-to-audio tutorial (step weights 1.5, 1.5, 2.0).

Runs in its own environment (synctoolbox pins its own numpy/numba/librosa):

    python3.11 -m venv .venv-sync && .venv-sync/bin/pip install synctoolbox==1.4.2
    .venv-sync/bin/python benchmarks/synctoolbox_align.py SCORE_RENDER.wav RECORDING.wav OUT.npy

Writes the warping path as a (2, L) array of seconds (score render, recording).
"""

import sys

import numpy as np

FEATURE_RATE = 50
SR = 22050


def features(y, tuning):
    from synctoolbox.feature.chroma import pitch_to_chroma, quantize_chroma
    from synctoolbox.feature.dlnco import pitch_onset_features_to_DLNCO
    from synctoolbox.feature.pitch import audio_to_pitch_features
    from synctoolbox.feature.pitch_onset import audio_to_pitch_onset_features

    f_pitch = audio_to_pitch_features(f_audio=y, Fs=SR, tuning_offset=tuning, feature_rate=FEATURE_RATE)
    f_chroma = quantize_chroma(f_chroma=pitch_to_chroma(f_pitch=f_pitch))
    f_onset = audio_to_pitch_onset_features(f_audio=y, Fs=SR, tuning_offset=tuning)
    f_dlnco = pitch_onset_features_to_DLNCO(f_peaks=f_onset, feature_rate=FEATURE_RATE,
                                            feature_sequence_length=f_chroma.shape[1], visualize=False)
    return f_chroma, f_dlnco


def main() -> None:
    import librosa
    from synctoolbox.dtw.mrmsdtw import sync_via_mrmsdtw
    from synctoolbox.dtw.utils import (compute_optimal_chroma_shift, make_path_strictly_monotonic,
                                       shift_chroma_vectors)
    from synctoolbox.feature.chroma import quantized_chroma_to_CENS
    from synctoolbox.feature.utils import estimate_tuning

    a, b, out = sys.argv[1:4]
    ya, _ = librosa.load(a, sr=SR)
    yb, _ = librosa.load(b, sr=SR)
    ca, oa = features(ya, estimate_tuning(ya, SR))
    cb, ob = features(yb, estimate_tuning(yb, SR))
    shift = compute_optimal_chroma_shift(quantized_chroma_to_CENS(ca, 201, 50, FEATURE_RATE)[0],
                                         quantized_chroma_to_CENS(cb, 201, 50, FEATURE_RATE)[0])
    cb, ob = shift_chroma_vectors(cb, shift), shift_chroma_vectors(ob, shift)
    wp = sync_via_mrmsdtw(f_chroma1=ca, f_onset1=oa, f_chroma2=cb, f_onset2=ob,
                          input_feature_rate=FEATURE_RATE, step_weights=np.array([1.5, 1.5, 2.0]),
                          threshold_rec=10**6, verbose=False)
    wp = make_path_strictly_monotonic(wp)
    np.save(out, wp.astype(np.float64) / FEATURE_RATE)


if __name__ == "__main__":
    main()
