//! Adam (Kingma & Ba 2015).

use super::{Optimizer, OptimizerState};
use crate::autodiff::Gradients;
use crate::backend::{AdamSlot, Device, DeviceMatrix, Kernels, Placed};
use crate::error::{Error, Result, require_positive};
use crate::kernels::{PIECE, for_each_piece};
use crate::ops::AdamUpdate;
use crate::params::{ParamId, ParamStore};
use crate::real::{Real, c};
use nalgebra::DMatrix;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

/// A piece of a parameter with its moments and gradient, as rayon's zipped chunks hand it out.
type Slices<'a, T> = (((&'a mut [T], &'a mut [T]), &'a mut [T]), &'a [T]);

/// Adam with bias-corrected first and second moment estimates.
#[derive(Clone, Debug)]
pub struct Adam<T: Real> {
    beta1: T,
    beta2: T,
    epsilon: T,
    steps: i32,
    /// First and second moment estimates, from a parameter's first gradient on, where the
    /// parameter is updated.
    moments: BTreeMap<ParamId, (Placed<T>, Placed<T>)>,
}

const FIRST_MOMENT: &str = "m";
const SECOND_MOMENT: &str = "v";

impl<T: Real> Default for Adam<T> {
    /// β₁ = 0.9, β₂ = 0.999, ε = 1e-8: the published defaults.
    fn default() -> Self {
        Adam {
            beta1: c(0.9),
            beta2: c(0.999),
            epsilon: c(1e-8),
            steps: 0,
            moments: BTreeMap::new(),
        }
    }
}

impl<T: Real> Adam<T> {
    /// Adam with the given decay rates and ε.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless both betas are in [0, 1) and ε > 0.
    pub fn new(beta1: T, beta2: T, epsilon: T) -> Result<Self> {
        for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
            if !(b >= T::zero() && b < T::one()) {
                return Err(Error::invalid(name, b, "a number in [0, 1)"));
            }
        }
        require_positive("epsilon", epsilon)?;
        Ok(Adam {
            beta1,
            beta2,
            epsilon,
            ..Self::default()
        })
    }

    /// Number of steps taken.
    pub fn steps(&self) -> usize {
        self.steps as usize
    }

    /// The update of the step just counted, at learning rate `lr`.
    fn update(&self, lr: T) -> AdamUpdate<T> {
        let (b1, b2) = (self.beta1, self.beta2);
        AdamUpdate {
            beta1: b1,
            beta2: b2,
            epsilon: self.epsilon,
            // Both bias corrections folded into the step size.
            step: lr * (T::one() - b2.powi(self.steps)).sqrt() / (T::one() - b1.powi(self.steps)),
        }
    }
}

impl<T: Real> Adam<T> {
    /// The update of the parameters whose values and gradients (`grads`) are on one device,
    /// made there with their moments: each device's parameters in one call, which a GPU makes
    /// in a launch or two.
    fn step_on_devices(
        &mut self,
        params: &mut ParamStore<T>,
        grads: &BTreeMap<ParamId, &DeviceMatrix<T>>,
        update: AdamUpdate<T>,
    ) -> Result<()> {
        // The moments are made where their parameter is at its first step, and move there
        // when a run resumed from a checkpoint.
        for (&id, grad) in grads {
            let device = grad.device();
            let (m, v) = match self.moments.entry(id) {
                Entry::Occupied(slot) => slot.into_mut(),
                Entry::Vacant(slot) => {
                    let kernels = Kernels::of(device)?;
                    let (rows, cols) = grad.shape();
                    slot.insert((
                        Placed::device_matrix(kernels.zeros(rows, cols)?),
                        Placed::device_matrix(kernels.zeros(rows, cols)?),
                    ))
                }
            };
            m.move_to(device)?;
            v.move_to(device)?;
        }
        let mut moments: BTreeMap<ParamId, _> =
            self.moments.iter_mut().map(|(&id, mv)| (id, mv)).collect();
        let mut by_device: Vec<(Device, Vec<AdamSlot<'_, DeviceMatrix<T>>>)> = Vec::new();
        for (id, param) in params.values_mut() {
            let Some(&grad) = grads.get(&id) else {
                continue;
            };
            let (m, v) = moments.remove(&id).expect("made above");
            let on_device = "moved to the device above";
            let slot = AdamSlot {
                param: param.device_mut()?.expect(on_device),
                first: m.device_mut()?.expect(on_device),
                second: v.device_mut()?.expect(on_device),
                grad,
            };
            let device = grad.device();
            match by_device.iter_mut().find(|(d, _)| *d == device) {
                Some((_, slots)) => slots.push(slot),
                None => by_device.push((device, vec![slot])),
            }
        }
        for (device, mut slots) in by_device {
            Kernels::of(device)?.adam_all(update, &mut slots)?;
        }
        Ok(())
    }
}

impl<T: Real> Optimizer<T> for Adam<T> {
    fn step(&mut self, params: &mut ParamStore<T>, grads: &Gradients<T>, lr: T) -> Result<()> {
        grads.check_store(params)?;
        self.steps = self.steps.saturating_add(1);
        let update = self.update(lr);
        // A parameter whose value and gradient are on one device is updated there; the rest
        // here, on the host.
        let mut on_host = BTreeMap::new();
        let mut on_device = BTreeMap::new();
        for (id, g) in grads.iter_placed() {
            match g.on(params.device_of(id)) {
                Some(g) => {
                    on_device.insert(id, g);
                }
                None => {
                    on_host.insert(id, g.host());
                }
            }
        }
        if !on_device.is_empty() {
            self.step_on_devices(params, &on_device, update)?;
        }
        if on_host.is_empty() {
            return Ok(());
        }
        for (&id, g) in &on_host {
            self.moments.entry(id).or_insert_with(|| {
                let zeros = || Placed::from(DMatrix::zeros(g.nrows(), g.ncols()));
                (zeros(), zeros())
            });
        }
        // Every parameter's pieces, updated in one parallel pass: a pass per parameter paid a
        // wake-up of the pool's threads for each (ten per step for a two-layer VAE).
        let mut moments: BTreeMap<ParamId, _> =
            self.moments.iter_mut().map(|(&id, mv)| (id, mv)).collect();
        let mut pieces: Vec<Slices<'_, T>> = Vec::new();
        for (id, p) in params.values_mut() {
            let (Some(g), Some((m, v))) = (on_host.get(&id), moments.remove(&id)) else {
                continue;
            };
            let chunks = p.host_mut().as_mut_slice().chunks_mut(PIECE);
            let chunks = chunks.zip(m.host_mut().as_mut_slice().chunks_mut(PIECE));
            let chunks = chunks.zip(v.host_mut().as_mut_slice().chunks_mut(PIECE));
            pieces.extend(chunks.zip(g.as_slice().chunks(PIECE)));
        }
        // Each entry's update is the same arithmetic wherever it runs.
        let entries = pieces.iter().map(|piece| piece.1.len()).sum();
        for_each_piece(pieces, entries, |(((p, m), v), g): Slices<'_, T>| {
            update.apply(p, m, v, g)
        });
        Ok(())
    }

    fn state(&self) -> OptimizerState<T> {
        let mut slots = Vec::with_capacity(2 * self.moments.len());
        for (&id, (m, v)) in &self.moments {
            slots.push((id, FIRST_MOMENT.to_string(), m.host().clone()));
            slots.push((id, SECOND_MOMENT.to_string(), v.host().clone()));
        }
        OptimizerState {
            counters: vec![("steps".to_string(), self.steps as u64)],
            slots,
        }
    }

    fn restore(&mut self, state: OptimizerState<T>) -> Result<()> {
        let steps = state.counter("steps")?;
        let steps = i32::try_from(steps)
            .map_err(|_| Error::invalid("Adam step count", steps, "at most 2^31 - 1"))?;
        let mut first = BTreeMap::new();
        let mut second = BTreeMap::new();
        for (id, slot, value) in state.slots {
            match slot.as_str() {
                FIRST_MOMENT => first.insert(id, value),
                SECOND_MOMENT => second.insert(id, value),
                _ => return Err(Error::invalid("Adam state slot", slot, "`m` or `v`")),
            };
        }
        let mut moments = BTreeMap::new();
        for (id, m) in first {
            let v = second.remove(&id).ok_or_else(|| {
                Error::invalid(
                    "Adam state",
                    "a first moment alone",
                    "both moments of each parameter",
                )
            })?;
            moments.insert(id, (Placed::from(m), Placed::from(v)));
        }
        if !second.is_empty() {
            return Err(Error::invalid(
                "Adam state",
                "a second moment alone",
                "both moments of each parameter",
            ));
        }
        self.steps = steps;
        self.moments = moments;
        Ok(())
    }
}
