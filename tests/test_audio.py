from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from chromatool import defaults as D
from chromatool.audio import load_audio
from chromatool.errors import AudioError

from conftest import REAL, need


def test_missing(tmp_path):
    with pytest.raises(AudioError, match="nope.wav: no such file"):
        load_audio(tmp_path / "nope.wav")


def test_unreadable(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_text("not audio at all")
    with pytest.raises(AudioError, match="junk.wav: cannot read audio"):
        load_audio(p)


def test_truncated(tmp_path):
    p = tmp_path / "full.wav"
    sf.write(p, 0.1 * np.sin(np.arange(22050) / 10), 22050)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(p.read_bytes()[:3000])
    with pytest.raises(AudioError, match="cut.wav: audio is truncated"):
        load_audio(cut)


def test_empty_and_silent(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0), 22050)
    sf.write(tmp_path / "silent.flac", np.zeros(4000), 22050)
    with pytest.raises(AudioError, match="empty.wav: audio is empty"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="silent.flac: audio is silent"):
        load_audio(tmp_path / "silent.flac")


def test_folder(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
def test_formats_and_resampling(tmp_path, ext):
    sr = 44100
    y = 0.2 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    st = np.stack([y, y], axis=1)
    p = tmp_path / f"a.{ext}"
    sf.write(p, st, sr)
    out = load_audio(p)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - D.SAMPLE_RATE) < 2000  # mp3 adds encoder padding
    spec = np.abs(np.fft.rfft(out[:D.SAMPLE_RATE // 2]))
    assert abs(np.argmax(spec) * 2 - 440) <= 2


def test_decoded_block_by_block_equals_whole_file_resampling(tmp_path, monkeypatch):
    import soxr

    from chromatool import audio

    rng = np.random.default_rng(0)
    st = (0.1 * rng.standard_normal((3 * 44100 + 17, 2))).astype(np.float32)
    p = tmp_path / "a.wav"
    sf.write(p, st, 44100, subtype="FLOAT")
    monkeypatch.setattr(audio, "READ_BLOCK_FRAMES", 10000)  # 14 blocks, the last partial
    y = load_audio(p)
    ref = soxr.resample(st.mean(axis=1), 44100, D.SAMPLE_RATE, quality="HQ")
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_real_stereo_48k():
    p = need(REAL / "maestro_stub" / "MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.wav")
    info = sf.info(p)
    assert info.channels == 2 and info.samplerate == 48000
    y = load_audio(p)
    assert y.ndim == 1 and abs(y.size - round(info.duration * D.SAMPLE_RATE)) <= 2
