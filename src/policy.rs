//! The contact policy (issue 4): what a matched notice means for the
//! contact — suppress, count, reset — and the events that say so.
//!
//! Pure: no I/O, the clock is a parameter. [`Ledger`] is loaded with the
//! stored state a step touches, fed the step's notices in order, and yields
//! the [`Changes`] the store writes in one transaction.

mod state;

pub use state::*;
