#!/usr/bin/env python3
"""Side-by-side: elbo's VAE against PyTorch, Pyro and NumPyro — same model, data, steps and cores.

The model is the classic one: encoder D-400 ReLU with two 400-20 heads (mean, log-variance),
decoder 20-400 ReLU-D giving Bernoulli logits, standard normal prior, the ELBO with the KL in
closed form and one reparameterised draw, Adam at 1e-3, minibatches of `--batch`, the same
initialisation family (U(±1/√fan_in), PyTorch's default). Every contender trains on the same
images for the same epochs in its own process, pinned to the same `--threads` cores, and reports:

- training samples per second: the training set's size over the median epoch after the first
  (compilation, JAX's or torch.compile's, happens before and is reported apart); each contender
  keeps its fastest of `--repeats` rounds over all of them (this kind of shared machine has slow
  spells);
- the peak resident memory of its process (ru_maxrss);
- the test ELBO per image after training (closed-form KL, one draw);
- the importance-weighted bound with `--iwae-k` samples on the test images, and the seconds it
  took (elbo, PyTorch and NumPyro; 0 skips it).

Each peer runs in the fastest configuration found for it on the project's machines: PyTorch eager
with `torch.set_num_threads(N)` (and torch.compile as its own contender); NumPyro with stax layers
through `numpyro.module`, a jitted `svi.update`, and minibatches gathered by NumPy on the host (a
gather on JAX arrays outside the jitted step dispatches eager ops, which compile in the first
epoch and cost ~10% after it: the previous harness measured 16-23k samples/s where this one
measures 30-33k on the same machine).

Data: `--data DIR` reads MNIST-format files (train-images-idx3-ubyte[.gz], t10k-...) and takes the
first `--train` / `--test` images. Without it (MNIST is not shipped), 28x28 digits are made from
the 8x8 digits shipped in data/digits8x8: each is upsampled bilinearly to 20x20 and placed at a
random offset in a 28x28 frame, as MNIST centres its 20x20 digits. Both are written as IDX files
into target/compare_vae/ and read from there by every contender.

    python3 benches/compare_vae.py --install         # makes target/bench-venv with torch, pyro, numpyro
    python3 benches/compare_vae.py                   # all contenders that are importable, 2 threads
    python3 benches/compare_vae.py --threads 16 --batch 1024 --only elbo,torch,numpyro
    python3 benches/compare_vae.py --scaling         # also elbo's and PyTorch's thread-scaling table
    python3 benches/compare_vae.py --device cuda --only elbo,torch,torch-compile,numpyro

With `--device cuda` every contender trains and evaluates on the first GPU (PyTorch's and
NumPyro's CUDA builds; elbo's binary built with `--features cuda`, which this script builds when
cargo is there and otherwise takes as it finds it, so that a binary built elsewhere can be
carried to a GPU machine), and the table adds each one's peak GPU memory as its framework
reports it (elbo: the driver's used memory at the end of the run, which includes the context).

Not part of the tests.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time

import bench_venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "compare_vae")
CONTENDERS = ["elbo", "elbo-f64", "torch", "torch-f64", "torch-compile", "pyro", "numpyro"]
# Contenders that also time the IWAE bound (the f64 twins and Pyro would repeat PyTorch's code).
IWAE_CONTENDERS = {"elbo", "torch", "numpyro"}
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
# Contenders: each runs in its own process (`--worker NAME`) and prints one JSON line with the
# seconds of every epoch, the test ELBO and, where asked, the IWAE bound and its seconds.


def elbo_worker(args, f64):
    exe = os.path.join(ROOT, "target", "release", "examples", "gaussian_vae")
    cmd = [exe, "--data", args.data_dir, "--likelihood", "bernoulli", "--latent", str(args.latent),
           "--hidden", str(args.hidden), "--batch", str(args.batch), "--lr", str(args.lr),
           "--epochs", str(args.epochs), "--seed", str(args.seed), "--threads", str(args.threads),
           "--iwae-k", str(max(args.iwae_k, 1)), "--out", os.path.join(OUT, "elbo-figures"),
           "--device", args.device]
    if f64:
        cmd.append("--f64")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    result = {"median_epoch_seconds": summary["median_epoch_seconds"], "test_elbo": summary["test_elbo"]}
    if args.iwae_k > 0:
        result.update(iwae=summary["test_iwae"], iwae_seconds=summary["iwae_seconds"])
    if summary.get("device_memory_mib") is not None:
        result["device_peak_mib"] = summary["device_memory_mib"]
    return result


def iwae_chunks(k, dim):
    """Test images per IWAE chunk: about 4M entries of k x dim logits (5 images at K = 1000 and
    784 pixels, which timed fastest for PyTorch among 1, 5 and 20)."""
    return max(1, (1 << 22) // (k * dim))


def torch_worker(args, f64, mode):
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = np.float64 if f64 else np.float32
    train = torch.from_numpy(load(args.data_dir, "train", dtype)).to(device)
    test = torch.from_numpy(load(args.data_dir, "t10k", dtype)).to(device)
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

    encoder, decoder = Encoder().to(device), Decoder().to(device)
    if f64:
        encoder.double()
        decoder.double()

    def neg_elbo(x):
        mu, logvar = encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        bce = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    if mode == "pyro":
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
        loss_fn = torch.compile(neg_elbo) if mode == "compile" else neg_elbo

        def step(x):
            opt.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            opt.step()

    def finished():
        """Waits for the GPU's queued work (a no-op on the CPU), so that times cover it."""
        if device.type == "cuda":
            torch.cuda.synchronize()

    result = {}
    if mode == "compile":
        # Compile both batch shapes (a full batch and the last, shorter one) before timing.
        start = time.perf_counter()
        for size in {args.batch, len(train) % args.batch or args.batch}:
            step(train[:size])
        finished()
        result["compile_seconds"] = time.perf_counter() - start
    epoch_seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(train), device=device)
        for i in range(0, len(train), args.batch):
            step(train[perm[i:i + args.batch]])
        finished()
        epoch_seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        result["test_elbo"] = -neg_elbo(test).item() / len(test)
    result["epoch_seconds"] = epoch_seconds

    @torch.no_grad()
    def iwae(x, k):
        total, chunk, log_k = 0.0, iwae_chunks(k, d), np.log(k)
        for i in range(0, len(x), chunk):
            xb = x[i:i + chunk]
            mu, logvar = encoder(xb)
            std = torch.exp(0.5 * logvar)
            eps = torch.randn((k,) + mu.shape, dtype=mu.dtype, device=mu.device)
            z = mu + std * eps
            log_px = -F.binary_cross_entropy_with_logits(
                decoder(z), xb.expand(k, -1, -1), reduction="none").sum(-1)
            # log p(z) - log q(z | x); the 2π terms cancel.
            log_w = log_px + (-0.5 * z * z + 0.5 * eps * eps + torch.log(std)).sum(-1)
            total += (torch.logsumexp(log_w, 0) - log_k).sum().item()
        return total / len(x)

    if args.iwae_k > 0 and mode == "eager":
        start = time.perf_counter()
        result["iwae"] = iwae(test, args.iwae_k)
        result["iwae_seconds"] = time.perf_counter() - start
    if device.type == "cuda":
        result["device_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def numpyro_worker(args):
    import numpy as np
    import jax
    import jax.numpy as jnp
    from jax.example_libraries import stax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, TraceMeanField_ELBO

    on_gpu = args.device == "cuda"
    numpyro.set_platform("cuda" if on_gpu else "cpu")
    # On the CPU, NumPy: batches are gathered on the host. On a GPU the data stay there and
    # each batch is gathered there.
    train = load(args.data_dir, "train", np.float32)
    if on_gpu:
        train = jnp.asarray(train)
    test = jnp.asarray(load(args.data_dir, "t10k", np.float32))
    d, h, q = train.shape[1], args.hidden, args.latent

    def dense(fan_in, fan_out):
        """stax.Dense with PyTorch's U(±1/√fan_in) for weights and biases."""
        bound = 1.0 / np.sqrt(fan_in)
        init = lambda key, shape: jax.random.uniform(key, shape, minval=-bound, maxval=bound)
        return stax.Dense(fan_out, W_init=init, b_init=init)

    encoder = stax.serial(dense(d, h), stax.Relu, stax.FanOut(2), stax.parallel(dense(h, q), dense(h, q)))
    decoder = stax.serial(dense(q, h), stax.Relu, dense(h, d))

    def model(x):
        decode = numpyro.module("decoder", decoder, (args.batch, q))
        with numpyro.plate("data", x.shape[0]):
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([q]).to_event(1))
            numpyro.sample("x", dist.Bernoulli(logits=decode(z), validate_args=False).to_event(1), obs=x)

    def guide(x):
        encode = numpyro.module("encoder", encoder, (args.batch, d))
        mu, logvar = encode(x)
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample("z", dist.Normal(mu, jnp.exp(0.5 * logvar)).to_event(1))

    svi = SVI(model, guide, numpyro.optim.Adam(args.lr), TraceMeanField_ELBO())
    update = jax.jit(svi.update)
    state = svi.init(jax.random.PRNGKey(args.seed), train[:args.batch])

    # Compile every batch shape first (a full batch and the last, shorter one), on a throwaway
    # state, and report that time apart.
    start = time.perf_counter()
    for size in {args.batch, len(train) % args.batch or args.batch}:
        jax.block_until_ready(update(state, train[:size]))
    result = {"compile_seconds": time.perf_counter() - start}

    rng = np.random.default_rng(args.seed)
    epoch_seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        perm = rng.permutation(len(train))
        for i in range(0, len(train), args.batch):
            state, _ = update(state, train[perm[i:i + args.batch]])
        jax.block_until_ready(state)
        epoch_seconds.append(time.perf_counter() - start)
    result["epoch_seconds"] = epoch_seconds
    result["test_elbo"] = -float(svi.evaluate(state, test)) / len(test)
    if on_gpu:
        result["device_peak_mib"] = jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20

    if args.iwae_k > 0:
        params = svi.get_params(state)
        encode, decode = encoder[1], decoder[1]
        k, chunk = args.iwae_k, iwae_chunks(args.iwae_k, d)

        @jax.jit
        def chunk_bound(xb, key):
            mu, logvar = encode(params["encoder$params"], xb)
            std = jnp.exp(0.5 * logvar)
            eps = jax.random.normal(key, (k,) + mu.shape)
            z = mu + std * eps
            logits = decode(params["decoder$params"], z)
            log_px = jnp.sum(xb * logits - jax.nn.softplus(logits), -1)
            log_w = log_px + jnp.sum(-0.5 * z * z + 0.5 * eps * eps + jnp.log(std), -1)
            return jnp.sum(jax.nn.logsumexp(log_w, 0) - jnp.log(k))

        key = jax.random.PRNGKey(args.seed + 1)
        starts = range(0, len(test), chunk)
        # Compile the chunk shapes first, like the training step.
        for size in {chunk, len(test) % chunk or chunk}:
            jax.block_until_ready(chunk_bound(test[:size], key))
        start = time.perf_counter()
        total = 0.0
        for i in starts:
            key, sub = jax.random.split(key)
            total += float(chunk_bound(test[i:i + chunk], sub))
        result["iwae_seconds"] = time.perf_counter() - start
        result["iwae"] = total / len(test)
    return result


def worker(args):
    name = args.worker
    if name.startswith("numpyro"):
        result = numpyro_worker(args)
    elif name.startswith("elbo"):
        result = elbo_worker(args, name.endswith("f64"))
    else:
        mode = {"pyro": "pyro", "torch-compile": "compile"}.get(name, "eager")
        result = torch_worker(args, name.endswith("f64"), mode)
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The driver


def importable(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def cores(threads):
    """The first `threads` cores this process may run on; exits if there are fewer."""
    allowed = sorted(os.sched_getaffinity(0))
    if threads > len(allowed):
        sys.exit(f"--threads {threads}: this process may run on {len(allowed)} cores only")
    return allowed[:threads]


def run_contender(name, args, threads, batch):
    """Runs one contender in a child process pinned to `threads` cores; its JSON plus samples/s
    (over the median epoch after the first) and the child's peak RSS in MiB."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--data-dir", args.data_dir,
           "--threads", str(threads), "--batch", str(batch),
           "--iwae-k", str(args.iwae_k if name in IWAE_CONTENDERS else 0), "--device", args.device]
    for flag in ["epochs", "latent", "hidden", "lr", "seed"]:
        cmd += [f"--{flag}", str(getattr(args, flag))]
    pinned = cores(threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}")
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env,
                             preexec_fn=lambda: os.sched_setaffinity(0, pinned))
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        sys.exit(f"{name} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    if "median_epoch_seconds" not in result:
        epochs = result.pop("epoch_seconds")
        timed = sorted(epochs[1:] or epochs)
        result["median_epoch_seconds"] = timed[len(timed) // 2]
    result["samples_per_sec"] = args.train / result["median_epoch_seconds"]
    # ru_maxrss is in KiB on Linux. The elbo worker is a Python process waiting on the Rust
    # binary: the maximum over the process tree is the binary's (Python's own is ~10 MiB).
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def rounds(names, args, threads, batch):
    """`--repeats` rounds over `names`, so that a slow spell of a shared machine hits them alike;
    each keeps its fastest training and IWAE (the least disturbed) and its largest peak memory."""
    best = {}
    for round_ in range(args.repeats):
        for name in names:
            r = run_contender(name, args, threads, batch)
            print(f"round {round_ + 1}, {threads} threads, batch {batch}, {name}: {json.dumps(r)}",
                  file=sys.stderr)
            b = best.setdefault(name, r)
            b["peak_rss_mib"] = max(b["peak_rss_mib"], r["peak_rss_mib"])
            if "device_peak_mib" in r:
                b["device_peak_mib"] = max(b.get("device_peak_mib", 0.0), r["device_peak_mib"])
            if r["samples_per_sec"] > b["samples_per_sec"]:
                b["samples_per_sec"], b["compile_seconds"] = r["samples_per_sec"], r.get("compile_seconds")
            if r.get("iwae_seconds", float("inf")) < b.get("iwae_seconds", float("inf")):
                b["iwae_seconds"], b["iwae"] = r["iwae_seconds"], r["iwae"]
    return best


def print_table(results):
    gpu = any("device_peak_mib" in r for r in results.values())
    print("| contender | training samples/s | elbo's speed-up | peak RSS (MiB) | elbo's memory ratio "
          "| test ELBO (nats/image) | IWAE seconds | elbo's IWAE speed-up | IWAE bound |"
          + (" peak GPU memory (MiB) |" if gpu else ""))
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if gpu else ""))
    for name, r in results.items():
        ours = results.get("elbo-f64" if name.endswith("f64") else "elbo")
        theirs = ours is not None and ours is not r
        speedup = f"{ours['samples_per_sec'] / r['samples_per_sec']:.2f}x" if theirs else ""
        memory = f"{r['peak_rss_mib'] / ours['peak_rss_mib']:.1f}x less" if theirs else ""
        extra = f" (+{r['compile_seconds']:.1f} s compiling)" if r.get("compile_seconds") else ""
        iwae_s = f"{r['iwae_seconds']:.2f}" if "iwae_seconds" in r else "–"
        iwae_speedup = (f"{r['iwae_seconds'] / ours['iwae_seconds']:.2f}x"
                        if theirs and "iwae_seconds" in r and "iwae_seconds" in ours else "")
        bound = f"{r['iwae']:.2f}" if "iwae" in r else "–"
        device_peak = f" {r['device_peak_mib']:.0f} |" if "device_peak_mib" in r else (" – |" if gpu else "")
        print(f"| {name} | {r['samples_per_sec']:.0f}{extra} | {speedup} | {r['peak_rss_mib']:.0f} | "
              f"{memory} | {r['test_elbo']:.2f} | {iwae_s} | {iwae_speedup} | {bound} |{device_peak}")


def print_scaling(args, names):
    """elbo's and PyTorch's training and IWAE at 1, 2, 4, 8, 16 threads (those the machine has)."""
    available = len(os.sched_getaffinity(0))
    counts = [t for t in (1, 2, 4, 8, 16) if t <= available]
    rows = {t: rounds(names, args, t, args.batch) for t in counts}
    print()
    print(f"Thread scaling, batch {args.batch} (samples/s; speed-up over 1 thread in brackets):")
    print()
    head = " | ".join(f"{n} samples/s | {n} IWAE s" for n in names)
    print(f"| threads | {head} |")
    print("|" + " --- |" * (1 + 2 * len(names)))
    for t in counts:
        cells = []
        for n in names:
            r, one = rows[t][n], rows[counts[0]][n]
            cells.append(f"{r['samples_per_sec']:.0f} ({r['samples_per_sec'] / one['samples_per_sec']:.2f}x)")
            cells.append(f"{r['iwae_seconds']:.2f}" if "iwae_seconds" in r else "–")
        print(f"| {t} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", help="MNIST-format directory (default: digits made from the shipped 8x8 ones)")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2,
                        help="cores every contender is pinned to (and its thread count)")
    parser.add_argument("--iwae-k", type=int, default=1000,
                        help="importance samples of the timed IWAE bound on the test images (0: skip)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds over all contenders; each reports its fastest round")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(CONTENDERS)}")
    parser.add_argument("--scaling", action="store_true",
                        help="also time elbo and PyTorch on 1, 2, 4, 8 and 16 cores (as many as there are)")
    parser.add_argument("--install", action="store_true", help="make target/bench-venv and pip-install the peers")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where every contender trains and evaluates (default: cpu)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.install:
        bench_venv.install_and_rerun(PIP, __file__)
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2: the first epoch is not timed")
    cores(args.threads)

    wanted = args.only.split(",") if args.only else CONTENDERS
    unknown = set(wanted) - set(CONTENDERS)
    if unknown:
        sys.exit(f"unknown contender(s) {sorted(unknown)}; choose from {CONTENDERS}")
    needs = {"torch": "torch", "torch-f64": "torch", "torch-compile": "torch", "pyro": "pyro",
             "numpyro": "numpyro"}
    missing = [name for name in wanted if name in needs and not importable(needs[name])]
    for name in missing:
        print(f"skipping {name}: `{needs[name]}` is not importable (rerun with --install)", file=sys.stderr)
    wanted = [name for name in wanted if name not in missing]
    if any(name.startswith("elbo") for name in wanted):
        build = ["cargo", "build", "--release", "--quiet", "--example", "gaussian_vae"]
        if args.device == "cuda":
            build += ["--features", "cuda"]
        if shutil.which("cargo"):
            subprocess.check_call(build, cwd=ROOT)
        elif not os.path.exists(os.path.join(ROOT, "target", "release", "examples", "gaussian_vae")):
            sys.exit(f"no cargo here to build elbo's binary: build it with `{' '.join(build)}`")
    args.data_dir = prepare_data(args)

    results = rounds(wanted, args, args.threads, args.batch)
    source = args.data or "28x28 digits made from the shipped 8x8 ones"
    dim = read_idx(find_idx(args.data_dir, "train-images-idx3-ubyte")).shape
    print(f"VAE {dim[1] * dim[2]}-{args.hidden}-{args.latent}, Bernoulli, batch {args.batch}, Adam {args.lr}, "
          f"{args.train} training / {args.test} test images ({source}), {args.epochs} epochs, "
          f"{args.threads} threads, IWAE K = {args.iwae_k}, fastest of {args.repeats} rounds, "
          f"on {'the GPU' if args.device == 'cuda' else 'the CPU'}")
    print()
    print_table(results)
    if args.scaling:
        print_scaling(args, [n for n in ("elbo", "torch") if n in wanted])


if __name__ == "__main__":
    main()
