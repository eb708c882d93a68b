//! Classic models written as programs ([`crate::program::Model`]): each is a short read and a
//! starting point for your own, and each is checked against an answer computed another way
//! (the crate's tests).

mod eight_schools;
mod mixture;
mod regression;

pub use eight_schools::EightSchools;
pub use mixture::NormalMixture;
pub use regression::{Link, Regression};
