from __future__ import annotations

import numpy as np
import pytest

from chromatool import defaults as D
from chromatool import dtw
from chromatool.errors import ParameterError

CLASSIC = dict(step_sizes=((1, 0), (0, 1), (1, 1)), step_weights=(1, 1, 1))


def test_fmp_dtw_example_by_hand():
    # Müller, Fundamentals of Music Processing §3.2: X = (1,3,3,8,1), Y = (2,0,0,8,7,2), |x - y|
    X = np.array([1, 3, 3, 8, 1.0])
    Y = np.array([2, 0, 0, 8, 7, 2.0])
    C = np.abs(X[:, None] - Y[None, :])
    total, Dm, wp = dtw.dtw(C, **CLASSIC)
    expected = np.array([
        [1, 2, 3, 10, 16, 17],
        [2, 4, 5, 8, 12, 13],
        [3, 5, 7, 10, 12, 13],
        [9, 11, 13, 7, 8, 14],
        [10, 10, 11, 14, 13, 9],
    ])
    np.testing.assert_array_equal(Dm, expected)
    assert total == 9
    assert wp.shape[0] == 2 and tuple(wp[:, 0]) == (0, 0) and tuple(wp[:, -1]) == (4, 5)
    assert C[wp[0], wp[1]].sum() == 9


def test_fmp_subsequence_dtw_example_by_hand():
    # FMP §7.2.3: query X = (3,0,6) in Y = (2,4,0,4,0,0,5,2): best match Y[3:7] with cost 2
    X = np.array([3, 0, 6.0])
    Y = np.array([2, 4, 0, 4, 0, 0, 5, 2.0])
    C = np.abs(X[:, None] - Y[None, :])
    delta, Dm = dtw.subsequence_dtw(C, **CLASSIC)
    np.testing.assert_array_equal(Dm[-1], [7, 5, 7, 3, 7, 7, 2, 6])
    np.testing.assert_allclose(delta, Dm[-1] / 3)
    cost, wp = dtw.subsequence_path(C, **CLASSIC)
    assert cost == pytest.approx(2 / 3)
    np.testing.assert_array_equal(wp, [[0, 1, 1, 2], [3, 4, 5, 6]])


def test_weighted_steps_equal_librosa():
    librosa = pytest.importorskip("librosa")
    C = np.random.default_rng(1).random((20, 90))
    _, Dm = dtw.subsequence_dtw(C)
    ref = librosa.sequence.dtw(C=C, subseq=True, backtrack=False,
                               step_sizes_sigma=np.array(D.DTW_STEP_SIZES),
                               weights_add=np.zeros(3), weights_mul=np.array(D.DTW_STEP_WEIGHTS))
    np.testing.assert_allclose(Dm, ref)


def test_batched_matcher_equals_the_plain_recursion():
    rng = np.random.default_rng(2)
    qs = [rng.random((12, 30)), rng.random((12, 17)), rng.random((12, 1))]
    docs = [rng.random((12, 200)), rng.random((12, 45)), rng.random((12, 8))]
    cost, end = dtw.match_queries(qs, docs, threads=2)
    for i, q in enumerate(qs):
        for j, d in enumerate(docs):
            delta, _ = dtw.subsequence_dtw(dtw.cost_matrix_cosine(q, d))
            if np.isfinite(delta).any():
                assert cost[i, j] == pytest.approx(delta.min(), rel=1e-5)
                assert end[i, j] == np.argmin(delta)
            else:
                assert np.isinf(cost[i, j])


def test_query_cut_from_document_is_found_at_its_offset():
    rng = np.random.default_rng(3)
    doc = rng.random((12, 600)) ** 4
    q = doc[:, 250:330]
    cost, end = dtw.match_queries([q], [doc])
    assert end[0, 0] == 329 and cost[0, 0] < 1e-5
    c, wp, bounds = dtw.locate_match(q, doc, int(end[0, 0]))
    assert wp[1, 0] == 250 and wp[1, -1] == 329 and bounds == (250, 329)


def test_bad_steps():
    with pytest.raises(ParameterError, match="3 step sizes but 2 weights"):
        dtw.subsequence_dtw(np.ones((3, 3)), step_sizes=((1, 1), (1, 2), (2, 1)), step_weights=(1, 1))
    with pytest.raises(ParameterError, match="supports the steps"):
        dtw.match_queries([np.ones((12, 3))], [np.ones((12, 9))], **CLASSIC)
    with pytest.raises(ParameterError, match="different feature sizes"):
        dtw.match_queries([np.ones((12, 3))], [np.ones((6, 9))])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torch_matcher_equals_numba(device):
    torch = pytest.importorskip("torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA")
    from chromatool.dtw_torch import match_queries_torch

    rng = np.random.default_rng(5)
    qs = [rng.random((12, 20)), rng.random((12, 9))]
    docs = [rng.random((12, 120)), rng.random((12, 60)), rng.random((12, 5))]
    c1, e1 = dtw.match_queries(qs, docs)
    c2, e2 = match_queries_torch(qs, docs, device=device)
    np.testing.assert_allclose(c1, c2, rtol=1e-4)
    np.testing.assert_array_equal(e1, e2)
