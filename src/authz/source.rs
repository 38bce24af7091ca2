//! The change source: what a check knows about who makes a change.

use crate::model::Owner;

/// The head repository and branch, the author, the approvers, and the teams any of them are in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSource {
    /// The head repository, `owner/name`.
    pub repo: Option<String>,
    /// The head branch, when known. May contain `/`.
    pub branch: Option<String>,
    /// Logins that count: `--as-user`, the author and the approvers.
    pub users: Vec<String>,
    pub teams: Vec<String>,
    /// The author, for reports (also in `users`).
    pub author: Option<String>,
    /// The approvers, for reports (also in `users`).
    pub approvers: Vec<String>,
    /// Approvals narrower than an approver's: of the breaking changes to one dataset, for one
    /// workspace only (`/datasurface approve`, `--approval`); never an authorization.
    pub approvals: Vec<Approval>,
}

/// An approval of the breaking changes to `datastore/dataset` for workspace `workspace`,
/// given by `by`, valid while the dataset's head schema has `fingerprint` (any when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub by: String,
    pub workspace: String,
    pub datastore: String,
    pub dataset: String,
    pub fingerprint: Option<String>,
}

impl Approval {
    /// Parses `--approval WORKSPACE:DATASTORE/DATASET[:FINGERPRINT]`.
    pub fn parse(text: &str) -> Result<Approval, String> {
        let bad = || format!("`{text}` is not WORKSPACE:DATASTORE/DATASET[:FINGERPRINT]");
        let mut parts = text.split(':');
        let (workspace, dataset, fingerprint) =
            (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?, parts.next());
        if parts.next().is_some() || workspace.is_empty() {
            return Err(bad());
        }
        let (datastore, dataset) =
            dataset.split_once('/').filter(|(a, b)| !a.is_empty() && !b.is_empty()).ok_or_else(bad)?;
        if fingerprint.is_some_and(|f| f.len() != 16 || !f.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(format!("`{text}`: a fingerprint is 16 hex digits, as the report's impact shows it"));
        }
        Ok(Approval {
            by: "--approval".into(),
            workspace: workspace.into(),
            datastore: datastore.into(),
            dataset: dataset.into(),
            fingerprint: fingerprint.map(|f| f.to_ascii_lowercase()),
        })
    }
}

impl ChangeSource {
    /// Parses `--as-repo owner/name[@branch]`; the branch is everything after the first `@`.
    pub fn parse_repo(text: &str) -> Result<(String, Option<String>), String> {
        let (repo, branch) = match text.split_once('@') {
            Some((repo, branch)) => (repo, Some(branch)),
            None => (text, None),
        };
        if crate::model::principal::repo_problem(repo).is_some() {
            return Err(format!("`{text}` is not OWNER/NAME[@BRANCH]"));
        }
        if let Some(why) = branch.and_then(crate::model::principal::branch_problem) {
            return Err(format!("`{text}`: the branch after `@` {why}"));
        }
        Ok((repo.to_string(), branch.map(str::to_string)))
    }

    /// Checks a login given for `--as-user`, `--author` or `--approver`.
    pub fn parse_user(text: &str) -> Result<String, String> {
        if text.is_empty() {
            return Err("a login cannot be empty".into());
        }
        match crate::model::principal::user_problem(text) {
            Some(why) => Err(format!("`{text}` {why}")),
            None => Ok(text.to_string()),
        }
    }

    /// Checks a team given for `--as-team`: `ORG/SLUG` or a GitLab group path.
    pub fn parse_team(text: &str) -> Result<String, String> {
        if text.is_empty() {
            return Err("a team cannot be empty".into());
        }
        match crate::model::principal::team_problem(text) {
            Some(why) => Err(format!("`{text}` {why}")),
            None => Ok(text.to_string()),
        }
    }

    /// The approval of workspace `workspace` for `datastore/dataset` whose head schema has
    /// `fingerprint`, if any (names compare as SQL identifiers, without case).
    pub fn approval(&self, workspace: &str, datastore: &str, dataset: &str, fingerprint: &str) -> Option<&Approval> {
        self.approvals.iter().find(|a| {
            a.workspace.eq_ignore_ascii_case(workspace)
                && a.datastore.eq_ignore_ascii_case(datastore)
                && a.dataset.eq_ignore_ascii_case(dataset)
                && a.fingerprint.as_deref().is_none_or(|f| f == fingerprint)
        })
    }

    pub fn is_unknown(&self) -> bool {
        self.repo.is_none() && self.users.is_empty() && self.teams.is_empty()
    }

    /// What in this source satisfies `owner` (`repo acme/x@main`, `user alice`, `team acme/eng`),
    /// or `None`. Repositories, users and teams compare case-insensitively, branches exactly.
    pub fn satisfies(&self, owner: &Owner) -> Option<String> {
        if let (Some(wanted), Some(repo)) = (&owner.repo, &self.repo)
            && wanted.value.eq_ignore_ascii_case(repo)
        {
            match &owner.branch {
                None => return Some(format!("repo {repo}")),
                Some(branch) if self.branch.as_deref() == Some(&*branch.value) => {
                    return Some(format!("repo {repo}@{branch}"));
                }
                Some(_) => {}
            }
        }
        if let Some(user) = self.users.iter().find(|u| owner.users.iter().any(|o| o.value.eq_ignore_ascii_case(u))) {
            return Some(format!("user {user}"));
        }
        if let Some(team) = self.teams.iter().find(|t| owner.teams.iter().any(|o| o.value.eq_ignore_ascii_case(t))) {
            return Some(format!("team {team}"));
        }
        None
    }

    /// `repo acme/x@feature/y, author bob, approvers alice, teams acme/eng`, for messages.
    pub fn describe(&self) -> String {
        if self.is_unknown() {
            return "an unknown source".into();
        }
        let mut parts = Vec::new();
        if let Some(repo) = &self.repo {
            parts.push(match &self.branch {
                Some(branch) => format!("repo {repo}@{branch}"),
                None => format!("repo {repo} (branch unknown)"),
            });
        }
        if let Some(author) = &self.author {
            parts.push(format!("author {author}"));
        }
        if !self.approvers.is_empty() {
            parts.push(format!("approvers {}", self.approvers.join(", ")));
        }
        let others: Vec<&String> =
            self.users.iter().filter(|u| self.author.as_ref() != Some(*u) && !self.approvers.contains(u)).collect();
        if !others.is_empty() {
            parts.push(format!("users {}", others.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")));
        }
        if !self.teams.is_empty() {
            parts.push(format!("teams {}", self.teams.join(", ")));
        }
        for a in &self.approvals {
            parts.push(format!("approval by {} of {}/{} for {}", a.by, a.datastore, a.dataset, a.workspace));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Span, Spanned};

    fn name(text: &str) -> Spanned<crate::model::Str> {
        Spanned::new(text.into(), Span::default())
    }

    fn owner(repo: Option<&str>, branch: Option<&str>, users: &[&str], teams: &[&str]) -> Owner {
        Owner {
            span: Span::default(),
            repo: repo.map(name),
            branch: branch.map(name),
            users: users.iter().map(|u| name(u)).collect(),
            teams: teams.iter().map(|t| name(t)).collect(),
        }
    }

    #[test]
    fn repos_parse_with_slashed_branches() {
        assert_eq!(ChangeSource::parse_repo("acme/x"), Ok(("acme/x".into(), None)));
        assert_eq!(
            ChangeSource::parse_repo("acme/x@feature/new@2"),
            Ok(("acme/x".into(), Some("feature/new@2".into())))
        );
        assert_eq!(ChangeSource::parse_repo("group/sub/x@main"), Ok(("group/sub/x".into(), Some("main".into()))));
        assert!(ChangeSource::parse_repo("acme").is_err());
        assert!(ChangeSource::parse_repo("acme/x@").is_err());
        assert!(ChangeSource::parse_repo("/x").is_err());
    }

    #[test]
    fn matching() {
        let source = ChangeSource {
            repo: Some("Acme/Model".into()),
            branch: Some("release/1".into()),
            users: vec!["Alice".into()],
            teams: vec!["acme/ENG".into()],
            ..ChangeSource::default()
        };
        assert_eq!(source.satisfies(&owner(Some("acme/model"), None, &[], &[])).as_deref(), Some("repo Acme/Model"));
        assert!(source.satisfies(&owner(Some("acme/model"), Some("release/1"), &[], &[])).is_some());
        assert!(
            source.satisfies(&owner(Some("acme/model"), Some("Release/1"), &[], &[])).is_none(),
            "branches are exact"
        );
        assert!(source.satisfies(&owner(Some("acme/other"), None, &[], &[])).is_none());
        assert_eq!(source.satisfies(&owner(None, None, &["alice"], &[])).as_deref(), Some("user Alice"));
        assert_eq!(source.satisfies(&owner(None, None, &[], &["Acme/eng"])).as_deref(), Some("team acme/ENG"));
        assert!(source.satisfies(&owner(None, None, &[], &[])).is_none(), "an empty owner matches nobody");
        let no_branch = ChangeSource { branch: None, ..source.clone() };
        assert!(
            no_branch.satisfies(&owner(Some("acme/model"), Some("release/1"), &[], &[])).is_none(),
            "branch unknown"
        );
    }
}
