//! Runs the store conformance suite against PostgreSQL, one fresh schema per test.

mod common;

jobworks_store::store_conformance_tests!(common::fresh());
