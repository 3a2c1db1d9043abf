//! The integration tests, as one test binary (one link instead of one per file).
//! Each module starts real `cairn` processes; see `common`.

mod access;
mod analysis;
mod api;
mod architecture;
mod backup;
mod cli;
mod common;
mod durability;
mod embedded;
mod grpc;
mod hardening;
mod import;
mod live;
mod oidc;
mod openapi;
mod postgres;
mod run;
mod runner;
mod team;
