"""hls4ml's activation tables as its C++ fills them at start-up: the same C++ loop compiled
with g++ (as the C simulation is, ``-std=c++23``) against ``table_values``, every entry of
the largest tables hls4ml writes (2**19: with tanh's double overload 17 entries of such a
tanh table came out one LSB off, seen as 3 events in 20,000 of the sigmoid_tanh zoo model)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from triginfer.emulation.layers.tables import table_values

CPP = r"""
#include <cmath>
#include <math.h>   /* as nnet_merge.h, nnet_padding.h... do: float overloads in the global namespace */
#include <cstdio>
inline float sigmoid_fcn_float(float input) { return 1.0 / (1 + std::exp(-input)); }
int main() {
    const int N = %d;
    for (int ii = 0; ii < N; ii++) {
        float s_in = 2 * 8.0 * (ii - float(N) / 2.0) / float(N);
        float t_in = 2 * 4.0 * (ii - float(N) / 2.0) / float(N);
        double s = sigmoid_fcn_float(s_in);
        double t = tanh(t_in);      /* as nnet_activation.h writes it */
        fwrite(&s, 8, 1, stdout);
        fwrite(&t, 8, 1, stdout);
    }
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_sigmoid_and_tanh_tables_equal_the_cpp(tmp_path):
    size = 2**19
    src = tmp_path / "tables.cpp"
    src.write_text(CPP % size)
    subprocess.run(["g++", "-O2", "-std=c++23", str(src), "-o", str(tmp_path / "t")],
                   check=True)
    out = np.frombuffer(subprocess.run([str(tmp_path / "t")], capture_output=True,
                                       check=True).stdout, dtype=np.float64).reshape(size, 2)
    np.testing.assert_array_equal(table_values("sigmoid", size), out[:, 0])
    np.testing.assert_array_equal(table_values("tanh", size), out[:, 1])
