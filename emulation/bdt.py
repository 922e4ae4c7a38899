"""Bit-exact emulation of BDT firmware (a :class:`~triginfer.firmware.bdt.BdtSpec`).

Every tree is padded to a full binary tree of the ensemble's depth in heap order (a leaf above
the last level is copied into both children), so one event's walk through one tree is
``depth`` steps of ``pos = 2*pos + 1 + (x[feature[pos]] >= threshold[pos])`` on integer
mantissas — no per-event Python. Two implementations of that walk:

* **numpy** (the reference): all events of a block and all trees at once, one gather per
  level;
* **compiled** (default): the same walk in C (built once per machine by
  :mod:`triginfer.emulation.engine`'s compiler set-up, cached), trees outer and events inner
  so a tree's nodes stay in L1 cache, blocks of events on threads. Without a C compiler the
  numpy path runs and the reason is logged once.

The sum of the leaves follows the firmware: conifer's HLS adds the trees in a balanced adder
tree (``reduce``), its ``cpp`` backend from left to right; each addition is converted to the
score type. When no partial sum can leave the score type's range (checked from the largest
leaf of every tree) or the type wraps, every order gives the exact integer sum, which the C
kernel accumulates; otherwise the leaf values are summed in the spec's order with the type's
overflow at every step. Then ``score *= norm`` converts the product back to the score type.
"""

from __future__ import annotations

import ctypes
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from triginfer.errors import BadValueError, ShapeError
from triginfer.firmware.bdt import SUMMATIONS, BdtSpec
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

SOURCE = r"""
#include <stdint.h>
/* Walk every tree of a padded heap-ordered ensemble for events [0, n).
   x: n x F input mantissas; feat/thr: T x H nodes (H = 2^D - 1); leaf: T x L values.
   le: 1 for "<=" (go left when x <= thr), 0 for "<". out_sum[i] (if not NULL) gets the
   exact integer sum of the leaves; out_leaves (if not NULL) gets the n x T leaf values. */
void bdt_walk(const int32_t* x, int64_t n, int32_t F, int32_t T, int32_t D,
              const int32_t* feat, const int32_t* thr, const int64_t* leaf, int32_t le,
              int64_t* out_sum, int64_t* out_leaves) {
  const int32_t H = (1 << D) - 1, L = 1 << D;
  if (out_sum) for (int64_t i = 0; i < n; i++) out_sum[i] = 0;
  for (int32_t t = 0; t < T; t++) {
    const int32_t* f = feat + (int64_t) t * H;
    const int32_t* th = thr + (int64_t) t * H;
    const int64_t* lv = leaf + (int64_t) t * L;
    for (int64_t i = 0; i < n; i++) {
      const int32_t* xi = x + i * F;
      int32_t pos = 0;
      if (le) {
        for (int32_t d = 0; d < D; d++) pos = 2 * pos + 1 + (xi[f[pos]] > th[pos]);
      } else {
        for (int32_t d = 0; d < D; d++) pos = 2 * pos + 1 + (xi[f[pos]] >= th[pos]);
      }
      int64_t v = lv[pos - H];
      if (out_sum) out_sum[i] += v;
      if (out_leaves) out_leaves[i * T + t] = v;
    }
  }
}
"""


def _library():
    """The compiled walk (built with the engine's compiler set-up), or None."""
    from triginfer.emulation import engine

    return engine.extra_library("bdt", SOURCE, {
        "bdt_walk": ([ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
                      ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                      ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p], None)})


class BdtEmulator:
    """Bit-exact emulator of BDT firmware (see the module docstring).

    Args:
        spec: the BDT spec.
        summation: override the spec's order of additions (``balanced`` = HLS firmware,
            ``sequential`` = conifer's ``cpp`` backend).
        compiled: use the C walk when it can be built.
        threads: threads for the compiled walk (default: all cores).
        block: events per block (a block's inputs stay in cache).
    """

    def __init__(self, spec: BdtSpec, summation: str | None = None, compiled: bool = True,
                 threads: int | None = None, block: int = 16384) -> None:
        self.spec = spec
        self.summation = summation or spec.summation
        if self.summation not in SUMMATIONS:
            raise ValueError(f"summation must be one of {SUMMATIONS}")
        p = spec.precision
        self.input_type: FixedType = p.input
        self.score: FixedType = p.score
        self.block = int(block)
        self.threads = max(1, int(threads or os.cpu_count() or 1))
        # compare x and thresholds on one grid
        self._frac = max(p.input.frac, p.threshold.frac)
        self._x_shift = self._frac - p.input.frac
        thr_shift = self._frac - p.threshold.frac
        self._pad(thr_shift)
        bound = abs(spec.init) + sum(
            int(np.max(np.abs(self.leaf[t]))) for t in range(spec.n_trees))
        limit = min(self.score.max_mantissa, -self.score.min_mantissa)
        self._exact_sum = bound <= limit or self.score.overflow == "WRAP"
        width_ok = (max(abs(p.input.min_mantissa), p.input.max_mantissa) << self._x_shift) < 2**31
        width_ok &= bool(np.all(np.abs(self.thr) < 2**31))
        self._lib = _library() if compiled and width_ok else None
        self._feat_c = np.ascontiguousarray(self.feat, dtype=np.int32)
        self._thr_c = np.ascontiguousarray(self.thr, dtype=np.int32) if width_ok else None
        self._leaf_c = np.ascontiguousarray(self.leaf, dtype=np.int64)
        if compiled and not width_ok:
            log.info("BDT types wider than 31 bits: using the numpy walk")

    def _pad(self, thr_shift: int) -> None:
        spec = self.spec
        depth = max(spec.max_depth, 1)
        heap, leaves = (1 << depth) - 1, 1 << depth
        feat = np.zeros((spec.n_trees, heap), dtype=np.int32)
        thr = np.zeros((spec.n_trees, heap), dtype=np.int64)
        leaf = np.zeros((spec.n_trees, leaves), dtype=np.int64)
        for t in range(spec.n_trees):
            tree = spec.tree(t)
            stack = [(0, 0, 0)]   # (node, heap position, depth)
            while stack:
                node, pos, d = stack.pop()
                if d == depth:
                    leaf[t, pos - heap] = tree["value"][node]
                    continue
                if tree["feature"][node] == -2:   # a shallow leaf: the same value both ways
                    stack.append((node, 2 * pos + 1, d + 1))
                    stack.append((node, 2 * pos + 2, d + 1))
                    continue
                feat[t, pos] = tree["feature"][node]
                thr[t, pos] = int(tree["threshold"][node]) << thr_shift
                stack.append((int(tree["children_left"][node]), 2 * pos + 1, d + 1))
                stack.append((int(tree["children_right"][node]), 2 * pos + 2, d + 1))
        self.depth, self.feat, self.thr, self.leaf = depth, feat, thr, leaf

    # --- inputs ------------------------------------------------------------------------------
    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """Input mantissas on the comparison grid (int64), after the input type's rounding
        and overflow; refuses NaN/inf and a wrong number of features."""
        x = np.asarray(x)
        if x.ndim == 1 and self.spec.n_features == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.spec.n_features:
            raise ShapeError(f"BDT {self.spec.name!r} takes events of {self.spec.n_features} "
                             f"features, got an array of shape {x.shape}")
        if x.dtype.kind not in "iuf":
            raise BadValueError(f"BDT inputs must be numbers, got dtype {x.dtype}")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise BadValueError("BDT inputs hold NaN or infinite values")
        fast = self._quantize_compiled(x)
        if fast is not None:
            return fast
        m = self.input_type.quantize(x)
        return m << np.int64(self._x_shift) if self._x_shift else m

    def _quantize_compiled(self, x: np.ndarray) -> np.ndarray | None:
        """The input conversion in one compiled pass (the engine's ``requantize`` kernel on
        the float values), as int32 on the comparison grid; None when not applicable."""
        if self._lib is None:
            return None
        from triginfer.emulation import engine

        lib = engine.library()
        t = self.input_type
        if lib is None or self._x_shift or t.frac > 40:
            return None
        src = np.ascontiguousarray(x, dtype=np.float64)
        big = 2.0 ** (50 - max(t.frac, 0))
        if src.size and not (-big < src.min() and src.max() < big):
            return None
        out = np.empty_like(src)
        lo, hi = float(t.min_mantissa), float(t.max_mantissa)
        if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
            lo = -hi
        lib.requantize(src.ctypes.data, out.ctypes.data, out.size, 2.0 ** t.frac,
                       engine.ROUNDING[t.rounding] if t.frac > 0 else 0,
                       engine.OVERFLOW[t.overflow], lo, hi, float(1 << t.width))
        return out.astype(np.int32)

    # --- the walk ----------------------------------------------------------------------------
    def _walk_numpy(self, xm: np.ndarray, want_leaves: bool):
        n = len(xm)
        trees = self.spec.n_trees
        heap = self.feat.shape[1]
        base = (np.arange(trees, dtype=np.int64) * heap)[None, :]
        feat, thr = self.feat.ravel(), self.thr.ravel()
        pos = np.zeros((n, trees), dtype=np.int64)
        le = self.spec.splitting_convention == "<="
        for _ in range(self.depth):
            flat = base + pos
            xv = np.take_along_axis(xm, feat[flat].astype(np.int64), axis=1)
            right = xv > thr[flat] if le else xv >= thr[flat]
            pos = 2 * pos + 1 + right
        leaves = np.take_along_axis(self.leaf, (pos - heap).T, axis=1).T
        return leaves if want_leaves else leaves.sum(axis=1)

    def _walk_compiled(self, xm: np.ndarray, want_leaves: bool):
        n = len(xm)
        x32 = np.ascontiguousarray(xm, dtype=np.int32)
        trees = self.spec.n_trees
        out = np.empty((n, trees) if want_leaves else n, dtype=np.int64)
        self._lib.bdt_walk(x32.ctypes.data, n, self.spec.n_features, trees, self.depth,
                           self._feat_c.ctypes.data, self._thr_c.ctypes.data,
                           self._leaf_c.ctypes.data, int(self.spec.splitting_convention == "<="),
                           None if want_leaves else out.ctypes.data,
                           out.ctypes.data if want_leaves else None)
        return out

    def _blocks(self, n: int, fn) -> list:
        """``fn(start, stop)`` over blocks of events, on threads when there are several."""
        bounds = list(range(0, n, self.block)) + [n]
        pieces = list(zip(bounds[:-1], bounds[1:], strict=True)) if n else [(0, 0)]
        if self.threads > 1 and len(pieces) > 1:
            with ThreadPoolExecutor(min(self.threads, len(pieces))) as pool:
                return list(pool.map(lambda se: fn(*se), pieces))
        return [fn(a, b) for a, b in pieces]

    def leaves(self, x: np.ndarray, compiled: bool | None = None) -> np.ndarray:
        """Leaf value mantissas per event and tree, shape ``(n, n_trees)``."""
        xm = self.quantize_inputs(x)
        use_c = self._lib is not None if compiled is None else compiled and self._lib is not None
        return self._walk_compiled(xm, True) if use_c else self._walk_numpy(xm, True)

    # --- the sum -----------------------------------------------------------------------------
    def _add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.score.apply_overflow(a + b)

    def _balanced(self, v: np.ndarray) -> np.ndarray:
        """conifer's ``reduce``: split at the largest power of two below N, recursively."""
        n = v.shape[1]
        if n == 1:
            return v[:, 0]
        if n == 2:
            return self._add(v[:, 0], v[:, 1])
        left = 1 << (int(n - 1).bit_length() - 1)
        return self._add(self._balanced(v[:, :left]), self._balanced(v[:, left:]))

    def predict_mantissa(self, x: np.ndarray, compiled: bool | None = None) -> np.ndarray:
        """Score mantissas (int64), shape ``(n,)``; blocks of events on threads."""
        x = np.asarray(x)
        if x.ndim == 1 and self.spec.n_features == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.spec.n_features:
            raise ShapeError(f"BDT {self.spec.name!r} takes events of {self.spec.n_features} "
                             f"features, got an array of shape {x.shape}")
        use_c = self._lib is not None if compiled is None else compiled and self._lib is not None
        out = np.empty(len(x), dtype=np.int64)

        def one(start: int, stop: int) -> None:
            out[start:stop] = self._predict_block(x[start:stop], use_c)

        self._blocks(len(x), one)
        return out

    def _predict_block(self, x: np.ndarray, use_c: bool) -> np.ndarray:
        xm = self.quantize_inputs(x)
        walk = self._walk_compiled if use_c else self._walk_numpy
        init = np.int64(self.spec.init)
        if self._exact_sum:
            acc = self.score.apply_overflow(walk(xm, False) + init)
        else:
            leaves = walk(xm, True)
            if self.summation == "balanced":
                acc = self._add(np.full(len(xm), init), self._balanced(leaves))
            else:
                acc = np.full(len(xm), init, dtype=np.int64)
                for t in range(leaves.shape[1]):
                    acc = self._add(acc, leaves[:, t])
        if self.spec.norm == 1 << self.score.frac:   # norm 1.0: the product changes nothing
            return acc
        return self.score.requantize(acc * np.int64(self.spec.norm), 2 * self.score.frac)

    def predict(self, x: np.ndarray, compiled: bool | None = None) -> np.ndarray:
        """Firmware scores as float64, shape ``(n, 1)``."""
        m = self.predict_mantissa(x, compiled)
        return self.score.to_float(m).reshape(-1, 1)
