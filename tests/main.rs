//! Integration tests, one module per area.

mod support;

mod chatops; // Commands in comments on both forges: approve, unapprove, explain, impact, help.
mod ci; // The GitHub Action and the GitLab CI template, run as their CI runs them.
mod cli; // Exit codes, arguments and output formats of the binary.
mod fake_github; // A stand-in GitHub on loopback for the service tests.
mod fake_gitlab; // A stand-in GitLab on loopback, diff positions computed with git.
mod fetch; // The service fetches pull-request heads and base commits into bare mirrors.
mod formats; // check end to end; SARIF, GitLab, GitHub and Markdown outputs.
mod fuzz; // Mutated model files never make datasurface panic.
mod generate; // Synthetic models for benchmarks are lint-clean and deterministic.
mod gitlab; // `datasurface serve` for GitLab merge requests: statuses, the note, diff discussions.
mod hooks; // Git hooks with real pushes to a bare remote and real commits.
mod hostile; // Hostile input: excerpts only from accepted bytes; file and model limits in every mode.
mod layers; // Every module uses only lower layers; the engine knows nothing of forges.
mod lint_fixtures; // Every fixtures/lint case yields exactly its expected problems.
mod loader; // Folder and git revision reads agree; revisions and layouts.
mod production; // serve in production: leader duties, sweeper, reconciliation, budgets, roles, metrics, Docker.
pub mod queue; // One conformance suite for the SQLite and PostgreSQL job stores.
mod registry; // Every rule has a docs page, a fixture and a policy-pack entry.
mod scenarios; // Every fixtures/scenarios change reports its rules; text snapshots.
mod schema;
mod service;
mod warm_index; // A warm check from the persisted index prints what a cold check prints, on random changes. // `datasurface serve` end to end: signed webhooks in, check runs and a comment out. // The committed JSON Schema is current and matches the model files.
