//! The service's fetcher: one bare mirror per repository, fetching a pull request's head ref
//! and its base commit from a remote given by URL (here `file://` and plain paths).

use datasurface::load::fetch::{Fetch, fetch, has_commit};

use crate::support::{commit_all, copy_dir, fixture, git, new_repo};

#[test]
fn a_pull_request_head_and_its_base_commit_are_fetched() {
    let origin = new_repo();
    copy_dir(&fixture("acme"), origin.path());
    let base = commit_all(origin.path(), "base");
    std::fs::write(origin.path().join("zones/usa/teams/northwind/notes.md"), "x").unwrap();
    let head = commit_all(origin.path(), "head");
    git(origin.path(), &["update-ref", "refs/pull/7/head", &head]);
    git(origin.path(), &["reset", "-q", "--hard", &base]);
    let mirror = tempfile::tempdir().unwrap();
    let dir = mirror.path().join("mirror.git");
    for url in [format!("file://{}", origin.path().display()), origin.path().display().to_string()] {
        let refspecs = vec!["+refs/pull/7/head:refs/datasurface/pull/7/head".to_string(), base.clone()];
        fetch(&dir, &Fetch { url: &url, refspecs, credentials: None }).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(has_commit(&dir, &head), "{url}: the head");
        assert!(has_commit(&dir, &base), "{url}: the base");
    }
    assert!(!has_commit(&dir, "0123456789012345678901234567890123456789"));
    // A commit the remote does not have is an error that names the remote, not a hang.
    let error = fetch(
        &dir,
        &Fetch {
            url: &origin.path().display().to_string(),
            refspecs: vec!["refs/pull/99/head".into()],
            credentials: None,
        },
    );
    assert!(error.is_err());
}
