//! The gradients one backward pass leaves: by parameter (where the tape ran: on the host, or
//! kept on its device for a device optimizer) and by input.

use super::tape::Var;
use crate::backend::{Device, DeviceMatrix, Kernels, Placed};
use crate::error::{Error, Result};
use crate::kernels::{PIECE, add_to, buffers, for_each_piece, worth_spreading};
use crate::ops::{BinaryOp, Reduce, UnaryOp};
use crate::params::{ParamId, ParamStore};
use crate::real::Real;
use crate::validate::first_failing;
use nalgebra::DMatrix;
use rayon::prelude::*;
use std::sync::Arc;

/// Gradients of one backward pass, by parameter and by input.
///
/// Parameter gradients are looked up and iterated by [`ParamId`]; they remember the store whose
/// tape made them, and [`Gradients::check_store`] refuses another store, so an optimizer can
/// never apply them to the wrong matrices.
///
/// A tape on a device leaves its parameter gradients there; reading one here
/// ([`Gradients::param`], [`Gradients::iter`]) copies it back on first read, and
/// [`Gradients::iter_mut`] brings them back for good. The norm and the finiteness check run on
/// the device.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real> {
    store: Option<u64>,
    nodes: Vec<Option<DMatrix<T>>>,
    /// By the parameter's position in its store.
    params: Vec<Option<Placed<T>>>,
}

impl<T: Real> Gradients<T> {
    /// Gradients by node and by parameter position, taken on a tape of the store `store`.
    pub(crate) fn new(
        store: Option<u64>,
        nodes: Vec<Option<DMatrix<T>>>,
        params: Vec<Option<Placed<T>>>,
    ) -> Self {
        Gradients {
            store,
            nodes,
            params,
        }
    }

    /// Gradient with respect to a parameter; `None` if the loss does not depend on it (or it
    /// was frozen, or loaded as a constant).
    ///
    /// # Panics
    /// If `id` belongs to a store other than the one the tape loaded from, or the tape had no
    /// store (a programming error, as for [`ParamStore::get`]).
    pub fn param(&self, id: ParamId) -> Option<&DMatrix<T>> {
        self.placed(id).map(Placed::host)
    }

    /// As [`Gradients::param`], where the gradient lives.
    pub(crate) fn placed(&self, id: ParamId) -> Option<&Placed<T>> {
        assert!(
            Some(id.store()) == self.store,
            "ParamId {id:?} is not a parameter of the store these gradients were taken in"
        );
        self.params.get(id.index())?.as_ref()
    }

    /// Gradient with respect to a leaf made by [`Tape::input`](super::Tape::input); `None` if
    /// the loss does not depend on it.
    pub fn wrt(&self, input: Var<'_, T>) -> Option<&DMatrix<T>> {
        self.nodes.get(input.id)?.as_ref()
    }

    /// Checks that these gradients were taken on a tape of `store`.
    ///
    /// # Errors
    /// [`Error::ForeignGradients`] otherwise: applying them would move the wrong matrices.
    pub fn check_store(&self, store: &ParamStore<T>) -> Result<()> {
        if self.store == Some(store.uid()) {
            Ok(())
        } else {
            Err(Error::ForeignGradients)
        }
    }

    /// The parameters that have a gradient, with it, in the store's order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &DMatrix<T>)> {
        self.iter_placed().map(|(id, g)| (id, g.host()))
    }

    /// As [`Gradients::iter`], where each gradient lives.
    pub(crate) fn iter_placed(&self) -> impl Iterator<Item = (ParamId, &Placed<T>)> {
        let store = self.store.unwrap_or(u64::MAX);
        self.params
            .iter()
            .enumerate()
            .filter_map(move |(i, g)| Some((ParamId::new(store, i), g.as_ref()?)))
    }

    /// As [`Gradients::iter`], mutable (for clipping and other transforms); gradients on a
    /// device come back to the host.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut DMatrix<T>)> {
        let store = self.store.unwrap_or(u64::MAX);
        self.params
            .iter_mut()
            .enumerate()
            .filter_map(move |(i, g)| Some((ParamId::new(store, i), g.as_mut()?.host_mut())))
    }

    /// The gradients on a device, with their parameters, in the store's order.
    fn on_device(&self) -> Vec<(ParamId, &DeviceMatrix<T>)> {
        self.iter_placed()
            .filter_map(|(id, g)| match g {
                Placed::Device(d) => Some((id, d.matrix())),
                Placed::Host(_) => None,
            })
            .collect()
    }

    /// Euclidean norm over every parameter gradient.
    ///
    /// # Panics
    /// With the device's error, if a device holding gradients fails (the engine reads it
    /// through a fallible path and returns the error).
    pub fn norm(&self) -> T {
        self.try_norm().unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Gradients::norm`], returning a device's failure.
    fn try_norm(&self) -> Result<T> {
        let on_host = self
            .iter_placed()
            .filter_map(|(_, g)| match g {
                Placed::Host(g) => Some(g.as_slice().iter().fold(T::zero(), |a, &v| a + v * v)),
                Placed::Device(_) => None,
            })
            .fold(T::zero(), |a, b| a + b);
        let on_device = device_total(&self.on_device(), UnaryOp::Square)?.unwrap_or(T::zero());
        Ok((on_host + on_device).sqrt())
    }

    /// Rescales the parameter gradients so that their joint norm is at most `max_norm`; returns
    /// the norm before clipping.
    ///
    /// # Panics
    /// As [`Gradients::norm`].
    pub fn clip_norm(&mut self, max_norm: T) -> T {
        self.try_clip_norm(max_norm)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Gradients::clip_norm`], returning a device's failure.
    ///
    /// # Errors
    /// [`Error::Device`] if a device holding gradients fails.
    pub(crate) fn try_clip_norm(&mut self, max_norm: T) -> Result<T> {
        let norm = self.try_norm()?;
        if norm > max_norm && norm.is_finite() {
            let s = max_norm / norm;
            for g in self.params.iter_mut().flatten() {
                match g {
                    Placed::Host(g) => *Arc::make_mut(g) *= s,
                    Placed::Device(d) => {
                        let kernels = Kernels::of(d.matrix().device())?;
                        *g = Placed::device_matrix(kernels.unary(UnaryOp::Scale(s), d.matrix())?);
                    }
                }
            }
        }
        Ok(norm)
    }

    /// Adds the gradients of another backward pass over the same store (a shard of the same
    /// batch, say). Where this side's gradient is on a device, the sum is made there (the other
    /// side's copied over first if it lives elsewhere); where it is on the host, the other's is
    /// read back and added on the host.
    ///
    /// # Errors
    /// [`Error::Device`] if a device fails at a copy or at the addition.
    ///
    /// # Panics
    /// If the two come from different stores.
    pub(crate) fn add(&mut self, mut other: Gradients<T>) -> Result<()> {
        assert_eq!(self.store, other.store, "gradients of different stores");
        // Every host parameter's pieces added in one parallel pass (a pass per parameter paid
        // a wake-up of the pool's threads for each); a gradient only one side has is moved.
        let mut theirs_kept = Vec::new();
        let mut pieces = Vec::new();
        for (mine, theirs) in self
            .params
            .iter_mut()
            .zip(std::mem::take(&mut other.params))
        {
            match (mine, theirs) {
                (Some(acc), Some(g)) => {
                    assert_eq!(
                        acc.shape(),
                        g.shape(),
                        "gradient contributions differ in shape"
                    );
                    match acc {
                        Placed::Device(_) => *acc = sum_on_device(acc, g)?,
                        Placed::Host(_) => {
                            theirs_kept.push(g.into_host()?);
                            pieces.push(acc.try_host_mut()?);
                        }
                    }
                }
                (mine @ None, theirs) => *mine = theirs,
                (Some(_), None) => {}
            }
        }
        let pairs: Vec<(&mut [T], &[T])> = pieces
            .into_iter()
            .zip(&theirs_kept)
            .flat_map(|(acc, g)| {
                acc.as_mut_slice()
                    .chunks_mut(PIECE)
                    .zip(g.as_slice().chunks(PIECE))
            })
            .collect();
        let entries = pairs.iter().map(|(_, g)| g.len()).sum();
        for_each_piece(pairs, entries, |(acc, g)| add_to(acc, g));
        theirs_kept.into_iter().for_each(buffers::recycle);
        Ok(())
    }

    /// Moves every parameter gradient to `device` (those already there stay as they are): a
    /// data-parallel step's gradients, made on several devices, to where the optimizer runs.
    ///
    /// # Errors
    /// [`Error::DeviceUnavailable`] or [`Error::Device`] if a device cannot make the copy.
    pub(crate) fn move_to(&mut self, device: Device) -> Result<()> {
        self.params
            .iter_mut()
            .flatten()
            .try_for_each(|g| g.move_to(device))
    }

    /// The first parameter whose gradient holds NaN or an infinity.
    ///
    /// # Panics
    /// As [`Gradients::norm`].
    pub fn first_non_finite(&self) -> Option<ParamId> {
        self.try_first_non_finite()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Gradients::first_non_finite`], returning a device's failure.
    ///
    /// # Errors
    /// [`Error::Device`] if a device holding gradients fails.
    pub(crate) fn try_first_non_finite(&self) -> Result<Option<ParamId>> {
        // One parallel pass over every host gradient's pieces, in order.
        let pieces: Vec<(ParamId, &[T])> = self
            .iter_placed()
            .filter_map(|(id, g)| match g {
                Placed::Host(g) => Some((id, g.as_slice())),
                Placed::Device(_) => None,
            })
            .flat_map(|(id, g)| g.chunks(PIECE).map(move |piece| (id, piece)))
            .collect();
        let entries: usize = pieces.iter().map(|(_, piece)| piece.len()).sum();
        let fails =
            |(_, piece): &(ParamId, &[T])| first_failing(piece, |v| v.is_finite()).is_some();
        let first = if worth_spreading(entries) {
            pieces.par_iter().position_first(fails)
        } else {
            pieces.iter().position(fails)
        };
        let on_host = first.map(|i| pieces[i].0);
        // On a device: one check over every gradient, read back once; only a failure looks
        // for its parameter.
        let on_device = self.on_device();
        let finite = |gs: &[(ParamId, &DeviceMatrix<T>)]| -> Result<bool> {
            let Some((_, first)) = gs.first() else {
                return Ok(true);
            };
            let kernels = Kernels::of(first.device())?;
            let gs: Vec<_> = gs.iter().map(|&(_, g)| g).collect();
            let total = kernels.non_finite_total(&gs)?;
            Ok(total.to_host()?[(0, 0)] == T::zero())
        };
        let mut on_device_culprit = None;
        if !finite(&on_device)? {
            for &g in &on_device {
                if !finite(&[g])? {
                    on_device_culprit = Some(g.0);
                    break;
                }
            }
        }
        Ok(on_host.into_iter().chain(on_device_culprit).min())
    }
}

/// `acc + g`, made on `acc`'s device, with `g` copied there first if it lives elsewhere.
fn sum_on_device<T: Real>(acc: &Placed<T>, mut g: Placed<T>) -> Result<Placed<T>> {
    let device = acc.device();
    g.move_to(device)?;
    let (Some(a), Some(b)) = (acc.on(device), g.on(device)) else {
        unreachable!("both on {device}")
    };
    let kernels = Kernels::of(device)?;
    Ok(Placed::device_matrix(kernels.binary(
        BinaryOp::Add,
        a,
        b,
    )?))
}

/// Σ over the gradients of the sum of `op` applied to each entry, computed on their device and
/// read back once; `None` if there are none.
fn device_total<T: Real>(
    gradients: &[(ParamId, &DeviceMatrix<T>)],
    op: UnaryOp<T>,
) -> Result<Option<T>> {
    let Some((_, first)) = gradients.first() else {
        return Ok(None);
    };
    let kernels = Kernels::of(first.device())?;
    let mut total: Option<DeviceMatrix<T>> = None;
    for (_, g) in gradients {
        let sum = kernels.sum(&kernels.unary(op, g)?, Reduce::All)?;
        total = Some(match total {
            None => sum,
            Some(total) => kernels.binary(BinaryOp::Add, &total, &sum)?,
        });
    }
    Ok(total.map(|t| t.to_host()).transpose()?.map(|t| t[(0, 0)]))
}

impl<T: Real> Drop for Gradients<T> {
    /// Hands the gradients' host storage back for the next step's matrices.
    fn drop(&mut self) {
        for g in self.nodes.drain(..).flatten() {
            buffers::recycle(g);
        }
        for g in self.params.drain(..).flatten() {
            if let Placed::Host(g) = g
                && let Ok(g) = Arc::try_unwrap(g)
            {
                buffers::recycle(g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Tape;
    use crate::backend::Device;

    /// Gradients of Σ (x w + b)² + Σ √c on `device`, with `c` as given (a negative entry makes
    /// its gradient NaN).
    fn gradients(device: Device, c: f64) -> (ParamStore<f64>, Gradients<f64>) {
        let mut store = ParamStore::new();
        let w = store
            .add(
                "w",
                DMatrix::from_fn(3, 2, |i, j| 0.3 * i as f64 - 0.7 * j as f64),
            )
            .unwrap();
        let b = store
            .add("b", DMatrix::from_row_slice(1, 2, &[0.5, -1.5]))
            .unwrap();
        let c = store.add("c", DMatrix::from_element(2, 2, c)).unwrap();
        let x = DMatrix::from_fn(4, 3, |i, j| (i * 3 + j) as f64 / 5.0 - 1.0);
        let grads = {
            let tape = Tape::with_params(&store).on_device(device).unwrap();
            let fit = tape.constant(x).affine(tape.param(w), tape.param(b));
            let loss = fit.square().sum() + tape.param(c).sqrt().sum();
            tape.backward(loss)
        };
        (store, grads)
    }

    #[test]
    fn gradients_on_a_device_stay_there_and_read_as_on_the_host() {
        let (_, host) = gradients(Device::Cpu, 2.0);
        let (_, device) = gradients(Device::Emulated(0), 2.0);
        let places = |g: &Gradients<f64>| -> Vec<Device> {
            g.iter_placed().map(|(_, g)| g.device()).collect()
        };
        assert_eq!(places(&host), [Device::Cpu; 3]);
        assert_eq!(places(&device), [Device::Emulated(0); 3]);
        let values = |g: &Gradients<f64>| -> Vec<DMatrix<f64>> {
            g.iter().map(|(_, g)| g.clone()).collect()
        };
        assert_eq!(values(&host), values(&device));
        // The norm's sums run in f64 on the device and in T here: equal to rounding.
        let (a, b) = (host.norm(), device.norm());
        assert!((a - b).abs() <= 1e-14 * a, "{a} against {b}");
        assert_eq!(
            (host.first_non_finite(), device.first_non_finite()),
            (None, None)
        );
        let (mut host, mut device) = (host, device);
        assert_eq!(host.clip_norm(0.5).to_bits(), a.to_bits());
        device.clip_norm(0.5);
        assert_eq!(places(&device), [Device::Emulated(0); 3]);
        for (h, d) in values(&host).iter().zip(values(&device)) {
            assert!((h - &d).abs().max() <= 1e-15, "{h} against {d}");
        }
        assert!((device.norm() - 0.5).abs() < 1e-14);
        // Writing brings them back.
        assert_eq!(device.iter_mut().count(), 3);
        assert_eq!(places(&device), [Device::Cpu; 3]);
    }

    #[test]
    fn a_non_finite_gradient_on_a_device_is_found_and_named() {
        for device in [Device::Cpu, Device::Emulated(0)] {
            let (store, grads) = gradients(device, -1.0);
            let culprit = grads.first_non_finite().expect("√c at c < 0");
            assert_eq!(store.name(culprit), "c", "on {device}");
            assert!(grads.norm().is_nan());
        }
    }
}
