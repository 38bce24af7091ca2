//! datasurface: governs a data ecosystem described as YAML files in a git repository.
//!
//! The model is loaded (`load`) into typed objects with spans (`model`), linted (`validate`)
//! and reported (`report`). Nothing in a model is ever executed.

pub mod authz;
pub mod check;
pub mod cli;
pub mod compat;
pub mod diff;
pub mod export;
pub mod forge;
pub mod generate;
pub mod hook;
pub mod load;
pub mod model;
pub mod policy;
pub mod problem;
pub mod progress;
pub mod queue;
pub mod report;
pub mod rules;
pub mod schema;
pub mod service;
pub mod span;
pub mod suggest;
pub mod timing;
pub mod validate;
pub mod verdict;
pub mod warm;
pub mod yaml;
