#!/usr/bin/env python3
"""Writes the synthetic linear-Gaussian data of docs/linear_models.md as CSV.

800 rows of 12 columns: x = W z + noise + offsets, z ~ N(0, I_4), W's columns scaled 3, 2, 1.5,
1.2 (a clear spectral gap), noise sd 0.4, column j offset by 0.2 j. Seeded, standard library only.

    python3 benches/synthetic_linear.py > synthetic.csv
    cargo run --release --example ppca -- --csv synthetic.csv --latent 4
"""
import random
import sys

random.seed(3)
D, Q, N = 12, 4, 800
SCALES = [3, 2, 1.5, 1.2]
W = [[random.gauss(0, 1) * SCALES[j] for j in range(Q)] for _ in range(D)]
out = sys.stdout
out.write(",".join(f"x{i}" for i in range(D)) + "\n")
for _ in range(N):
    z = [random.gauss(0, 1) for _ in range(Q)]
    row = (sum(W[i][j] * z[j] for j in range(Q)) + random.gauss(0, 0.4) + 0.2 * i for i in range(D))
    out.write(",".join(repr(v) for v in row) + "\n")
