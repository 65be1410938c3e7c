#!/usr/bin/env python3
"""Writes the TQ1_0 / TQ2_0 fixture of Tests/TritModelTests/TernaryGGMLTests.swift from the
`gguf` Python package's own quantizers (gguf-py, the reference writer of llama.cpp's ternary
types), so the Swift reader and writer are checked against bytes TritBench did not produce.

    python3 -m pip download gguf==0.19.0 --no-deps -d ~/.cache/tritbench/downloads
    PYTHONPATH=<that wheel> python3 Scripts/tq-fixtures.py

Prints Swift literals: per type, the blocks as hex; then the trits ("-", "0", "+") both types
hold (checked equal). Blocks: random Gaussian weights, an all-zero block,
and adversarial ones (all +d, all -d, alternating).
"""
import sys
import numpy as np
from gguf import quants, GGMLQuantizationType as T

rng = np.random.default_rng(7)
rows = [rng.standard_normal(256).astype(np.float32),
        np.zeros(256, np.float32),
        np.full(256, 0.5, np.float32),
        np.full(256, -2.0, np.float32),
        np.tile(np.array([1, -1, 0, 0.2], np.float32), 64) * 3,
        (rng.integers(-1, 2, 256) * 0.75).astype(np.float32)]
data = np.stack(rows)
trit_rows = None
for name, t in (("tq1_0", T.TQ1_0), ("tq2_0", T.TQ2_0)):
    q = quants.quantize(data, t)
    deq = quants.dequantize(q, t)
    blocks = q.reshape(len(rows), -1)
    print(f"    static let {name}Hex = [")
    for b in blocks:
        print(f'        "{b.tobytes().hex()}",')
    print("    ]")
    trits = []
    for r, b in zip(deq, blocks):
        d = np.frombuffer(b[-2:].tobytes(), np.float16)[0]
        tr = np.zeros(256, int) if d == 0 else np.rint(r / np.float32(d)).astype(int)
        assert np.array_equal(np.float32(d) * tr.astype(np.float32), r), "dequantized values are trit × d"
        trits.append("".join("-0+"[v + 1] for v in tr))
    assert trit_rows is None or trits == trit_rows, "both types hold the same trits"
    trit_rows = trits
print("    static let trits = [")
for s in trit_rows:
    print(f'        "{s}",')
print("    ]")
