//! The loop.

use super::average::Average;
use super::convergence::Convergence;
use super::group::ParamGroup;
use super::loss::{Batch, Loss};
use super::observer::{Control, EpochEvent, Observer, StepEvent};
use super::shard::{across_devices, loss_and_gradients};
use super::training_data::{self, TrainingData};
use crate::backend::{Device, Placed};
use crate::data::Minibatches;
use crate::error::{Error, Result, require_positive};
use crate::params::ParamStore;
use crate::real::{Real, c};
use nalgebra::DMatrix;
use rand::Rng;

/// Settings of the loop itself; what belongs to a set of parameters (optimizer, schedule,
/// clipping) is in its [`ParamGroup`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerSettings {
    /// Rows per minibatch; `None` (or a size of at least the data's rows) uses every row at
    /// every step.
    pub batch_size: Option<usize>,
    /// The convergence rule, in nats of the loss (a log density, so the rule means the same
    /// whatever units the data are in): the run stops, converged, when the mean loss over the
    /// last five windows of `check_every` steps falls by less than this per window, or by less
    /// than the scatter of those window means can tell from zero (its least-squares slope is
    /// within the one-sided 95% bound of Student's t). The parameters averaged over those five
    /// windows are left in the store. `None` runs every step it is given.
    pub tolerance: Option<f64>,
    /// Window length for `tolerance`, in taken steps.
    pub check_every: usize,
    /// With `tolerance`, where the parameters have a meaningful unit (a global guide measured in
    /// posterior standard deviations): once the loss has settled, go on averaging the
    /// parameters window by window until every entry's average has a standard error (from the
    /// scatter of its window means) below this; the average is left in the store.
    pub parameter_tolerance: Option<f64>,
    /// From this step of a run on, average the parameters over the run's remaining steps
    /// (Polyak–Ruppert averaging) and leave the average in the store when the run ends on its
    /// step budget (a converged run leaves the average of its settled windows instead).
    pub average_from: Option<usize>,
    /// Give up with [`Error::Diverged`] after this many updates of a group in a row with a
    /// non-finite loss or gradient (each is skipped: the parameters keep their values).
    pub max_skipped_in_row: usize,
    /// Where each step's tape runs. On a device other than the CPU a step is one tape (the
    /// device spreads the work itself), the parameters move there when a run starts, and their
    /// gradients stay there for the optimizer ([`Adam`](crate::optim::Adam) updates on the
    /// device; an optimizer that updates on the host brings what it writes back, and the next
    /// step copies it over again).
    pub device: Device,
    /// Further devices for data-parallel steps (empty by default). With some, each step's
    /// minibatch is cut into one shard of consecutive rows per device, `device` first, then
    /// these in order, but of at least 32 rows each (a smaller batch uses fewer devices, as the
    /// CPU cuts a batch over its threads). Each device gathers its shard from its own copy of
    /// the data (made once per [`TrainingData`]) and differentiates it on a thread of rayon's
    /// pool (a pool of fewer threads than devices runs them fewer at a time); the shards'
    /// gradients are summed in a fixed tree and moved to `device`, where the parameters and
    /// the optimizer stay. The loss must be a sum over rows ([`Loss::row_separable`]: local
    /// latents with an amortized guide). With the same seed, a run on k devices computes what
    /// the CPU does on k threads, to rounding (on emulated devices, to the bit). Each step
    /// copies the parameters to every other device and their gradients back, through the host.
    pub data_parallel: Vec<Device>,
}

impl Default for TrainerSettings {
    fn default() -> Self {
        TrainerSettings {
            batch_size: None,
            tolerance: None,
            check_every: 100,
            parameter_tolerance: None,
            average_from: None,
            max_skipped_in_row: 20,
            device: Device::Cpu,
            data_parallel: Vec::new(),
        }
    }
}

impl TrainerSettings {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one. (Whether the device can be used
    /// is checked when a run starts: settings saved on a machine with a GPU must still load on
    /// one without.)
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == Some(0) {
            return Err(Error::invalid("batch size", 0, "at least 1"));
        }
        if let Some(t) = self.tolerance {
            require_positive("tolerance", t)?;
        }
        if let Some(t) = self.parameter_tolerance {
            require_positive("parameter tolerance", t)?;
        }
        if self.check_every == 0 {
            return Err(Error::invalid("check_every", 0, "at least 1"));
        }
        if self.max_skipped_in_row == 0 {
            return Err(Error::invalid("max_skipped_in_row", 0, "at least 1"));
        }
        let devices = self.devices();
        if let Some(twice) = (1..devices.len()).find(|&i| devices[..i].contains(&devices[i])) {
            return Err(Error::invalid(
                "data-parallel device",
                devices[twice],
                "a device listed once (`device` and `data_parallel` together): each takes one \
                 shard of every minibatch",
            ));
        }
        Ok(())
    }

    /// The devices a step runs on: `device`, then `data_parallel`.
    pub fn devices(&self) -> Vec<Device> {
        std::iter::once(self.device)
            .chain(self.data_parallel.iter().copied())
            .collect()
    }
}

/// Why a run ended (divergence is an error, [`Error::Diverged`], not a stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The run took the steps it was given.
    StepBudget,
    /// The convergence rule ([`TrainerSettings::tolerance`]) found the loss settled.
    Converged,
    /// An observer asked to stop.
    Observer,
}

/// What one [`Trainer::run`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// Why it ended.
    pub stop: StopReason,
    /// Steps run, skipped ones included.
    pub steps: usize,
    /// Group updates skipped for a non-finite loss or gradient.
    pub skipped: usize,
    /// The first group's loss at each step where it was updated.
    pub losses: Vec<f64>,
}

/// Where the trainer stands between runs (saved in checkpoints).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Progress {
    pub(crate) steps_done: usize,
    pub(crate) rows_in_epoch: usize,
    /// Σ loss · B / N over the current epoch's taken steps (the first group's).
    pub(crate) epoch_loss: f64,
    /// The current epoch's row order and position, when training in minibatches.
    pub(crate) minibatches: Option<Minibatches>,
}

/// The training loop: parameter groups, loop settings and progress. Runs continue where the
/// last one stopped (steps, minibatch order, optimizer states), so a model can train epoch by
/// epoch with evaluations in between, or be checkpointed and resumed bit for bit.
#[derive(Debug)]
pub struct Trainer<'o, T: Real> {
    settings: TrainerSettings,
    pub(crate) groups: Vec<ParamGroup<'o, T>>,
    pub(crate) progress: Progress,
}

impl<'o, T: Real> Trainer<'o, T> {
    /// A trainer for these groups (at least one; a parameter in no group never moves).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for bad settings, no group, or two groups of one name.
    pub fn new(settings: TrainerSettings, groups: Vec<ParamGroup<'o, T>>) -> Result<Self> {
        settings.validate()?;
        if groups.is_empty() {
            return Err(Error::invalid("parameter groups", 0, "at least one group"));
        }
        for (i, g) in groups.iter().enumerate() {
            if groups[..i].iter().any(|h| h.name == g.name) {
                return Err(Error::invalid(
                    "parameter group name",
                    &g.name,
                    "a name no other group has",
                ));
            }
        }
        Ok(Trainer {
            settings,
            groups,
            progress: Progress::default(),
        })
    }

    /// The loop settings.
    pub fn settings(&self) -> &TrainerSettings {
        &self.settings
    }

    /// Replaces the loop settings (a resumed run may change its batch size, say).
    ///
    /// # Errors
    /// As [`TrainerSettings::validate`].
    pub fn set_settings(&mut self, settings: TrainerSettings) -> Result<()> {
        settings.validate()?;
        self.settings = settings;
        Ok(())
    }

    /// The parameter groups.
    pub fn groups(&self) -> &[ParamGroup<'o, T>] {
        &self.groups
    }

    /// The parameter groups, to change a schedule between runs.
    pub fn groups_mut(&mut self) -> &mut [ParamGroup<'o, T>] {
        &mut self.groups
    }

    /// Minibatches in one pass over `n` rows (1 for full batches).
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        match self.settings.batch_size {
            Some(b) if b < n => n.div_ceil(b),
            _ => 1,
        }
    }

    /// Steps taken over the trainer's life (skipped ones included).
    pub fn steps_done(&self) -> usize {
        self.progress.steps_done
    }

    /// Runs `steps` steps of minibatch training on `data` (one row per data point), updating
    /// the groups' parameters in `store`, unless the tolerance rule or an observer stops it
    /// first.
    ///
    /// Each step draws a minibatch (rows without replacement within an epoch; a new order each
    /// epoch), then, for each group due at this step in the order given, differentiates the
    /// loss with respect to that group's parameters on a fresh tape (in shards when the loss is
    /// a sum over rows), skips the update if the loss or a gradient is not finite, clips, and
    /// lets the group's optimizer move its parameters.
    ///
    /// # Errors
    /// [`Error::EmptyData`], [`Error::NonFiniteData`] or what [`Loss::validate`] says for bad
    /// data; [`Error::DeviceUnavailable`] if the settings' device cannot be used here (before
    /// any step); [`Error::Device`] if it fails (at moving the parameters or the data there, or
    /// in a step, where a failure inside the optimizer's update may leave it part-applied);
    /// [`Error::InvalidParameter`] for bad settings; [`Error::Parameter`] if a group holds a
    /// parameter of another store; [`Error::Diverged`] after too many skipped updates of a group
    /// in a row (the store keeps the last finite values).
    pub fn run<L, R>(
        &mut self,
        loss: &L,
        store: &mut ParamStore<T>,
        data: &DMatrix<T>,
        rng: &mut R,
        steps: usize,
        observers: &mut [&mut dyn Observer<T>],
    ) -> Result<RunReport>
    where
        L: Loss<T> + ?Sized,
        R: Rng + ?Sized,
    {
        let data = TrainingData::new(data)?;
        self.run_on(loss, store, &data, rng, steps, observers)
    }

    /// [`Trainer::run`] on data prepared for training, which keeps what runs make of it: for
    /// several runs on the same data (epochs run one at a time, as `Vae::train_epoch_on`
    /// does), the data is checked once and, on a device, copied there once.
    ///
    /// # Errors
    /// As [`Trainer::run`].
    pub fn run_on<L, R>(
        &mut self,
        loss: &L,
        store: &mut ParamStore<T>,
        data: &TrainingData<'_, T>,
        rng: &mut R,
        steps: usize,
        observers: &mut [&mut dyn Observer<T>],
    ) -> Result<RunReport>
    where
        L: Loss<T> + ?Sized,
        R: Rng + ?Sized,
    {
        let n = data.matrix().nrows();
        let devices = self.settings.devices();
        for device in &devices {
            device.check()?;
        }
        if devices.len() > 1 && !loss.row_separable() {
            return Err(Error::invalid(
                "data-parallel devices",
                devices.len(),
                "one device for this loss: only a loss that is a sum over rows (local latents \
                 with an amortized guide) can be cut into shards; leave `data_parallel` empty",
            ));
        }
        loss.validate(data.matrix())?;
        for g in &self.groups {
            g.validate(store)?;
        }
        // The parameters live where the steps run, from here to the end of the run and after
        // (the next run, or an evaluation on the same device, reads them there; a host reader
        // copies them back).
        store.move_to(self.settings.device)?;
        let batch_size = self.settings.batch_size.filter(|&b| b < n);
        let steps_per_epoch = self.steps_per_epoch(n);
        match batch_size {
            Some(b) => {
                if self
                    .progress
                    .minibatches
                    .as_ref()
                    .is_none_or(|m| !m.fits(n, b))
                {
                    self.progress.minibatches = Some(Minibatches::new(n, b));
                }
            }
            None => self.progress.minibatches = None,
        }
        // Across devices every step gathers its shards, full batches included.
        let parallel = devices.len() > 1;
        let layouts = devices
            .iter()
            .map(|&device| data.layout(batch_size.is_some() || parallel, device))
            .collect::<Result<Vec<_>>>()?;
        let every_row: Vec<usize> = if parallel && batch_size.is_none() {
            (0..n).collect()
        } else {
            Vec::new()
        };
        let masks: Vec<Vec<bool>> = self.groups.iter().map(|g| g.mask(store)).collect();
        let mut average = self
            .settings
            .average_from
            .map(|_| Average::new(store))
            .transpose()?;
        let mut report = RunReport {
            stop: StopReason::StepBudget,
            steps: 0,
            skipped: 0,
            losses: Vec::new(),
        };
        let mut convergence = self
            .settings
            .tolerance
            .map(|tol| {
                Convergence::new(
                    self.settings.check_every,
                    tol,
                    self.settings.parameter_tolerance,
                    store,
                )
            })
            .transpose()?;
        let mut losses = vec![None; self.groups.len()];
        for run_step in 0..steps {
            let step = self.progress.steps_done;
            let indices = self
                .progress
                .minibatches
                .as_mut()
                .map(|m| m.next_batch(rng));
            let xs = if parallel {
                training_data::shards(&layouts, indices.unwrap_or(&every_row))?
            } else {
                vec![layouts[0].rows(indices)?]
            };
            let rows = xs.iter().map(Placed::nrows).sum::<usize>();
            let scale = c::<T>(n as f64 / rows as f64);
            for (g, group) in self.groups.iter_mut().enumerate() {
                losses[g] = None;
                if !group.due(step) {
                    continue;
                }
                let batch = |x| Batch {
                    x,
                    scale,
                    step,
                    steps_per_epoch,
                    group: g,
                };
                let home = self.settings.device;
                let (value, grads) = if parallel {
                    let shards: Vec<_> = xs.iter().map(batch).collect();
                    across_devices(loss, store, &masks[g], &shards, &devices, rng, home)?
                } else {
                    loss_and_gradients(loss, store, &masks[g], &batch(&xs[0]), rng, home)?
                };
                let culprit = if !value.is_finite() {
                    Some("loss".to_string())
                } else {
                    grads
                        .try_first_non_finite()?
                        .map(|id| format!("gradient of parameter `{}`", store.name(id)))
                };
                if let Some(culprit) = culprit {
                    group.skipped_in_row += 1;
                    report.skipped += 1;
                    if group.skipped_in_row >= self.settings.max_skipped_in_row {
                        return Err(Error::Diverged {
                            step,
                            consecutive: group.skipped_in_row,
                            culprit,
                        });
                    }
                    continue;
                }
                group.skipped_in_row = 0;
                let lr = c(group.learning_rate.at(step));
                let mut grads = grads;
                if let Some(m) = group.clip_norm {
                    grads.try_clip_norm(c(m))?;
                }
                group.optimizer.step(store, &grads, lr)?;
                losses[g] = Some(value.to_f64());
            }
            xs.into_iter().for_each(training_data::recycle);
            self.progress.steps_done += 1;
            self.progress.rows_in_epoch += rows;
            report.steps = run_step + 1;
            let mut control = Control::Continue;
            if let Some(value) = losses[0] {
                report.losses.push(value);
                self.progress.epoch_loss += value * rows as f64 / n as f64;
                // On a device, the averages are kept there.
                if let (Some(avg), Some(from)) = (average.as_mut(), self.settings.average_from)
                    && run_step >= from
                {
                    avg.add(store)?;
                }
                if let Some(rule) = convergence.as_mut()
                    && rule.record(value, store)?
                {
                    report.stop = StopReason::Converged;
                }
            }
            let event = StepEvent {
                steps_done: self.progress.steps_done,
                rows_in_epoch: self.progress.rows_in_epoch,
                losses: &losses,
            };
            for o in observers.iter_mut() {
                if o.on_step(&event) == Control::Stop {
                    control = Control::Stop;
                }
            }
            if self.progress.steps_done.is_multiple_of(steps_per_epoch) {
                let event = EpochEvent {
                    epoch: self.progress.steps_done / steps_per_epoch,
                    loss: self.progress.epoch_loss / n as f64,
                    params: store,
                };
                for o in observers.iter_mut() {
                    if o.on_epoch(&event) == Control::Stop {
                        control = Control::Stop;
                    }
                }
                self.progress.epoch_loss = 0.0;
                self.progress.rows_in_epoch = 0;
            }
            if control == Control::Stop {
                report.stop = StopReason::Observer;
            }
            if report.stop != StopReason::StepBudget {
                break;
            }
        }
        match (report.stop, convergence, average) {
            (StopReason::Converged, Some(rule), _) => rule.write_average(store)?,
            (_, _, Some(avg)) => avg.write(store)?,
            _ => {}
        }
        Ok(report)
    }
}
