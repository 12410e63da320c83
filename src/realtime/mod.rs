//! Real-time delivery: the hub tails the event log, the socket serves it to browsers.

pub mod fanout;
pub mod hub;
pub mod socket;
