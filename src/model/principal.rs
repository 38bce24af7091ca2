//! The spelling of owner principals (MODEL.md §4), shared by the owner lint and the change
//! source flags, so that a principal the model may name is exactly one a check can be given.

/// A forge login: letters, digits, `-`, `_` and `.`, starting with a letter or digit, with an
/// optional `[bot]` suffix (GitHub Apps act as `name[bot]`).
pub fn user_problem(login: &str) -> Option<&'static str> {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    if name.is_empty() {
        return Some("is empty");
    }
    if name.starts_with('@') {
        return Some("starts with `@`; write the login alone");
    }
    let mut chars = name.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) || name.len() > 255 {
        return Some("is not a forge login (letters, digits, `-`, `_` and `.`)");
    }
    None
}

/// A GitHub team `org/team-slug`, or a GitLab group path `group/subgroup[/...]`: at least two
/// segments, each a login-like name.
pub fn team_problem(team: &str) -> Option<&'static str> {
    if team.is_empty() {
        return Some("is empty");
    }
    let segments: Vec<&str> = team.split('/').collect();
    if segments.len() < 2 {
        return Some("has no `/`: write a GitHub team as `org/team-slug`, a GitLab group as `group/subgroup`");
    }
    if segments.iter().any(|s| user_problem(s).is_some() || s.ends_with("[bot]")) {
        return Some("is not a team `org/team-slug` or group path (letters, digits, `-`, `_` and `.` between `/`)");
    }
    None
}

/// A repository `owner/name` (GitLab: `group/subgroup/name`).
pub fn repo_problem(repo: &str) -> Option<&'static str> {
    let segments: Vec<&str> = repo.split('/').collect();
    if segments.len() < 2
        || segments.iter().any(|s| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c.is_control()))
    {
        return Some("is not a repository `owner/name` (GitLab: `group/subgroup/name`)");
    }
    None
}

/// A branch name as git allows it, in the ways that matter here: not empty, no whitespace or
/// control characters.
pub fn branch_problem(branch: &str) -> Option<&'static str> {
    if branch.is_empty() || branch.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Some("is not a branch name");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals() {
        for ok in ["alice", "Bob-2", "dependabot[bot]", "first.last", "x_y"] {
            assert_eq!(user_problem(ok), None, "{ok}");
        }
        for bad in ["", "@alice", "a b", "a/b", "-x", "[bot]"] {
            assert!(user_problem(bad).is_some(), "{bad:?}");
        }
        for ok in ["acme/eng", "group/sub/team", "acme/data.platform"] {
            assert_eq!(team_problem(ok), None, "{ok}");
        }
        for bad in ["", "noslash", "acme/", "/eng", "acme//eng", "acme/e ng", "@acme/eng"] {
            assert!(team_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(repo_problem("acme/model"), None);
        assert!(repo_problem("acme").is_some() && repo_problem("acme/ x").is_some() && repo_problem("/x").is_some());
        assert!(branch_problem("").is_some() && branch_problem("a b").is_some());
        assert_eq!(branch_problem("feature/x@2"), None);
    }
}
