//! Real-time delivery: the hub tails the event log and fans it out to this process's
//! sockets (`http::ws`); `fanout` wakes the hubs of the other instances through Redis.

pub mod fanout;
pub mod hub;
