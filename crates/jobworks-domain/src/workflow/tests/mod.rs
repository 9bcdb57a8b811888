//! Workflow tests that span modules: file parsing and diagnostics, engine runs, drawings.

pub(crate) mod fixtures;

mod engine;
mod file;
mod inputs;
mod render;
mod simulation;
