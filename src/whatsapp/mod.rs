//! The WhatsApp Cloud API: wire types, signature check, client, and what a webhook
//! body means for the store (`ingest`). The `/webhook` route itself is `http::webhook`.

pub mod client;
pub mod content;
pub mod ingest;
pub mod signature;
pub mod templates;
pub mod wire;
