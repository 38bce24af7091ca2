//! Fetching what a check needs into a local bare repository, with gix: the service keeps one
//! bare mirror per forge repository and fetches exactly the refs and commits of a pull request.
//!
//! URLs are used as given: `https://` with a token (sent as HTTP basic credentials, never
//! written to the repository's configuration), `file://` URLs and plain paths (gix reads
//! those through `git-upload-pack`). Fetching never checks out or runs anything: hooks are
//! for work trees, and a bare repository has none.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::Error;

/// What to fetch from one remote.
pub struct Fetch<'a> {
    pub url: &'a str,
    /// Refspecs, e.g. `+refs/pull/7/head:refs/datasurface/pull/7/head`.
    pub refspecs: Vec<String>,
    /// A token for HTTPS, sent as the password of user `x-access-token` (GitHub's convention;
    /// GitLab takes `oauth2`).
    pub credentials: Option<(&'a str, &'a str)>,
}

/// Opens the bare repository at `dir`, making it when it is not there yet.
pub fn bare_repository(dir: &Path) -> Result<gix::Repository, Error> {
    if dir.join("HEAD").is_file() {
        return gix::open(dir).map_err(|e| Error::Git { message: format!("opening {}: {e}", dir.display()) });
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    gix::init_bare(dir).map_err(|e| Error::Git { message: format!("creating {}: {e}", dir.display()) })
}

/// Fetches `fetch.refspecs` from `fetch.url` into the repository at `dir`.
pub fn fetch(dir: &Path, fetch: &Fetch<'_>) -> Result<(), Error> {
    let repo = bare_repository(dir)?;
    let shown = redact(fetch.url);
    let git = |what: &str, e: &dyn std::fmt::Display| Error::Git {
        message: format!("{what} {shown}: {}", redact(&e.to_string())),
    };
    let remote = repo
        .remote_at(fetch.url)
        .map_err(|e| git("bad remote URL", &e))?
        .with_refspecs(fetch.refspecs.iter().map(String::as_str), gix::remote::Direction::Fetch)
        .map_err(|e| git("bad refspec for", &e))?;
    let connection = remote.connect(gix::remote::Direction::Fetch).map_err(|e| git("connecting to", &e))?;
    let credentials = fetch.credentials.map(|(user, password)| (user.to_string(), password.to_string()));
    let connection = connection.with_credentials(move |action| match (action, &credentials) {
        (gix::credentials::helper::Action::Get(context), Some((user, password))) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: user.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            }))
        }
        _ => Ok(None),
    });
    connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| git("fetching from", &e))?
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .map_err(|e| git("fetching from", &e))?;
    Ok(())
}

/// Whether the repository at `dir` holds commit `sha`.
pub fn has_commit(dir: &Path, sha: &str) -> bool {
    let Ok(repo) = gix::open(dir) else { return false };
    let Ok(id) = gix::ObjectId::from_hex(sha.as_bytes()) else { return false };
    repo.find_object(id).is_ok_and(|o| o.kind == gix::object::Kind::Commit)
}

/// A URL with its password (or token) replaced, for messages and logs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(credentials) => {
                out.push_str("***@");
                out.push_str(&after[credentials + 1..end]);
            }
            None => out.push_str(&after[..end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_show() {
        assert_eq!(redact("https://x-access-token:ghs_secret@github.com/o/r.git"), "https://***@github.com/o/r.git");
        assert_eq!(redact("failed: https://github.com/o/r.git"), "failed: https://github.com/o/r.git");
        assert_eq!(redact("a https://u:p@h/x and http://t@h2/y"), "a https://***@h/x and http://***@h2/y");
    }
}
