"""Writes the simulated data sets of data/regression and data/mixture (standard library only).

    python3 data/simulate.py

The generating parameters are in the README of each folder; the seeds are fixed, so the files
are reproduced bit for bit by the same Python version.
"""
import math
import random
from pathlib import Path

HERE = Path(__file__).parent


def poisson(rng, rate):
    # Knuth's method: fine for the small rates used here.
    limit, k, p = math.exp(-rate), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row) + "\n")


def main():
    rng = random.Random(20261123)
    rows = []
    for _ in range(100):
        age, dose = rng.uniform(20, 70), rng.gauss(5, 2)
        rows.append([1, age, dose, 30 + 0.4 * age - 2.5 * dose + rng.gauss(0, 4)])
    write(HERE / "regression" / "normal.csv", ["intercept", "age", "dose", "y"], rows)

    rows = []
    for _ in range(200):
        x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
        p = 1 / (1 + math.exp(-(-1 + 2 * x1 - 0.5 * x2)))
        rows.append([1, x1, x2, int(rng.random() < p)])
    write(HERE / "regression" / "bernoulli.csv", ["intercept", "x1", "x2", "y"], rows)

    rows = []
    for _ in range(150):
        x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
        rows.append([1, x1, x2, poisson(rng, math.exp(0.5 + 0.8 * x1 - 0.3 * x2))])
    write(HERE / "regression" / "poisson.csv", ["intercept", "x1", "x2", "y"], rows)

    rows = []
    for _ in range(300):
        if rng.random() < 0.35:
            rows.append([rng.gauss(-1.2, 0.5)])
        else:
            rows.append([rng.gauss(2.0, 0.8)])
    write(HERE / "mixture" / "two_groups.csv", ["y"], rows)


if __name__ == "__main__":
    main()
