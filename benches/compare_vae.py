#!/usr/bin/env python3
"""Side-by-side: elbo's VAE against PyTorch, Pyro and NumPyro — same model, data and steps.

The model is the classic one: encoder D-400 ReLU with two 400-20 heads (mean, log-variance),
decoder 20-400 ReLU-D giving Bernoulli logits, standard normal prior, the ELBO with the KL in
closed form and one reparameterised draw, Adam at 1e-3, minibatches of 128, the same
initialisation family (U(±1/√fan_in), PyTorch's default). Every contender trains on the same
images for the same epochs in its own process, so that its peak memory is its own, and reports:

- training samples per second (training steps only; JAX's compilation is reported apart), the
  fastest of `--repeats` rounds over all contenders (this kind of shared machine has slow spells);
- the peak resident memory of its process (ru_maxrss);
- the test ELBO per image after training (closed-form KL, one draw).

Data: `--data DIR` reads MNIST-format files (train-images-idx3-ubyte[.gz], t10k-...) and takes the
first `--train` / `--test` images. Without it (MNIST is not shipped), 28x28 digits are made from
the 8x8 digits shipped in data/digits8x8: each is upsampled bilinearly to 20x20 and placed at a
random offset in a 28x28 frame, as MNIST centres its 20x20 digits. Both are written as IDX files
into target/compare_vae/ and read from there by every contender.

    python3 benches/compare_vae.py                   # all contenders that are importable
    python3 benches/compare_vae.py --install         # makes target/bench-venv with torch, pyro, numpyro
    python3 benches/compare_vae.py --only elbo,torch --epochs 5

Not part of the tests.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "compare_vae")
VENV = os.path.join(ROOT, "target", "bench-venv")
CONTENDERS = ["elbo", "elbo-f64", "torch", "torch-f64", "pyro", "numpyro"]
PIP = ["torch", "pyro-ppl==1.9.2", "numpyro==0.22.0", "jax[cpu]"]


# ---------------------------------------------------------------------------------------------
# Data


def read_idx(path):
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(directory, stem):
    path = os.path.join(directory, stem)
    return path if os.path.exists(path) else path + ".gz"


def write_idx(path, array):
    import numpy as np
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(header + array.tobytes())


def upsampled_digits(images, count, rng):
    """`count` 28x28 images from 8x8 ones (values 0-16): bilinear to 20x20, random placement."""
    import numpy as np
    grid = (np.arange(20) + 0.5) * 8 / 20 - 0.5  # centres of the 20 new pixels in old pixels
    lo = np.clip(np.floor(grid).astype(int), 0, 7)
    hi = np.clip(lo + 1, 0, 7)
    frac = np.clip(grid - lo, 0, 1)
    out = np.zeros((count, 28, 28), dtype=np.uint8)
    labels = np.zeros(count, dtype=np.uint8)
    for k in range(count):
        i = k % len(images[0])
        img = images[0][i].astype(float) * (255.0 / 16.0)
        rows = img[lo] * (1 - frac)[:, None] + img[hi] * frac[:, None]
        big = rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]
        dy, dx = rng.integers(2, 7, size=2)  # MNIST's 4-pixel margin, shifted by up to ±2
        out[k, dy:dy + 20, dx:dx + 20] = np.clip(np.rint(big), 0, 255)
        labels[k] = images[1][i]
    return out, labels


def prepare_data(args):
    """Writes the train/test IDX files every contender reads; returns their directory."""
    import numpy as np
    directory = os.path.join(OUT, "data")
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for prefix, count in [("train", args.train), ("t10k", args.test)]:
        if args.data:
            images = read_idx(find_idx(args.data, f"{prefix}-images-idx3-ubyte"))[:count]
            labels = read_idx(find_idx(args.data, f"{prefix}-labels-idx1-ubyte"))[:count]
        else:
            shipped = os.path.join(ROOT, "data", "digits8x8")
            small = (read_idx(find_idx(shipped, f"{prefix}-images-idx3-ubyte")),
                     read_idx(find_idx(shipped, f"{prefix}-labels-idx1-ubyte")))
            images, labels = upsampled_digits(small, count, rng)
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"), images)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"), labels)
    return directory


def load(directory, prefix, dtype):
    images = read_idx(find_idx(directory, f"{prefix}-images-idx3-ubyte"))
    return (images.reshape(images.shape[0], -1) / 255.0).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Contenders: each runs in its own process (`--worker NAME`) and prints one JSON line.


def elbo_worker(args, f64):
    exe = os.path.join(ROOT, "target", "release", "examples", "gaussian_vae")
    cmd = [exe, "--data", args.data_dir, "--likelihood", "bernoulli", "--latent", str(args.latent),
           "--hidden", str(args.hidden), "--batch", str(args.batch), "--lr", str(args.lr),
           "--epochs", str(args.epochs), "--seed", str(args.seed), "--threads", str(args.threads),
           "--iwae-k", "1", "--out", os.path.join(OUT, "elbo-figures")]
    if f64:
        cmd.append("--f64")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    return {"samples_per_sec": summary["train_samples_per_sec"], "test_elbo": summary["test_elbo"]}


def torch_worker(args, f64, pyro_svi):
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    dtype = np.float64 if f64 else np.float32
    train = torch.from_numpy(load(args.data_dir, "train", dtype))
    test = torch.from_numpy(load(args.data_dir, "t10k", dtype))
    d, h, q = train.shape[1], args.hidden, args.latent

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.mean, self.logvar = nn.Linear(d, h), nn.Linear(h, q), nn.Linear(h, q)

        def forward(self, x):
            hidden = F.relu(self.fc1(x))
            return self.mean(hidden), self.logvar(hidden)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(q, h), nn.Linear(h, d)

        def forward(self, z):
            return self.fc2(F.relu(self.fc1(z)))

    encoder, decoder = Encoder(), Decoder()
    if f64:
        encoder.double()
        decoder.double()

    def neg_elbo(x):
        mu, logvar = encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        bce = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    if pyro_svi:
        import pyro
        import pyro.distributions as dist
        from pyro.infer import SVI, TraceMeanField_ELBO

        def model(x):
            pyro.module("decoder", decoder)
            with pyro.plate("data", x.shape[0]):
                z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], q), 1.0).to_event(1))
                pyro.sample("x", dist.Bernoulli(logits=decoder(z), validate_args=False).to_event(1),
                            obs=x)

        def guide(x):
            pyro.module("encoder", encoder)
            mu, logvar = encoder(x)
            with pyro.plate("data", x.shape[0]):
                pyro.sample("z", dist.Normal(mu, torch.exp(0.5 * logvar)).to_event(1))

        pyro.set_rng_seed(args.seed)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": args.lr}), TraceMeanField_ELBO())
        step = svi.step
    else:
        opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=args.lr)

        def step(x):
            opt.zero_grad()
            loss = neg_elbo(x)
            loss.backward()
            opt.step()

    seconds = 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(train))
        for i in range(0, len(train), args.batch):
            step(train[perm[i:i + args.batch]])
        seconds += time.perf_counter() - start
    with torch.no_grad():
        test_elbo = -neg_elbo(test).item() / len(test)
    return {"samples_per_sec": args.epochs * len(train) / seconds, "test_elbo": test_elbo}


def numpyro_worker(args):
    import numpy as np
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, TraceMeanField_ELBO

    numpyro.set_platform("cpu")
    train = jnp.asarray(load(args.data_dir, "train", np.float32))
    test = jnp.asarray(load(args.data_dir, "t10k", np.float32))
    d, h, q = train.shape[1], args.hidden, args.latent

    def linear(name, fan_in, fan_out, x):
        bound = 1.0 / np.sqrt(fan_in)
        init = numpyro.distributions.Uniform(-bound, bound)
        w = numpyro.param(f"{name}.w", lambda key: init.sample(key, (fan_in, fan_out)))
        b = numpyro.param(f"{name}.b", lambda key: init.sample(key, (fan_out,)))
        return x @ w + b

    def encode(x):
        hidden = jax.nn.relu(linear("enc1", d, h, x))
        return linear("enc_mean", h, q, hidden), linear("enc_logvar", h, q, hidden)

    def model(x):
        with numpyro.plate("data", x.shape[0]):
            z = numpyro.sample("z", dist.Normal(jnp.zeros((x.shape[0], q)), 1.0).to_event(1))
            logits = linear("dec2", h, d, jax.nn.relu(linear("dec1", q, h, z)))
            numpyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(1), obs=x)

    def guide(x):
        mu, logvar = encode(x)
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample("z", dist.Normal(mu, jnp.exp(0.5 * logvar)).to_event(1))

    svi = SVI(model, guide, numpyro.optim.Adam(args.lr), TraceMeanField_ELBO())
    update = jax.jit(svi.update)
    state = svi.init(jax.random.PRNGKey(args.seed), train[:args.batch])

    # Compile every batch shape first (a full batch and the last, shorter one), on a throwaway
    # state, and report that time apart.
    start = time.perf_counter()
    sizes = {min(args.batch, len(train) - i) for i in range(0, len(train), args.batch)}
    for size in sizes:
        jax.block_until_ready(update(state, train[:size]))
    compile_seconds = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    seconds = 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        perm = jnp.asarray(rng.permutation(len(train)))
        for i in range(0, len(train), args.batch):
            state, _ = update(state, train[perm[i:i + args.batch]])
        jax.block_until_ready(state)
        seconds += time.perf_counter() - start
    loss = svi.evaluate(state, test)
    return {"samples_per_sec": args.epochs * len(train) / seconds,
            "test_elbo": -float(loss) / len(test), "compile_seconds": compile_seconds}


def worker(args):
    name = args.worker
    if name.startswith("numpyro"):
        os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true "
                                           f"intra_op_parallelism_threads={args.threads}")
        result = numpyro_worker(args)
    elif name.startswith("elbo"):
        result = elbo_worker(args, name.endswith("f64"))
    else:
        result = torch_worker(args, name.endswith("f64"), name == "pyro")
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The driver


def importable(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([python, "-m", "pip", "install", "-q"] + PIP)
    os.execv(python, [python, os.path.abspath(__file__)] + [a for a in sys.argv[1:] if a != "--install"])


def run_contender(name, args):
    """Runs one contender in a child process; its JSON plus the child's peak RSS in MiB."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--data-dir", args.data_dir]
    for flag in ["epochs", "latent", "hidden", "batch", "lr", "seed", "threads"]:
        cmd += [f"--{flag}", str(getattr(args, flag))]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        sys.exit(f"{name} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    # ru_maxrss is in KiB on Linux. The elbo worker is a Python process waiting on the Rust
    # binary: the maximum over the process tree is the binary's (Python's own is ~10 MiB).
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST-format directory (default: digits made from the shipped 8x8 ones)")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds over all contenders; each reports its fastest round")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(CONTENDERS)}")
    parser.add_argument("--install", action="store_true", help="make target/bench-venv and pip-install the peers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.install:
        ensure_venv()

    wanted = args.only.split(",") if args.only else CONTENDERS
    unknown = set(wanted) - set(CONTENDERS)
    if unknown:
        sys.exit(f"unknown contender(s) {sorted(unknown)}; choose from {CONTENDERS}")
    needs = {"torch": "torch", "torch-f64": "torch", "pyro": "pyro", "numpyro": "numpyro"}
    missing = [name for name in wanted if name in needs and not importable(needs[name])]
    for name in missing:
        print(f"skipping {name}: `{needs[name]}` is not importable (rerun with --install)", file=sys.stderr)
    wanted = [name for name in wanted if name not in missing]
    if any(name.startswith("elbo") for name in wanted):
        subprocess.check_call(["cargo", "build", "--release", "--quiet", "--example", "gaussian_vae"], cwd=ROOT)
    args.data_dir = prepare_data(args)

    # Rounds over all contenders, so that a slow spell of a shared machine hits them alike; each
    # keeps its fastest round (the least disturbed) and its largest peak memory.
    results = {}
    for round_ in range(args.repeats):
        for name in wanted:
            r = run_contender(name, args)
            print(f"round {round_ + 1} {name}: {json.dumps(r)}", file=sys.stderr)
            best = results.setdefault(name, r)
            best["peak_rss_mib"] = max(best["peak_rss_mib"], r["peak_rss_mib"])
            if r["samples_per_sec"] > best["samples_per_sec"]:
                best["samples_per_sec"] = r["samples_per_sec"]
                best["compile_seconds"] = r.get("compile_seconds")

    source = args.data or "28x28 digits made from the shipped 8x8 ones"
    dim = read_idx(find_idx(args.data_dir, "train-images-idx3-ubyte")).shape
    print(f"VAE {dim[1] * dim[2]}-{args.hidden}-{args.latent}, Bernoulli, batch {args.batch}, Adam {args.lr}, "
          f"{args.train} training / {args.test} test images ({source}), {args.epochs} epochs, "
          f"{args.threads} threads, fastest of {args.repeats} rounds")
    print()
    print("| contender | training samples/s | elbo's speed-up | peak RSS (MiB) | elbo's memory ratio | test ELBO (nats/image) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        ours = results.get("elbo-f64" if name.endswith("f64") else "elbo")
        speedup = f"{ours['samples_per_sec'] / r['samples_per_sec']:.2f}x" if ours and ours is not r else ""
        memory = f"{r['peak_rss_mib'] / ours['peak_rss_mib']:.1f}x less" if ours and ours is not r else ""
        extra = f" (+{r['compile_seconds']:.1f} s compiling)" if r.get("compile_seconds") else ""
        print(f"| {name} | {r['samples_per_sec']:.0f}{extra} | {speedup} | {r['peak_rss_mib']:.0f} | "
              f"{memory} | {r['test_elbo']:.2f} |")


if __name__ == "__main__":
    main()
