#!/usr/bin/env python3
"""Side-by-side: SVI of a Bayesian linear regression on a large data set, in minibatches.

N rows (default 10^6) of p features (a column of ones, then features of unequal scales and
offsets), y = X beta + N(0, 0.7^2); beta_j ~ N(0, 10^2), sigma ~ HalfNormal(10), a diagonal
Gaussian guide, one particle, minibatches of B rows (default 10^4) with the likelihood scaled by
N / B. Every contender is pinned to the same --threads cores. Reported per contender:

- ms per SVI step (f64 everywhere, as the regression example computes) (minibatch drawn, gathered, ELBO gradient, Adam), timed over steps after the
  first few (compilation and start-up excluded):
  - elbo: `cargo run --release --example regression -- --csv ... --batch B --family diag
    --particles 1 --init prior`, run with two step budgets; the difference of the fit times over the
    difference of the steps (reading the CSV cancels); its default fit (Laplace start, until
    the fit settles) is run too, for its total time and accuracy;
  - NumPyro 0.22 (`Trace_ELBO`, `AutoDiagonalNormal`, jitted `svi.update`) in its two forms:
    `numpyro-plate`, the idiomatic `numpyro.plate(..., subsample_size=B)` (which draws the
    indices inside the jitted step), and `numpyro-host`, minibatches shuffled once per epoch and
    gathered with NumPy on the host, scaled with `numpyro.handlers.scale` (usually faster);
  - Pyro 1.9 with host-gathered minibatches and `poutine.scale` (`--pyro`; slow in Python);
- the posterior means against the exact least-squares fit (with the noise sd known, the
  posterior mean under a flat prior), as the largest gap in posterior sds, after the timed
  steps from each library's own start: a fast wrong fit is no win.

    python3 benches/compare_regression.py --install   # makes target/bench-venv (NumPyro, JAX)
    python3 benches/compare_regression.py --threads 2 [--rows 1000000 --batch 10000] [--pyro]

Not part of the tests.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import bench_venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIP = ["numpyro==0.22.0", "jax[cpu]", "pyro-ppl==1.9.2", "torch"]
NOISE_SD = 0.7


def simulate(rows, features, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.1, 10.0, features - 1)
    offsets = np.linspace(-5.0, 50.0, features - 1)
    x = np.column_stack([np.ones(rows), rng.normal(size=(rows, features - 1)) * scales + offsets])
    beta = np.linspace(-1.0, 1.0, features)
    y = x @ beta + NOISE_SD * rng.normal(size=rows)
    return x, y


def exact_means_and_sds(x, y):
    """Least squares with the noise sd known: the posterior under a flat prior (the N(0, 10^2)
    prior moves it by far less than a posterior sd at these sizes)."""
    import numpy as np
    gram = x.T @ x
    mean = np.linalg.solve(gram, x.T @ y)
    sd = NOISE_SD * np.sqrt(np.diag(np.linalg.inv(gram)))
    return mean, sd


def run_elbo(csv, args, pinned, extra):
    binary = os.path.join(ROOT, "target", "release", "examples", "regression")
    cmd = [binary, "--csv", csv, "--batch", str(args.batch), "--family", "diag", "--particles", "1"] + extra
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         preexec_fn=lambda: os.sched_setaffinity(0, pinned))
    if out.returncode not in (0, 1):  # 1: ran out of steps, expected with a short budget
        sys.exit(f"elbo failed: {out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["means"] = [r["parameters"][f"beta[{j + 1}]"]["mean"] for j in range(args.features)]
    return r


def elbo_contenders(csv, args, pinned):
    """Seconds per step from two runs started at the prior median (no pass over the data before
    the fit) with different step budgets, and the means of the longer; then the default fit
    (Laplace start, run until it settles) for its total time and its means."""
    subprocess.check_call(["cargo", "build", "--release", "--quiet", "--example", "regression"], cwd=ROOT)
    short, long_ = (run_elbo(csv, args, pinned, ["--init", "prior", "--steps", str(s)])
                    for s in (args.steps // 5, args.steps))
    if long_["steps"] <= short["steps"]:
        sys.exit(f"elbo: the fits stopped at {short['steps']} and {long_['steps']} steps")
    per_step = (long_["seconds"] - short["seconds"]) / (long_["steps"] - short["steps"])
    default = run_elbo(csv, args, pinned, [])
    return (per_step, long_["means"]), default


def numpyro_worker(args, x, y, host):
    import numpy as np
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoDiagonalNormal

    numpyro.set_platform("cpu")
    numpyro.enable_x64()  # f64, as the regression example
    n, p, b = x.shape[0], x.shape[1], args.batch
    x64, y64 = x, y

    def priors():
        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([p]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
        return beta, sigma

    if host:
        def model(xb, yb):
            beta, sigma = priors()
            with numpyro.handlers.scale(scale=n / xb.shape[0]), numpyro.plate("data", xb.shape[0]):
                numpyro.sample("y", dist.Normal(xb @ beta, sigma), obs=yb)
    else:
        xd, yd = jax.device_put(x64), jax.device_put(y64)

        def model(xb, yb):
            beta, sigma = priors()
            with numpyro.plate("data", n, subsample_size=b) as idx:
                numpyro.sample("y", dist.Normal(xd[idx] @ beta, sigma), obs=yd[idx])

    guide = AutoDiagonalNormal(model)
    svi = SVI(model, guide, numpyro.optim.Adam(0.01), Trace_ELBO())
    rng = np.random.default_rng(args.seed)
    order, at = rng.permutation(n), 0

    def batch():
        nonlocal order, at
        if not host:
            return None, None
        if at + b > n:
            order, at = rng.permutation(n), 0
        idx = order[at:at + b]
        at += b
        return x64[idx], y64[idx]

    state = svi.init(jax.random.PRNGKey(args.seed), *batch())
    update = jax.jit(svi.update)
    warm = 20
    for _ in range(warm):
        state, _ = update(state, *batch())
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(args.steps):
        state, _ = update(state, *batch())
    jax.block_until_ready(state)
    seconds = (time.perf_counter() - start) / args.steps
    means = np.asarray(guide.median(svi.get_params(state))["beta"])
    return seconds, means.tolist()


def pyro_worker(args, x, y):
    import numpy as np
    import torch
    import pyro
    import pyro.distributions as dist
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoDiagonalNormal

    torch.set_num_threads(args.threads)
    n, p, b = x.shape[0], x.shape[1], args.batch
    torch.set_default_dtype(torch.float64)  # as the regression example
    x64, y64 = torch.tensor(x), torch.tensor(y)

    def model(xb, yb):
        beta = pyro.sample("beta", dist.Normal(0.0, 10.0).expand([p]).to_event(1))
        sigma = pyro.sample("sigma", dist.HalfNormal(10.0))
        with pyro.poutine.scale(scale=n / xb.shape[0]), pyro.plate("data", xb.shape[0]):
            pyro.sample("y", dist.Normal(xb @ beta, sigma), obs=yb)

    pyro.set_rng_seed(args.seed)
    guide = AutoDiagonalNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    rng = np.random.default_rng(args.seed)
    order, at = torch.as_tensor(rng.permutation(n)), 0

    def batch():
        nonlocal order, at
        if at + b > n:
            order, at = torch.as_tensor(rng.permutation(n)), 0
        idx = order[at:at + b]
        at += b
        return x64[idx], y64[idx]

    steps = max(args.steps // 5, 50)
    for _ in range(20):
        svi.step(*batch())
    start = time.perf_counter()
    for _ in range(steps):
        svi.step(*batch())
    seconds = (time.perf_counter() - start) / steps
    means = guide.median()["beta"].detach().numpy()
    return seconds, means.tolist()


def worker(args):
    import numpy as np
    data = np.load(args.data)
    x, y = data["x"], data["y"]
    if args.worker == "pyro":
        seconds, means = pyro_worker(args, x, y)
    else:
        seconds, means = numpyro_worker(args, x, y, host=args.worker == "numpyro-host")
    print(json.dumps({"seconds_per_step": seconds, "means": means}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=2_000, help="timed steps (elbo's longer run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pyro", action="store_true", help="also time Pyro")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.install:
        bench_venv.install_and_rerun(PIP, __file__)
    if args.worker:
        return worker(args)
    import numpy as np
    allowed = sorted(os.sched_getaffinity(0))
    if args.threads > len(allowed):
        sys.exit(f"--threads {args.threads}: this process may run on {len(allowed)} cores only")
    pinned = allowed[:args.threads]
    x, y = simulate(args.rows, args.features, args.seed)
    results = {}
    exact, sd = exact_means_and_sds(x, y)
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "regression.csv")
        names = ",".join([f"x{j}" for j in range(args.features)] + ["y"])
        np.savetxt(csv, np.column_stack([x, y]), delimiter=",", header=names, comments="", fmt="%.9g")
        npz = os.path.join(tmp, "regression.npz")
        np.savez(npz, x=x, y=y)
        results["elbo"], default = elbo_contenders(csv, args, pinned)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
                   XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}")
        contenders = ["numpyro-plate", "numpyro-host"] + (["pyro"] if args.pyro else [])
        for name in contenders:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--data", npz]
            for flag in ["threads", "batch", "steps", "seed"]:
                cmd += [f"--{flag}", str(getattr(args, flag))]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                 preexec_fn=lambda: os.sched_setaffinity(0, pinned))
            if out.returncode != 0:
                sys.exit(f"{name} failed: {out.stderr[-2000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[name] = (r["seconds_per_step"], r["means"])
    ours = results["elbo"][0]
    gap = float(np.max(np.abs(np.asarray(default["means"]) - exact) / sd))
    print(f"\nelbo's default fit (Laplace start, until it settles): {default['seconds']:.1f} s, "
          f"{default['steps']} steps, converged {default['converged']}, max |mean - exact| / sd {gap:.2f}")
    print(f"\nregression, N = {args.rows}, p = {args.features}, minibatches of {args.batch}, "
          f"{args.threads} threads, f64, diagonal guide, 1 particle, Adam; means after "
          f"{args.steps} steps from each library's own start")
    print(f"{'contender':<15} {'ms/step':>9} {'rows/s':>12} {'elbo speed-up':>14} {'max |mean - exact| / sd':>24}")
    for name, (seconds, means) in results.items():
        gap = float(np.max(np.abs(np.asarray(means) - exact) / sd))
        speedup = "-" if name == "elbo" else f"{seconds / ours:.2f}x"
        print(f"{name:<15} {seconds * 1e3:>9.3f} {args.batch / seconds:>12,.0f} {speedup:>14} {gap:>24.2f}")


if __name__ == "__main__":
    main()
