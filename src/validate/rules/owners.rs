//! `owner.invalid`: every owner names at least one well-formed principal.

use crate::model::{FileId, Owner};
use crate::problem::ObjectRef;
use crate::rules::Rule;
use crate::validate::Ctx;

pub(super) fn owners(cx: &mut Ctx<'_>) {
    let model = cx.model;
    if let Some((file, eco)) = &model.ecosystem {
        let path = cx.paths.ecosystem();
        // A missing owner is reported by the loader as `field.missing`.
        if let Some(owner) = &eco.owner {
            check(cx, *file, owner, "the ecosystem", path);
        }
        for zone in &eco.zones {
            let Some(owner) = &zone.owner else { continue };
            let path = cx.paths.zone(&zone.name);
            check(cx, *file, owner, &format!("zone `{}`", zone.name), path);
        }
    }
    for zone in &model.zones {
        for team in &zone.teams {
            let Some(owner) = &team.owner else { continue };
            let path = cx.paths.team(&zone.scope.zone, &team.name);
            check(cx, zone.file, owner, &format!("team `{}`", team.name), path);
        }
    }
}

fn check(cx: &mut Ctx<'_>, file: FileId, owner: &Owner, whose: &str, path: Vec<ObjectRef>) {
    let report = |cx: &mut Ctx<'_>, pos, message: String, help: &str| {
        let problem = cx.report(Rule::OwnerInvalid, file, pos, message.clone(), path.clone());
        problem.detail = message;
        problem.help = Some(help.to_string());
    };
    if owner.repo.is_none() && owner.teams.is_empty() && owner.users.is_empty() {
        let message = format!("the owner of {whose} names no principal, so nobody could ever change it");
        report(cx, owner.span.key, message, "Add `repo`, `teams` or `users` to the owner.");
        return;
    }
    use crate::model::principal;
    if let Some(repo) = &owner.repo
        && let Some(why) = principal::repo_problem(&repo.value)
    {
        report(
            cx,
            repo.span.value,
            format!("`{repo}` {why}"),
            "Write the repository as `owner/name` (GitLab: `group/subgroup/name`).",
        );
    }
    if let (Some(branch), None) = (&owner.branch, &owner.repo) {
        report(
            cx,
            branch.span.key,
            "`branch` needs a `repo` beside it".into(),
            "Add the repository the branch belongs to, or remove `branch`.",
        );
    }
    if let Some(branch) = &owner.branch
        && let Some(why) = principal::branch_problem(&branch.value)
    {
        report(
            cx,
            branch.span.value,
            format!("`{branch}` {why}"),
            "Write the head branch name, e.g. `main` or `release/2026`.",
        );
    }
    for team in &owner.teams {
        if let Some(why) = principal::team_problem(&team.value) {
            report(
                cx,
                team.span.value,
                format!("team `{team}` {why}"),
                "Write GitHub teams as `org/team-slug`, GitLab groups as their full path `group/subgroup`.",
            );
        }
    }
    for user in &owner.users {
        if let Some(why) = principal::user_problem(&user.value) {
            report(cx, user.span.value, format!("user `{user}` {why}"), "Write the user's login, without `@`.");
        }
    }
}
