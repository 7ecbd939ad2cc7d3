from __future__ import annotations

import numpy as np
import pytest

from chromatool import defaults as D
from chromatool import features as F
from chromatool.errors import ParameterError

from conftest import SR, tone


def test_c4_sine_peaks_at_its_hcqt_bin_and_at_chroma_c():
    y = tone(60)
    H = F.hcqt(y).data
    assert H.shape == (6, D.N_BINS, 1 + y.size // D.hop_length())
    c4_bin = (60 - D.MIDI_MIN) * D.BINS_PER_SEMITONE
    assert int(np.argmax(H[1].mean(-1))) == c4_bin
    # harmonic h holds f0 where f0 = h * bin frequency: h=2 one octave lower in bins
    assert int(np.argmax(H[2].mean(-1))) == c4_bin - D.BINS_PER_OCTAVE
    assert int(np.argmax(H[0].mean(-1))) == c4_bin + D.BINS_PER_OCTAVE
    assert int(np.argmax(F.chroma(y).data.mean(-1))) == 0


def test_c_major_triad_chroma_has_c_e_g_on_top():
    y = tone([60, 64, 67], harmonics=6)
    for kind in ("chroma", "cens", "stft-chroma"):
        c = F.compute(kind, y).data.mean(-1)
        assert set(np.argsort(c)[-3:]) == {0, 4, 7}, kind


def test_hcqt_matches_librosa_cqt_log_magnitudes():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    y = (tone([48, 55, 64, 71], seconds=3, harmonics=8) + 0.01 * rng.standard_normal(3 * SR)).astype(np.float32)
    H = F.hcqt_magnitude(y, harmonics=(1.0, 3.0))
    for i, h in enumerate((1.0, 3.0)):
        ref = np.abs(librosa.cqt(y, sr=SR, hop_length=D.hop_length(), fmin=D.FMIN * h,
                                 n_bins=D.N_BINS, bins_per_octave=D.BINS_PER_OCTAVE))
        a = librosa.amplitude_to_db(H[i], ref=np.max)
        b = librosa.amplitude_to_db(ref, ref=np.max)
        assert a.shape == b.shape
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_torch_engine_matches_numpy_engine_on_cpu():
    pytest.importorskip("torch")
    from chromatool.hcqt_torch import TorchEngine

    y = tone([50, 62], seconds=1.5, harmonics=4)
    a = F.hcqt_magnitude(y)
    b = F.hcqt_magnitude(y, engine=TorchEngine("cpu"))
    np.testing.assert_allclose(a, b, atol=1e-4 * a.max())


def test_long_signals_in_blocks_equal_the_whole_signal():
    # blocks of 512 frames with 512-frame margins: four segments, boundaries inside notes and
    # odd frame offsets at the deepest decimation (where np.rint's ties to even would show)
    rng = np.random.default_rng(1)
    y = np.concatenate([tone(m, seconds=8, harmonics=4) for m in (31, 45, 52, 64, 76, 40, 57, 69, 36)])
    y = (y + 0.01 * rng.standard_normal(y.size)).astype(np.float32)
    whole = F.hcqt_magnitude(y, block_frames=10**9)
    blocks = F.hcqt_magnitude(y, block_frames=300)
    hop = D.hop_length()
    plans = [F.cqt_plan(freqs=tuple(f.tolist()), sr=SR, hop=hop, bins_per_octave=D.BINS_PER_OCTAVE)
             for f, _ in F.hcqt_frequency_groups(D.HCQT_HARMONICS, fmin=D.FMIN, n_bins=D.N_BINS,
                                                 bins_per_octave=D.BINS_PER_OCTAVE)]
    segments = F.analysis_blocks(y.size, hop=hop, plans=plans, block_frames=300)
    assert len(segments) > 2
    assert [d.start for _, _, d in segments] == list(range(0, whole.shape[-1], segments[0][2].stop))
    np.testing.assert_allclose(blocks, whole, rtol=1e-4, atol=1e-6 * whole.max())
    np.testing.assert_allclose(F.cqt(y).data, whole[1], rtol=1e-4, atol=1e-6 * whole.max())


def test_torch_engine_matches_numpy_engine_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    from chromatool.hcqt_torch import TorchEngine

    y = tone([50, 62], seconds=5, harmonics=4)
    a = F.hcqt_magnitude(y)
    b = F.hcqt_magnitude(y, engine=TorchEngine("cuda"))
    np.testing.assert_allclose(a, b, atol=1e-3 * a.max())


def test_log_compress_range():
    H = F.hcqt(tone(57)).data
    assert H.min() >= 0 and H.max() == pytest.approx(1.0)


def test_features_carry_their_rate():
    f = F.compute("chroma", tone(60, seconds=1), feature_rate=50)
    assert f.feature_rate == 50
    assert f.n_frames == 1 + SR // 441
    assert f.metadata()["feature_rate"] == 50


def test_bad_feature_rate_and_kind():
    with pytest.raises(ParameterError, match="non-integer hop"):
        F.compute("chroma", tone(60), feature_rate=23)
    with pytest.raises(ParameterError, match="unknown feature kind 'mfcc'"):
        F.compute("mfcc", tone(60))
    with pytest.raises(ParameterError, match="mono"):
        F.cqt(np.zeros((2, 100), dtype=np.float32))


def test_chroma_fold_is_the_papers_fixed_pooling():
    X = np.zeros((D.N_BINS, 1), dtype=np.float32)
    X[[0, 1, 2, 36, 37, 38], 0] = 1  # C1 and C2 with the two bins above each
    X[3, 0] = 5  # C#1
    c = F.fold_to_chroma(X, centered=False)[:, 0]
    assert c[0] == 6 and c[1] == 5 and c[2:].sum() == 0
    c = F.fold_to_chroma(X, centered=True)[:, 0]  # bin 2 and 38 (C + 2/3) now count as C#
    assert c[0] == 4 and c[1] == 7 and c[11] == 0


@pytest.mark.parametrize("n", [1, 40, 32767, 32768, 100_003])
def test_fft_decimation_filter_equals_direct_convolution(n):
    from chromatool.cqt_engine import decimation_filter, fir_convolve

    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    for h in (decimation_filter()[0::2], decimation_filter()[1::2]):
        got = fir_convolve(x, h)
        assert got.dtype == np.float32 and got.shape == (n + h.size - 1,)
        np.testing.assert_allclose(got, np.convolve(x.astype(np.float64), h), atol=2e-6)
