//! The integration tests, as one test binary: each file a module, run by name
//! (`cargo test --release --test all device::`). One binary compiles the crate's generic code
//! for the tests once, where a binary per file instantiated it in each (the cold
//! `cargo test --release` compile, docs/benchmarks.md, "Build time").

mod common;

mod autodiff_ops;
mod autoencoders;
mod bounds;
mod checkpoint;
mod conv;
mod custom_ops;
mod custom_optimizer;
mod densities;
mod device;
mod distributions;
mod engine;
mod fitting;
mod generative;
mod idx;
mod kl;
mod layers;
mod linear;
mod low_rank;
mod programs;
mod psis;
mod readers_fuzz;
mod recovery;
mod reproducibility;
mod sequences;
mod sizes;
mod sweep;
mod transforms;
mod vae;
