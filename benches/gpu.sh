#!/usr/bin/env bash
# The checks and timings that need an NVIDIA GPU, for a GPU machine without Rust: build the
# binaries on any x86-64 machine, carry the folder, run them there from the repository's root.
#
#   bash benches/gpu.sh build DIR    # here: `--features cuda` tests and examples into DIR, stripped
#   bash benches/gpu.sh check DIR    # there: the GPU's tests, and gaussian_vae on cuda:0 and the CPU
#   bash benches/gpu.sh bench DIR    # there: benches/compare_vae.py --device cuda, batch 128 and 1024
#   bash benches/gpu.sh profile DIR  # there, after bench: one window of kernels under Nsight Compute
#   bash benches/gpu.sh session DIR  # there: the figures the issue needs first, in one short call
#
# `check` runs the backend contract on the GPU, the op tests (values and finite-difference
# gradients) and the device tests with cuda:0 among their devices, then trains the README's VAE
# on the GPU, on the CPU, and across the GPU and the emulated device (data-parallel), and the
# generators of `examples/generative.rs` on the GPU. Each prints what it runs; the failures are
# listed at the end.
# `session` is for a short lease (one call of at most 10 minutes): the contract, then the
# batch-128 side-by-side against PyTorch eager (the target still open), the device tests, the
# profile and batch 1024, each part under its own timeout and in order of need, so that what
# is cut off at the end matters least (570 s if every part runs to its limit). Each part's
# output goes to $OUT/NAME.log as it runs.
# Not part of the tests.
set -euo pipefail
usage="usage: bash benches/gpu.sh build|check|bench|profile|session DIR"
what=${1:?$usage}
dir=${2:?$usage}
# The integration tests are one binary, `all`; these are its modules that run on a device.
tests="autodiff_ops conv device"
examples="gaussian_vae autoencoders generative"

case $what in
build)
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
    mkdir -p "$dir"
    # The test binaries carry a hash in their names: take them from cargo's own report.
    cargo test --release --features cuda --no-run --lib --test all \
        --message-format json 2>/dev/null |
        python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        name = "lib" if m["target"]["kind"] == ["lib"] else m["target"]["name"]
        shutil.copy(m["executable"], sys.argv[1] + "/" + name)
' "$dir"
    cargo build --release --features cuda $(printf -- '--example %s ' $examples)
    for e in $examples; do cp "$CARGO_TARGET_DIR/release/examples/$e" "$dir/"; done
    strip "$dir"/*
    ls -l "$dir"
    ;;
check)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    failed=""
    run() { echo "== $*"; timeout 300 "$@" || failed="$failed\n  $*"; }
    run "$dir/lib" --test-threads 1 --nocapture backend::cuda
    for t in $tests; do run "$dir/all" --nocapture "$t::"; done
    for device in cuda:0 cpu; do
        run "$dir/gaussian_vae" --device "$device" --out "${OUT:-target}/gaussian_vae-${device/:/}"
    done
    # Data-parallel with one GPU: half of every minibatch on the emulated device.
    run "$dir/gaussian_vae" --device cuda:0 --data-parallel emulated:0 --epochs 30 \
        --out "${OUT:-target}/gaussian_vae-cuda0-emulated0"
    run "$dir/generative" --device cuda:0 --epochs 20 --out "${OUT:-target}/generative-cuda0"
    if [ -n "$failed" ]; then echo -e "FAILED:$failed"; exit 1; fi
    echo "all passed"
    ;;
bench)
    mkdir -p target/release/examples
    cp "$dir/gaussian_vae" target/release/examples/
    for batch in 128 1024; do
        PYTHONUNBUFFERED=1 python3 benches/compare_vae.py --device cuda --threads 16 \
            --only elbo,torch,torch-compile,numpyro --batch "$batch" "${@:3}"
    done
    ;;
profile)
    # A window of a training run's kernels (after the first epoch's start) under Nsight
    # Compute: each kernel's launches and GPU time. Needs `bench` to have written the data.
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1)
    "$ncu" --clock-control none --metrics gpu__time_duration.sum --launch-skip "${3:-3000}" \
        --launch-count "${4:-1000}" --print-summary per-kernel \
        "$dir/gaussian_vae" --device cuda --data target/compare_vae/data --likelihood bernoulli \
        --latent 20 --hidden 400 --batch "${5:-128}" --epochs 2 --iwae-k 1 --out target/profiled
    ;;
session)
    out=${OUT:-target/gpu-session}
    mkdir -p "$out" target/release/examples
    cp "$dir/gaussian_vae" target/release/examples/
    failed=""
    part() {
        local name=$1 limit=$2
        shift 2
        echo "== $name ($limit s): $*"
        local start=$SECONDS
        timeout "$limit" "$@" >"$out/$name.log" 2>&1 || failed="$failed\n  $name (exit $?)"
        echo "   $((SECONDS - start)) s; last lines:"
        tail -n 4 "$out/$name.log" | sed 's/^/   /'
    }
    export PYTHONUNBUFFERED=1
    compare=(python3 benches/compare_vae.py --device cuda --threads 16 --train 60000
        --test 10000 --epochs 3 --repeats 2 --iwae-k 0)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.log"
    part contract 60 "$dir/lib" --test-threads 1 --nocapture backend::cuda
    part bench128 150 "${compare[@]}" --only elbo,torch --batch 128
    part device 90 "$dir/all" --nocapture device::
    part profile 90 bash "$0" profile "$dir" 3000 700
    part bench1024 120 "${compare[@]}" --only elbo,torch,torch-compile,numpyro --batch 1024
    part ops 60 bash -c "'$dir/all' autodiff_ops:: && '$dir/all' conv::"
    if [ -n "$failed" ]; then echo -e "FAILED:$failed"; exit 1; fi
    echo "all passed"
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
