//! Integration tests: the real server, real HTTP and WebSocket, a temporary SQLite file.
//! One binary, so the crate links once.

mod audit;
mod canned;
mod cli;
mod cloud_api;
mod conformance;
mod exports;
mod files;
mod golden;
mod holes;
mod http;
mod layers;
mod metrics;
mod mongo_app;
mod outgoing;
mod parser_props;
mod presence;
mod realtime;
mod scenarios;
mod search;
mod security;
mod send;
mod socket;
mod support;
mod templates;
mod uploads;
mod webhook;
mod workflow;
mod workflow_store;
