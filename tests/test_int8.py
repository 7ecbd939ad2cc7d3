"""8-bit inference (chromatool.int8): close to float32 on random and packaged networks, the same
bits whatever the thread count, CPU only, and part of the deep chroma cache key."""

from __future__ import annotations

import numpy as np
import pytest

from chromatool import defaults as D
from chromatool.errors import ModelError, ParameterError

from conftest import REAL, need

torch = pytest.importorskip("torch")
int8 = pytest.importorskip("chromatool.int8")
needs_vnni = pytest.mark.skipif(not int8.supported(), reason="no oneDNN 8-bit convolutions on this CPU")
OP67 = REAL / "musopen" / "Beethoven_Op067-01_DavidHighSchool.wav"


def _nets():
    from chromatool.models import CTCChroma, CTCChromaConfig, MultiPitch, MultiPitchConfig

    torch.manual_seed(0)
    return [CTCChroma(CTCChromaConfig(channels=(8, 4), distribute_channels=4)).eval(),
            CTCChroma(CTCChromaConfig(channels=(8,), distribute_channels=3, distribute_kernel=(3, 41))).eval(),
            MultiPitch(MultiPitchConfig(prefilter_channels=6, binning_channels=5, time_channels=4)).eval(),
            MultiPitch(MultiPitchConfig(input_views=2)).eval()]


@needs_vnni
@pytest.mark.parametrize("i", range(4))
def test_int8_network_follows_the_float_network(i):
    """Same logits to 8-bit rounding for odd and even kernels, folded and strided layers; the
    first frames and bins (where the padding is) as close as the rest."""
    net = _nets()[i]
    x = torch.rand(1, 6 * net.config.input_views, 120, 216)
    with torch.inference_mode():
        ref, got = net(x), int8.Int8Network(net)(x)
    assert got.shape == ref.shape
    squash = torch.softmax if net.config.arch == "ctc-chroma" else (lambda t, dim: torch.sigmoid(t))
    gap = (squash(got, -1) - squash(ref, -1)).abs()
    assert gap.max() < 0.05 and gap.mean() < 0.01
    assert gap[:, :3].max() < 0.05 and gap[..., :3].max() < 0.05


def test_int8_refuses_what_it_does_not_run():
    from chromatool.device import resolve_precision
    from chromatool.models import MultiPitch, MultiPitchConfig

    pitchclass = MultiPitch(MultiPitchConfig(arch="pitchclass"))
    with pytest.raises(ModelError, match="pitchclass"):
        int8.Int8Network(pitchclass)
    assert resolve_precision("auto", "cpu", pitchclass) != "int8"  # auto falls back for it
    with pytest.raises(ParameterError, match="CPU only"):
        resolve_precision("int8", "cuda")
    assert resolve_precision("auto", "cpu") in D.INFERENCE_PRECISIONS


@needs_vnni
def test_int8_layers_sum_exactly_with_channels_padded_where_onednn_does_not():
    """Every 8-bit layer of the packaged networks gives the exact sums of its codes (oneDNN on
    CPUs with AMX units gets some shapes wrong, the multi-pitch prefilter's among them: such a
    layer runs with its input channels padded), and padding changes no output."""
    from chromatool.deep import load_model

    for name, output in ((None, "chroma"), ("ctc-chroma-large", "chroma"), (None, "pitch")):
        for layer, _ in int8.Int8Network(load_model(name, output=output).model).layers:
            assert getattr(layer, "conv", layer).exact()
    torch.manual_seed(0)
    w, b = torch.randn(80, 24, 5, 8), torch.randn(80)  # the packaged multi-pitch prefilter's shape
    plain = int8.QuantizedConv(w, b, padding=(2, 0))
    padded = int8.QuantizedConv(w, b, padding=(2, 0), channel_multiple=int8.CHANNEL_MULTIPLE)
    assert padded.codes.shape[1] == int8.CHANNEL_MULTIPLE and padded.exact()
    q, scale, zero = int8.quantize_input(torch.rand(1, 24, 50, 30).contiguous(memory_format=torch.channels_last))
    assert torch.allclose(plain(q, scale, zero), padded(q, scale, zero), atol=1e-4)


@needs_vnni
def test_packaged_models_in_int8_follow_float32():
    """On a real orchestra recording: the deep chroma's frames within 0.01 of float32's in
    cosine, the pitch salience's decisions at the default threshold on 99 % of the cells."""
    from chromatool.audio import load_audio
    from chromatool.deep import deep_features, load_model

    y = load_audio(need(OP67))
    for output, name in (("chroma", None), ("chroma", "ctc-chroma-large"), ("pitch", None)):
        lm = load_model(name, output=output)
        f32, i8 = (deep_features(y, lm, output=output, precision=p, tuning=0) for p in ("float32", "int8"))
        assert i8.params["precision"] == "int8" and f32.data.shape == i8.data.shape
        if output == "chroma":
            assert (f32.data * i8.data).sum(0).min() > 0.99
        else:
            on32, on8 = f32.data >= D.PITCH_THRESHOLD, i8.data >= D.PITCH_THRESHOLD
            assert (on32 == on8).mean() > 0.99 and abs(int(on32.sum()) - int(on8.sum())) < 0.05 * on32.sum()


@needs_vnni
def test_int8_chunks_give_the_same_bits_on_one_thread_and_two():
    from chromatool.deep import load_model, network_output

    lm = load_model(None, output="pitch")
    H = np.random.default_rng(0).random((6, 216, 700)).astype(np.float32)
    outs = []
    for threads in (1, 2):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            outs.append(network_output(lm, H, magnitude_ref=1.0, precision="int8", chunk_frames=300))
        finally:
            torch.set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_deep_chroma_cache_key_names_the_precision(tmp_path):
    from chromatool.retrieval import DocFeatureTask

    keys = [DocFeatureTask(tmp_path / "a.wav", "deep", 25.0, "cpu", None, "m.pt", "abc", 0.0, p).params()
            for p in ("float32", "int8")]
    assert keys[0]["precision"] == "float32" and keys[1]["precision"] == "int8"
    assert "precision" not in DocFeatureTask(tmp_path / "a.wav", "chroma", 25.0, "cpu", None).params()
