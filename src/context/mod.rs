//! What every service shares, kept low so that services can use it without reaching up:
//! the application state, the error type, the signed-in caller, and the per-process
//! memory the state holds (sign-in limits, the send throttle, the template cache).

pub mod catalog;
pub mod error;
pub mod metrics;
pub mod presence;
pub mod principal;
pub mod ratelimit;
pub mod state;
pub mod throttle;

pub use error::AppError;
pub use principal::{Principal, Via, scope_for};
pub use state::{AppState, Inner};
