//! `datasurface serve`: the GitHub App (and GitLab webhook) service. Webhooks are verified,
//! recorded and queued (`queue`); workers take the jobs, fetch what a check needs, run the
//! engine as a library (`check::check`) and publish through `forge`.

pub mod config;
