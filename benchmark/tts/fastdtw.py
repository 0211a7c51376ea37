"""FastDTW (Salvador & Chan 2007) compiled with numba, path for path the ``fastdtw`` package's.

ESPnet, VERSA and pymcd align mel-cepstra with ``fastdtw.fastdtw(x, y, radius=1,
dist=scipy.spatial.distance.euclidean)``. That package runs in pure Python (a
dict per cell, a SciPy call per frame pair): about half a second per pair of
3-second utterances, more than the WORLD analysis of both. This is the same
algorithm step for step, so the presets that reproduce those toolkits keep
their numbers:

- coarsening by averaging frame pairs (a trailing odd frame dropped) down to
  ``radius + 2`` frames, exact DTW there;
- the window at each finer level: the coarse path widened by ``radius`` in
  both directions, each cell doubled to 2x2, then read row by row as fastdtw
  does (one contiguous run per row, starting the scan where the previous
  row's run started);
- in each cell the predecessor is the first minimum of (i-1, j), (i, j-1),
  (i-1, j-1), as Python's ``min`` picks it, so ties resolve identically;
- the frame distance is BLAS ``dnrm2`` of the difference, the routine
  ``scipy.linalg.norm`` (behind ``euclidean``) calls, so the accumulated costs
  are the same floating-point numbers.

The tests compare paths with the package on random and real cepstra.
"""
from __future__ import annotations

from typing import Any

import llvmlite.binding
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

# SciPy's BLAS dnrm2, called by symbol name so that the compiled functions can be cached on disk (a ctypes
# pointer would be a dynamic global and force a recompile, seconds, in every process).
llvmlite.binding.add_symbol("emobench_scipy_dnrm2",
                            get_cython_function_address("scipy.linalg.cython_blas", "dnrm2"))
_DNRM2: Any = types.ExternalFunction("emobench_scipy_dnrm2",
                                types.float64(types.voidptr, types.voidptr, types.voidptr))


@numba.njit(cache=True)
def _dist(x: np.ndarray, y: np.ndarray, i: int, j: int, diff: np.ndarray, n: np.ndarray, inc: np.ndarray) -> float:
    for k in range(x.shape[1]):
        diff[k] = x[i, k] - y[j, k]
    return _DNRM2(n.ctypes, diff.ctypes, inc.ctypes)


@numba.njit(cache=True)
def _windowed_dtw(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """DTW restricted to row runs ``[lo[i], hi[i])``; the path as (pairs, 2) indices, start to end."""
    len_x, len_y = x.shape[0], y.shape[0]
    offset = np.zeros(len_x + 1, dtype=np.int64)
    for i in range(len_x):
        offset[i + 1] = offset[i] + hi[i] - lo[i]
    cost = np.empty(offset[len_x], dtype=np.float64)
    step = np.empty(offset[len_x], dtype=np.int8)  # 0: from (i-1, j), 1: from (i, j-1), 2: from (i-1, j-1)
    diff = np.empty(x.shape[1], dtype=np.float64)
    n = np.array([x.shape[1]], dtype=np.int32)
    inc = np.ones(1, dtype=np.int32)
    inf = np.inf
    for i in range(len_x):
        for j in range(lo[i], hi[i]):
            dt = _dist(x, y, i, j, diff, n, inc)
            # D's 1-based cell (i+1, j+1); row 0 / column 0 are inf except D[0, 0] = 0
            if i == 0:
                up = inf
            elif lo[i - 1] <= j < hi[i - 1]:
                up = cost[offset[i - 1] + j - lo[i - 1]]
            else:
                up = inf
            if lo[i] <= j - 1 < hi[i]:
                left = cost[offset[i] + j - 1 - lo[i]]
            else:
                left = inf
            if i == 0:
                diag = 0.0 if j == 0 else inf
            elif j == 0:
                diag = inf
            elif lo[i - 1] <= j - 1 < hi[i - 1]:
                diag = cost[offset[i - 1] + j - 1 - lo[i - 1]]
            else:
                diag = inf
            best, move = up + dt, 0
            if left + dt < best:
                best, move = left + dt, 1
            if diag + dt < best:
                best, move = diag + dt, 2
            cost[offset[i] + j - lo[i]] = best
            step[offset[i] + j - lo[i]] = move
    path = np.empty((len_x + len_y, 2), dtype=np.int64)
    n_path = 0
    i, j = len_x - 1, len_y - 1
    while i >= 0 and j >= 0:
        path[n_path, 0], path[n_path, 1] = i, j
        n_path += 1
        move = step[offset[i] + j - lo[i]]
        if move == 0:
            i -= 1
        elif move == 1:
            j -= 1
        else:
            i -= 1
            j -= 1
    return path[:n_path][::-1].copy()


@numba.njit(cache=True)
def _expand_window(path: np.ndarray, len_x: int, len_y: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """fastdtw's ``__expand_window`` as per-row runs ``[lo, hi)``."""
    mask = np.zeros((len_x, len_y), dtype=np.bool_)
    for p in range(path.shape[0]):
        for a in range(-radius, radius + 1):
            for b in range(-radius, radius + 1):
                ci, cj = path[p, 0] + a, path[p, 1] + b
                for di in range(2):
                    for dj in range(2):
                        wi, wj = 2 * ci + di, 2 * cj + dj
                        if 0 <= wi < len_x and 0 <= wj < len_y:
                            mask[wi, wj] = True
    lo = np.zeros(len_x, dtype=np.int64)
    hi = np.zeros(len_x, dtype=np.int64)
    start_j = 0
    for i in range(len_x):
        new_start = -1
        end = len_y
        for j in range(start_j, len_y):
            if mask[i, j]:
                if new_start < 0:
                    new_start = j
            elif new_start >= 0:
                end = j
                break
        if new_start < 0:  # fastdtw itself would fail here (a row without window cells); never seen
            raise ValueError("fastdtw window has an empty row")
        lo[i], hi[i] = new_start, end
        start_j = new_start
    return lo, hi


@numba.njit(cache=True)
def _reduce_by_half(x: np.ndarray) -> np.ndarray:
    n = x.shape[0] // 2
    out = np.empty((n, x.shape[1]), dtype=np.float64)
    for i in range(n):
        for k in range(x.shape[1]):
            out[i, k] = (x[2 * i, k] + x[2 * i + 1, k]) / 2
    return out


@numba.njit(cache=True)
def _fastdtw(x: np.ndarray, y: np.ndarray, radius: int) -> np.ndarray:
    if x.shape[0] < radius + 2 or y.shape[0] < radius + 2:
        lo = np.zeros(x.shape[0], dtype=np.int64)
        hi = np.full(x.shape[0], y.shape[0], dtype=np.int64)
        return _windowed_dtw(x, y, lo, hi)
    coarse = _fastdtw(_reduce_by_half(x), _reduce_by_half(y), radius)
    lo, hi = _expand_window(coarse, x.shape[0], y.shape[0], radius)
    return _windowed_dtw(x, y, lo, hi)


def fastdtw_path(x: np.ndarray, y: np.ndarray, radius: int = 1) -> np.ndarray:
    """The path ``fastdtw.fastdtw(x, y, radius, dist=euclidean)`` returns, as a (pairs, 2) int64 array."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"fastdtw needs two (frames, dims) arrays with equal dims, got {x.shape} and {y.shape}")
    if len(x) == 0 or len(y) == 0:
        raise ValueError("fastdtw needs at least one frame on each side")
    return _fastdtw(x, y, int(radius))
