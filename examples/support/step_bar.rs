//! A progress bar over a run's steps, as an engine observer: what the training examples show
//! while a model trains.

use elbo::Real;
use elbo::engine::{Control, Observer, StepEvent};
use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `steps` steps labelled with what trains; cleared when dropped, so that the table
/// printed after it stays clean.
pub struct StepBar(pub ProgressBar);

impl StepBar {
    /// A bar for `steps` steps of `what`.
    pub fn new(what: &str, steps: usize) -> Self {
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:<24} {bar:30} {pos}/{len} steps [{elapsed} < {eta}]",
            )
            .expect("a valid template"),
        );
        bar.set_message(what.to_string());
        StepBar(bar)
    }
}

impl<T: Real> Observer<T> for StepBar {
    fn on_step(&mut self, _: &StepEvent<'_>) -> Control {
        self.0.inc(1);
        Control::Continue
    }
}

impl Drop for StepBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
