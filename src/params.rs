//! The parameter store: every learnable matrix of a model, addressed by name or by [`ParamId`].

use crate::backend::{Device, Placed};
use crate::error::{Error, Result};
use crate::real::Real;
use crate::validate::check_finite;
use nalgebra::DMatrix;
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};

/// Handle to one parameter of one [`ParamStore`]. Cheap to copy; components keep the ids of the
/// parameters they own and load them onto each step's tape with
/// [`Tape::param`](crate::autodiff::Tape::param).
///
/// Ids order by store, then by creation, so maps keyed by them iterate in a fixed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamId {
    store: u64,
    index: usize,
}

impl ParamId {
    pub(crate) fn new(store: u64, index: usize) -> Self {
        ParamId { store, index }
    }

    /// Position of the parameter in its store (insertion order), for the store's own lookups.
    pub(crate) fn index(self) -> usize {
        self.index
    }

    pub(crate) fn store(self) -> u64 {
        self.store
    }
}

/// Named learnable matrices.
///
/// Values are reference-counted so that a step's tape reads them without copying; the optimizer
/// writes them in place once the tape is gone. Every store has a unique identity, so that a
/// [`ParamId`] from another store is caught instead of silently reading the wrong matrix.
///
/// Values live on the host unless moved to a device ([`ParamStore::move_to`]; a trainer on a
/// device does so when a run starts), where a device's tapes read them and its optimizers update
/// them without copies. [`ParamStore::get`] reads any value on the host (a device value is
/// copied back on first read after a change); [`ParamStore::get_mut`] and
/// [`ParamStore::set`] bring the value back to the host.
#[derive(Clone, Debug)]
pub struct ParamStore<T: Real> {
    id: u64,
    names: Vec<String>,
    values: Vec<Placed<T>>,
    frozen: Vec<bool>,
}

impl<T: Real> Default for ParamStore<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> ParamStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        ParamStore {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            names: Vec::new(),
            values: Vec::new(),
            frozen: Vec::new(),
        }
    }

    /// Adds a parameter with a given initial value.
    ///
    /// # Errors
    /// [`Error::Parameter`] if the name is taken; [`Error::NonFiniteData`] if the value holds NaN
    /// or an infinity.
    pub fn add(&mut self, name: impl Into<String>, value: DMatrix<T>) -> Result<ParamId> {
        let name = name.into();
        if self.names.contains(&name) {
            return Err(Error::Parameter {
                name,
                problem: "a parameter of this name already exists",
            });
        }
        check_finite("initial parameter value", &value)?;
        self.names.push(name);
        self.values.push(Placed::from(value));
        self.frozen.push(false);
        Ok(ParamId {
            store: self.id,
            index: self.values.len() - 1,
        })
    }

    /// Adds a `rows x cols` parameter drawn from N(0, sd²) with the given generator.
    ///
    /// # Errors
    /// As [`ParamStore::add`], and [`Error::InvalidParameter`] if `sd` is negative or not finite.
    pub fn add_normal<R: Rng + ?Sized>(
        &mut self,
        name: impl Into<String>,
        rows: usize,
        cols: usize,
        sd: T,
        rng: &mut R,
    ) -> Result<ParamId> {
        if !(sd >= T::zero() && sd.is_finite()) {
            return Err(Error::invalid("sd", sd, "a finite number >= 0"));
        }
        let value = DMatrix::from_fn(rows, cols, |_, _| T::standard_normal(rng) * sd);
        self.add(name, value)
    }

    /// The id of a parameter by name.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        let index = self.names.iter().position(|n| n == name)?;
        Some(ParamId {
            store: self.id,
            index,
        })
    }

    /// The parameter's current value.
    ///
    /// # Panics
    /// If `id` belongs to another store (a programming error, not a data error).
    pub fn get(&self, id: ParamId) -> &DMatrix<T> {
        self.values[self.check(id)].host()
    }

    /// The value where it lives, as a tape loads it.
    pub(crate) fn placed(&self, id: ParamId) -> &Placed<T> {
        &self.values[self.check(id)]
    }

    /// The value where it lives, for an optimizer to update it there.
    pub(crate) fn placed_mut(&mut self, id: ParamId) -> &mut Placed<T> {
        let i = self.check(id);
        &mut self.values[i]
    }

    /// Moves every value to `device` ([`Device::Cpu`]: back to the host). The values are the
    /// same; what changes is where tapes read them and optimizers write them.
    ///
    /// ```
    /// use elbo::backend::Device;
    /// use elbo::params::ParamStore;
    /// use nalgebra::DMatrix;
    ///
    /// let mut store = ParamStore::<f64>::new();
    /// let w = store.add("w", DMatrix::from_element(2, 3, 0.5)).unwrap();
    /// store.move_to(Device::Emulated(0)).unwrap();
    /// assert_eq!(store.device_of(w), Device::Emulated(0));
    /// assert_eq!(store.get(w)[(1, 2)], 0.5); // read on the host all the same
    /// store.get_mut(w)[(1, 2)] = 1.0; // writing brings it back
    /// assert_eq!(store.device_of(w), Device::Cpu);
    /// ```
    ///
    /// # Errors
    /// [`Error::DeviceUnavailable`] if this build or machine cannot use `device`;
    /// [`Error::Device`] if it fails at a copy (the values moved before it stay moved).
    pub fn move_to(&mut self, device: Device) -> Result<()> {
        self.values.iter_mut().try_for_each(|v| v.move_to(device))
    }

    /// Where a parameter's value lives.
    ///
    /// # Panics
    /// If `id` belongs to another store.
    pub fn device_of(&self, id: ParamId) -> Device {
        self.values[self.check(id)].device()
    }

    /// Mutable access (copies the matrix first only if a tape still holds it; a value on a
    /// device comes back to the host). This is what an
    /// optimizer writes through: walk [`Gradients::iter`](crate::autodiff::Gradients::iter)
    /// after [`Gradients::check_store`](crate::autodiff::Gradients::check_store).
    ///
    /// # Panics
    /// If `id` belongs to another store.
    pub fn get_mut(&mut self, id: ParamId) -> &mut DMatrix<T> {
        let i = self.check(id);
        self.values[i].host_mut()
    }

    /// Mutable access to every value at once, where it lives, in the store's order (for an
    /// update that runs over all parameters in one parallel pass).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = (ParamId, &mut Placed<T>)> {
        let store = self.id;
        self.values
            .iter_mut()
            .enumerate()
            .map(move |(i, v)| (ParamId::new(store, i), v))
    }

    /// Replaces a value, keeping its shape.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the shape differs; [`Error::NonFiniteData`] for NaN or
    /// infinities.
    pub fn set(&mut self, id: ParamId, value: DMatrix<T>) -> Result<()> {
        let i = self.check(id);
        if value.shape() != self.values[i].shape() {
            return Err(Error::shape(
                "parameter value",
                self.values[i].shape(),
                value.shape(),
            ));
        }
        check_finite("parameter value", &value)?;
        self.values[i] = Placed::from(value);
        Ok(())
    }

    /// Freezes or thaws a parameter. A frozen parameter enters every tape as a constant: it
    /// gets no gradient, so no optimizer moves it (as when a trained decoder is kept fixed
    /// while other parts are fitted).
    ///
    /// # Panics
    /// If `id` belongs to another store.
    pub fn set_frozen(&mut self, id: ParamId, frozen: bool) {
        let i = self.check(id);
        self.frozen[i] = frozen;
    }

    /// True if the parameter is frozen.
    pub fn is_frozen(&self, id: ParamId) -> bool {
        self.frozen[self.check(id)]
    }

    /// The parameter's name.
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[self.check(id)]
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalar entries over all parameters.
    pub fn num_scalars(&self) -> usize {
        self.values.iter().map(|v| v.shape().0 * v.shape().1).sum()
    }

    /// All ids, in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        (0..self.values.len()).map(|index| ParamId {
            store: self.id,
            index,
        })
    }

    /// This store's unique identity.
    pub(crate) fn uid(&self) -> u64 {
        self.id
    }

    /// The parameters named `prefix` or `prefix.…` (a network registered under that name):
    /// what a parameter group of one part of a model holds.
    pub fn ids_under(&self, prefix: &str) -> Vec<ParamId> {
        self.ids()
            .filter(|&id| {
                let name = self.name(id);
                name == prefix
                    || name
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .collect()
    }

    /// True if `id` was made by this store.
    pub fn owns(&self, id: ParamId) -> bool {
        id.store == self.id && id.index < self.values.len()
    }

    fn check(&self, id: ParamId) -> usize {
        assert!(
            self.owns(id),
            "ParamId {id:?} does not belong to this ParamStore (made by another store?)"
        );
        id.index
    }
}
