"""Single-thread companion to bench_privacy.py (min of 5 runs): on a shared, oversubscribed
box one thread per side is the fairer comparison. Prints a Markdown table.

    python bench/single_thread_privacy.py
    PIPEWARD_BENCH_PRIVACY_P=4194304 python bench/single_thread_privacy.py
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

import pipeward as pw

B, C = 256, 1.0
P = int(os.environ.get("PIPEWARD_BENCH_PRIVACY_P", str(1 << 20)))  # 4194304: the 4M


def best(f, n=5):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts) * 1e3


def main() -> None:
    torch.set_num_threads(1)
    g = np.random.default_rng(0).standard_normal((B, P), dtype=np.float32)
    g *= np.geomspace(0.1, 10, B, dtype=np.float32)[:, None] / np.sqrt(P)
    t = torch.from_numpy(g)
    norms = np.linalg.norm(g, axis=1).astype(np.float64)
    tn = torch.from_numpy(norms.astype(np.float32))

    def torch_formula(n=None):
        n = t.norm(dim=1) if n is None else n
        return torch.einsum("i,ij->j", (C / (n + 1e-6)).clamp(max=1.0), t)

    empty = np.zeros((0, 4 << 20), np.float32)
    rows = [
        ("clip-sum two-pass: pipeward", best(lambda: pw.clip_and_noise(g, C, 0.0, workers=1))),
        ("clip-sum two-pass: torch formula", best(torch_formula)),
        ("clip-sum one-pass (norms given): pipeward",
         best(lambda: pw.clip_and_noise(g, C, 0.0, per_sample_norms=norms, workers=1))),
        ("clip-sum one-pass (norms given): torch formula", best(lambda: torch_formula(tn))),
        ("noise 4M: pipeward Philox", best(lambda: pw.clip_and_noise(empty, 1.0, 1.0, seed=1, workers=1))),
        ("noise 4M: pipeward secure", best(lambda: pw.clip_and_noise(empty, 1.0, 1.0, secure=True, workers=1))),
        ("noise 4M: torch.normal", best(lambda: torch.normal(0.0, 1.0, size=(4 << 20,)))),
    ]
    print(f"| 1 thread, min of 5, B={B} P={P} | ms | GB/s |")
    print("|---|---|---|")
    for name, ms in rows:
        gbs = "" if "noise" in name else f"{(2 if 'two' in name else 1) * g.nbytes / ms / 1e6:.2f}"
        print(f"| {name} | {ms:.1f} | {gbs} |")


if __name__ == "__main__":
    main()
