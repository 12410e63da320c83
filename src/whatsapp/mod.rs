//! The WhatsApp Cloud API: wire types, signature check, client and webhook.

pub mod client;
pub mod content;
pub mod ingest;
pub mod signature;
pub mod templates;
pub mod webhook;
pub mod wire;
