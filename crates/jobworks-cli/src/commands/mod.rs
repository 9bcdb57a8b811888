//! One module per command group; each exposes plain functions that `main` calls.

pub mod admin;
pub mod agents;
pub mod apply;
pub mod backfill;
pub mod copy_store;
pub mod import;
pub mod jobs;
pub mod logs;
pub mod pause;
pub mod progress;
pub mod run;
pub mod runs;
pub mod schedule;
pub mod target;
pub mod tasks;
pub mod tokens;
pub mod validate;
pub mod workflow;
