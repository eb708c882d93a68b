#!/usr/bin/env python3
"""Side-by-side: elbo's VAE against the PyTorch reference VAE, same data, same run.

The reference is PyTorch's classic VAE example: encoder D-400 ReLU with two 400-20 heads (mean,
log-variance), decoder 20-400 ReLU-D with a sigmoid, Bernoulli likelihood (binary cross-entropy),
Adam at 1e-3, batch 128. Both train on the same images (the digits shipped in data/digits8x8 by
default, or an MNIST-format directory) for the same epochs, and report the mean test ELBO per
image (analytic KL, one draw) and training samples per second.

    python3 benches/vae_pytorch.py [--epochs 10] [--data DIR] [--threads 2]

Needs torch importable (`pip install torch`). Not part of the tests.
"""
import argparse
import gzip
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(path):
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, prefix):
    import numpy as np
    path = os.path.join(data_dir, f"{prefix}-images-idx3-ubyte")
    if not os.path.exists(path):
        path += ".gz"
    images = read_idx(path)
    return (images.reshape(images.shape[0], -1) / 255.0).astype(np.float32)


def torch_vae(train, test, args):
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    d = train.shape[1]

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(d, args.hidden)
            self.fc21 = nn.Linear(args.hidden, args.latent)
            self.fc22 = nn.Linear(args.hidden, args.latent)
            self.fc3 = nn.Linear(args.latent, args.hidden)
            self.fc4 = nn.Linear(args.hidden, d)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            logits = self.fc4(F.relu(self.fc3(z)))
            return logits, mu, logvar

    def neg_elbo(model, x):
        logits, mu, logvar = model(x)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    xtrain, xtest = torch.from_numpy(train), torch.from_numpy(test)
    seconds = 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(xtrain))
        for i in range(0, len(xtrain), args.batch):
            x = xtrain[perm[i:i + args.batch]]
            opt.zero_grad()
            loss = neg_elbo(model, x)
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - start
    with torch.no_grad():
        test_elbo = -neg_elbo(model, xtest).item() / len(xtest)
    return test_elbo, args.epochs * len(train) / seconds


def ours(args):
    cmd = ["cargo", "run", "--release", "--quiet", "--example", "gaussian_vae", "--",
           "--likelihood", "bernoulli", "--latent", str(args.latent), "--hidden", str(args.hidden),
           "--batch", str(args.batch), "--lr", str(args.lr), "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--threads", str(args.threads),
           "--out", os.path.join(ROOT, "target", "vae_pytorch_compare")]
    if args.data:
        cmd += ["--data", args.data]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST-format directory (default: the bundled digits)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    data_dir = args.data or os.path.join(ROOT, "data", "digits8x8")
    train, test = load(data_dir, "train"), load(data_dir, "t10k")
    mine = ours(args)
    torch_elbo, torch_rate = torch_vae(train, test, args)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(train)} train / {len(test)} test images "
          f"of {train.shape[1]} pixels, {args.epochs} epochs, Bernoulli, {train.shape[1]}-{args.hidden}-{args.latent}")
    print()
    print("| | test ELBO (nats per image) | training samples/s |")
    print("| --- | --- | --- |")
    print(f"| elbo (f32) | {mine['test_elbo']:.2f} | {mine['train_samples_per_sec']:.0f} |")
    print(f"| PyTorch | {torch_elbo:.2f} | {torch_rate:.0f} |")
    print(f"| ratio | {mine['test_elbo'] - torch_elbo:+.2f} nats | {mine['train_samples_per_sec'] / torch_rate:.2f}x |")


if __name__ == "__main__":
    main()
