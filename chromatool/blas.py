"""Matrix products whose bits do not depend on how many threads BLAS runs.

>>> import numpy as np
>>> from chromatool.blas import reproducible_matmul
>>> a, b = np.ones((3000, 4), np.float32), np.ones((4, 2), np.float32)
>>> reproducible_matmul(a, b)[0].tolist()
[4.0, 4.0]
"""

from __future__ import annotations

import functools

import numpy as np


#: Rows of each single-threaded block of :func:`reproducible_matmul`.
MATMUL_BLOCK_ROWS: int = 1024


def reproducible_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with the same bits whatever the number of BLAS threads: fixed blocks of
    ``MATMUL_BLOCK_ROWS`` rows, each a single-threaded product, the blocks spread over as many
    threads as BLAS had. A threaded BLAS splits a product differently for 1 and 2 threads, and the
    last bits of the CQT then differ; the networks' bfloat16 input would turn them into posteriors
    0.005 apart between ``OMP_NUM_THREADS=1`` (a Dask worker, a batch scheduler) and a laptop."""
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    blocks = [slice(i, min(i + MATMUL_BLOCK_ROWS, a.shape[0])) for i in range(0, a.shape[0], MATMUL_BLOCK_ROWS)]
    blas = _blas()
    threads = max([1, *(lib.num_threads for lib in blas.lib_controllers)])
    with blas.limit(limits=1):
        if threads == 1 or len(blocks) == 1:
            for s in blocks:
                np.matmul(a[s], b, out=out[s])
        else:
            with ThreadPoolExecutor(min(threads, len(blocks))) as ex:
                list(ex.map(lambda s: np.matmul(a[s], b, out=out[s]), blocks))
    return out


@functools.cache
def _blas():
    """numpy's BLAS libraries (found once: scanning the loaded libraries costs ~0.5 ms a call,
    and a CQT makes about 23 products)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")
