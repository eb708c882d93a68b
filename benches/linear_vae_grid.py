"""The linear VAE against PPCA on data from linear-Gaussian models of many shapes.

For d in {5, 20, 50}, q in {1, 3, 8} (q < d), noise variance in {0.01, 1}: 1000 rows from
x = W z + mu + e with W's columns scaled log-evenly over 0.1-10, mu in [-2, 2]; then
`ppca --csv FILE --latent q --seed s` for seeds 1-5, default flags. Prints one line per run:
d q noise_var seed gap(nats/row) angle(deg) vae_seconds exit_code, then the
cell's identification sd (deg): the sampling standard deviation of the q-th principal
direction itself, sqrt(l_q l_(q+1) / n) / (l_q - l_(q+1)) radians from the sample eigenvalues
l (Anderson 1963). Where it is large, the data do not pin that direction down and an angle to
PPCA's estimate of it measures nothing about the fit.

    cargo build --release --example ppca && python3 benches/linear_vae_grid.py [OUT_DIR]

Needs numpy. Writes the CSVs to OUT_DIR (default: target/linear_vae_grid).
"""
import json
import os
import subprocess
import sys

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.path.join(root, "target", "release", "examples", "ppca")
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target", "linear_vae_grid")
os.makedirs(out, exist_ok=True)

for d in [5, 20, 50]:
    for q in [1, 3, 8]:
        if q >= d:
            continue
        for noise_var in [0.01, 1.0]:
            r = np.random.default_rng(100 * d + q)
            scales = np.geomspace(0.1, 10, q) if q > 1 else np.array([3.0])
            w = r.standard_normal((d, q)) * scales
            mu = r.uniform(-2, 2, d)
            x = r.standard_normal((1000, q)) @ w.T + mu + np.sqrt(noise_var) * r.standard_normal((1000, d))
            path = os.path.join(out, f"linear_{d}_{q}_{noise_var}.csv")
            header = ",".join(f"c{i}" for i in range(d))
            np.savetxt(path, x, delimiter=",", header=header, comments="")
            l = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True)))[::-1]
            identification = np.degrees(np.sqrt(l[q - 1] * l[q] / len(x)) / (l[q - 1] - l[q]))
            for seed in range(1, 6):
                run = subprocess.run(
                    [binary, "--csv", path, "--latent", str(q), "--seed", str(seed)],
                    capture_output=True,
                    text=True,
                )
                j = json.loads(run.stdout.strip().splitlines()[-1])
                print(d, q, noise_var, seed, round(j["gap"], 4), round(j["subspace_angle_deg"], 3),
                      round(j["vae_seconds"], 1), run.returncode,
                      round(identification, 2), flush=True)
