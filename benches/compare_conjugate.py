#!/usr/bin/env python3
"""Side-by-side: elbo against NumPyro (and Pyro, if importable) on the two conjugate workloads.

(a) Gaussian mean, d = 10, N = 100, diagonal guide (NumPyro: AutoNormal);
(b) linear regression, p = 20, N = 500, features with pairwise correlation 0.5, full-rank guide
    (NumPyro: AutoMultivariateNormal).

Both fit the same data (written to CSV here and read by `cargo run --example conjugate -- --csv`)
and are measured against the same exact posterior. Reported per workload:
- time per SVI step with one particle: ours (the example's fit time / steps, f32) and NumPyro's,
  inside one compiled loop (jit of a fori_loop over `svi.update`, as `svi.run` compiles it) and
  stepped from a Python loop (a jitted `svi.update` per step); each the best of 3 repeats;
- accuracy: KL(q || exact) and the largest mean error in posterior sds, for our default schedule
  and for NumPyro with Adam at a constant 0.01;
- Pyro's time per step (the same guides and `Trace_ELBO`, Adam 0.01, 2 torch threads), when
  `pyro` is importable (`pip install pyro-ppl`; it brings PyTorch).

    python3 benches/compare_conjugate.py            # needs numpyro and jax importable
    python3 benches/compare_conjugate.py --install  # makes target/bench-venv and installs them

Not part of the tests.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")
# Timings are the best of this many repeats: the least disturbed by the rest of the machine.
REPEATS = 3


def ensure_deps(install):
    try:
        import numpyro  # noqa: F401
        import jax  # noqa: F401
        return
    except ImportError:
        if not install:
            sys.exit("numpyro and jax are not importable: rerun with --install (makes target/bench-venv)")
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([python, "-m", "pip", "install", "-q", "numpyro==0.22.0", "jax[cpu]"])
    os.execv(python, [python, os.path.abspath(__file__)] + [a for a in sys.argv[1:] if a != "--install"])


def exact_posterior(np, model, data, noise_sd):
    """Exact posterior (mean, covariance) under the N(0, I) prior."""
    s2 = noise_sd ** 2
    if model == "mean":
        n, d = data.shape
        prec = np.eye(d) * (1 + n / s2)
        info = data.sum(0) / s2
    else:
        x, y = data[:, :-1], data[:, -1]
        prec = np.eye(x.shape[1]) + x.T @ x / s2
        info = x.T @ y / s2
    cov = np.linalg.inv(prec)
    return cov @ info, cov


def kl_gauss(np, m_q, c_q, m_p, c_p):
    d = len(m_q)
    ip = np.linalg.inv(c_p)
    diff = m_p - m_q
    return 0.5 * (np.trace(ip @ c_q) + diff @ ip @ diff - d
                  + np.linalg.slogdet(c_p)[1] - np.linalg.slogdet(c_q)[1])


def simulate(np, model, rng):
    if model == "mean":
        z = rng.standard_normal(10)
        return z + rng.standard_normal((100, 10)), 1.0
    p, n, rho = 20, 500, 0.5
    w = rng.standard_normal(p)
    x = np.sqrt(1 - rho) * rng.standard_normal((n, p)) + np.sqrt(rho) * rng.standard_normal((n, 1))
    y = x @ w + 0.5 * rng.standard_normal(n)
    return np.column_stack([x, y]), 0.5


def numpyro_fit(model_name, data, noise_sd, steps):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

    numpyro.set_platform("cpu")
    d = jnp.asarray(data, dtype=jnp.float32)
    if model_name == "mean":
        def model():
            z = numpyro.sample("z", dist.Normal(jnp.zeros(d.shape[1]), 1.0).to_event(1))
            numpyro.sample("x", dist.Normal(z, noise_sd).to_event(1), obs=d)
        guide = AutoNormal(model)
    else:
        x, y = d[:, :-1], d[:, -1]

        def model():
            w = numpyro.sample("z", dist.Normal(jnp.zeros(x.shape[1]), 1.0).to_event(1))
            numpyro.sample("y", dist.Normal(x @ w, noise_sd), obs=y)
        guide = AutoMultivariateNormal(model)
    svi = SVI(model, guide, numpyro.optim.Adam(0.01), Trace_ELBO(num_particles=1))

    # The compiled loop: `steps` updates inside one jitted fori_loop, compiled by a first call
    # and timed on the next ones. (`svi.run` does the same but traces and compiles afresh on
    # every call, about a second, which would swamp the steps.)
    @jax.jit
    def run_steps(state):
        return jax.lax.fori_loop(0, steps, lambda i, st: svi.update(st)[0], state)

    state0 = svi.init(jax.random.PRNGKey(1))
    jax.block_until_ready(run_steps(state0))
    compiled = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        final = jax.block_until_ready(run_steps(state0))
        compiled = min(compiled, (time.perf_counter() - start) / steps)
    params = svi.get_params(final)

    state = svi.init(jax.random.PRNGKey(3))
    update = jax.jit(svi.update)
    state, _ = update(state)
    loop_steps = min(steps, 2000)
    looped = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(loop_steps):
            state, loss = update(state)
        jax.block_until_ready(loss)
        looped = min(looped, (time.perf_counter() - start) / loop_steps)

    if model_name == "mean":
        mean = np.asarray(params["z_auto_loc"], dtype=float)
        cov = np.diag(np.asarray(params["z_auto_scale"], dtype=float) ** 2)
    else:
        mean = np.asarray(params["auto_loc"], dtype=float)
        lt = np.asarray(guide.get_transform(params).scale_tril, dtype=float)
        cov = lt @ lt.T
    return compiled, looped, mean, cov


def pyro_step_time(model_name, data, noise_sd, steps=300):
    """Seconds per Pyro SVI step (same guide and ELBO as NumPyro's), best of REPEATS; None
    without pyro."""
    try:
        import pyro
        import pyro.distributions as dist
        import torch
        from pyro.infer import SVI, Trace_ELBO
        from pyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
    except ImportError:
        return None
    torch.set_num_threads(2)
    d = torch.tensor(data, dtype=torch.float32)
    if model_name == "mean":
        def model():
            z = pyro.sample("z", dist.Normal(torch.zeros(d.shape[1]), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z, noise_sd).expand(d.shape).to_event(2), obs=d)
        make_guide = AutoNormal
    else:
        x, y = d[:, :-1], d[:, -1]

        def model():
            w = pyro.sample("z", dist.Normal(torch.zeros(x.shape[1]), 1.0).to_event(1))
            pyro.sample("y", dist.Normal(x @ w, noise_sd).to_event(1), obs=y)
        make_guide = AutoMultivariateNormal
    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    svi = SVI(model, make_guide(model), pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    svi.step()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(steps):
            svi.step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def ours(csv, model, family, extra):
    cmd = ["cargo", "run", "--release", "--quiet", "--example", "conjugate", "--",
           "--model", model, "--family", family, "--csv", csv, "--f32"] + extra
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--steps", type=int, default=10000)
    args = parser.parse_args()
    ensure_deps(args.install)
    import numpy as np
    import jax
    import numpyro

    print(f"numpyro {numpyro.__version__}, jax {jax.__version__}, steps {args.steps}; Pyro (if "
          f"importable, `pip install pyro-ppl`) timed over 300 steps, 2 torch threads")
    rng = np.random.default_rng(0)
    rows = []
    for label, model, family in [("(a) mean d=10 N=100, diag", "mean", "diag"),
                                 ("(b) linreg p=20 N=500, full", "linreg", "full")]:
        data, noise_sd = simulate(np, model, rng)
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            cols = data.shape[1]
            f.write(",".join(f"c{j}" for j in range(cols)) + "\n")
            for row in data:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
            csv = f.name
        noise = ["--noise-sd", str(noise_sd)]
        ours_step = min(
            t["seconds"] / t["steps"]
            for t in (ours(csv, model, family, noise + ["--steps", str(args.steps), "--particles", "1"])
                      for _ in range(REPEATS)))
        fitted = ours(csv, model, family, noise)
        exact_mean, exact_cov = exact_posterior(np, model, data, noise_sd)
        sd = np.sqrt(np.diag(exact_cov))
        compiled, looped, m, c = numpyro_fit(model, data, noise_sd, args.steps)
        pyro_step = pyro_step_time(model, data, noise_sd)
        rows.append((label, ours_step, compiled, looped, pyro_step,
                     fitted["kl_to_exact"], fitted["mean_err_sd"],
                     kl_gauss(np, m, c, exact_mean, exact_cov), np.max(np.abs(m - exact_mean) / sd)))
        os.unlink(csv)

    print()
    print("| workload | elbo µs/step | NumPyro compiled loop µs/step | NumPyro Python loop µs/step "
          "| speed-up vs compiled | Pyro µs/step | speed-up vs Pyro "
          "| elbo KL / mean err (sds) | NumPyro KL / mean err (sds) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, o, s, l, p, kl, me, nkl, nme in rows:
        pyro_cols = f"{p * 1e6:.0f} | {p / o:.0f}x" if p else "not installed | "
        print(f"| {label} | {o * 1e6:.1f} | {s * 1e6:.1f} | {l * 1e6:.1f} | {s / o:.2f}x "
              f"| {pyro_cols} | {kl:.1e} / {me:.4f} | {nkl:.3f} / {nme:.3f} |")


if __name__ == "__main__":
    main()
