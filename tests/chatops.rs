//! Chat-ops end to end on both forges: commands in new comments, from people with access;
//! `approve` stored durably and keyed by the dataset's head schema; replies and reactions.

use serde_json::{Value, json};

use crate::fake_github::{FakeGitHub, INSTALLATION, eventually};
use crate::fake_gitlab::{BOT, BOT_ID, FakeGitLab, PROJECT};
use crate::gitlab::{drop_balance, edit, mr_hook, register_mr};
use crate::service::{Origin, REPO, Serve, completed, drop_email, pull_payload};
use crate::support::repo_root;

/// A Note Hook (the documentation's example) on merge request `iid`, written by `user`.
fn note_hook(iid: u64, origin: &Origin, head: &str, note_id: u64, user: (&str, u64), text: &str) -> Value {
    let mut hook: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/data/gitlab/docs/note_hook.merge_request.json")).unwrap(),
    )
    .unwrap();
    hook["user"] = json!({"id": user.1, "username": user.0, "name": user.0});
    hook["project_id"] = PROJECT.into();
    hook["project"]["id"] = PROJECT.into();
    hook["project"]["path_with_namespace"] = "acme/model".into();
    let attributes = &mut hook["object_attributes"];
    attributes["id"] = note_id.into();
    attributes["note"] = text.into();
    attributes["author_id"] = user.1.into();
    attributes["discussion_id"] = format!("disc-{note_id}").into();
    let mr = mr_hook("open", iid, origin, head, None)["object_attributes"].clone();
    hook["merge_request"] = mr;
    hook
}

fn statuses(gitlab: &FakeGitLab, sha: &str) -> Vec<String> {
    gitlab.states_of(sha).into_iter().filter(|s| s == "success" || s == "failed").collect()
}

fn awards(gitlab: &FakeGitLab, note: u64) -> Vec<String> {
    gitlab.with(|s| s.awards.iter().filter(|(n, _)| *n == note).map(|(_, name)| name.clone()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_on_gitlab_counts_only_for_owned_workspaces_and_lapses_when_the_schema_changes() {
    let gitlab = FakeGitLab::start().await;
    let origin = Origin::new();
    let head = origin.head(7, None, drop_balance);
    register_mr(&gitlab, &origin, 7, &head);
    gitlab.with(|s| {
        // carol is in acme/analytics (marketing's owner); eve only has access to the project.
        s.users.insert("carol".into(), (21, false));
        s.users.insert("eve".into(), (22, false));
        s.users.insert("guest".into(), (23, false));
        s.group_members.insert(("acme/analytics".into(), 21));
        s.access.insert(21, 30);
        s.access.insert(22, 30);
        s.access.insert(23, 10);
    });
    let serve = Serve::start_gitlab(&gitlab, &[]).await;
    let hook = mr_hook("open", 7, &origin, &head, None);
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-7", &hook).await.0, 202);
    eventually(30, "the failing status", || statuses(&gitlab, &head) == ["failed"]).await;

    // eve owns none of the affected workspaces: told who must approve, nothing stored.
    let note = note_hook(7, &origin, &head, 101, ("eve", 22), "Looks fine to me.\n\n/datasurface approve");
    assert_eq!(serve.gitlab_hook("Note Hook", "note-101", &note).await.0, 202);
    eventually(30, "the reply to eve", || !gitlab.replies_to("disc-101").is_empty()).await;
    let reply = gitlab.replies_to("disc-101")[0].body.clone();
    assert!(reply.contains("@eve owns none of the workspaces") && reply.contains("team acme/analytics"), "{reply}");
    eventually(10, "eve's reactions", || awards(&gitlab, 101) == ["eyes", "confused"]).await;
    assert_eq!(statuses(&gitlab, &head), ["failed"], "no second check");

    // A guest (below Reporter), the bot itself and an edited note are not acted on.
    let guest = note_hook(7, &origin, &head, 102, ("guest", 23), "/datasurface approve");
    assert_eq!(serve.gitlab_hook("Note Hook", "note-102", &guest).await.0, 202);
    let own = note_hook(7, &origin, &head, 103, (BOT, BOT_ID), "/datasurface check");
    // Refused at once when the bot's own user is known (GET /user at start-up), else by the worker.
    assert!([200, 202].contains(&serve.gitlab_hook("Note Hook", "note-103", &own).await.0));
    let mut edited = note_hook(7, &origin, &head, 104, ("carol", 21), "/datasurface approve");
    edited["object_attributes"]["action"] = "update".into();
    assert_eq!(serve.gitlab_hook("Note Hook", "note-104", &edited).await.0, 200);

    // carol owns marketing: her approval turns the failure into a pass.
    let note = note_hook(7, &origin, &head, 105, ("carol", 21), "/datasurface approve");
    assert_eq!(serve.gitlab_hook("Note Hook", "note-105", &note).await.0, 202);
    eventually(30, "the passing status", || statuses(&gitlab, &head) == ["failed", "success"]).await;
    let reply = gitlab.replies_to("disc-105")[0].body.clone();
    assert!(reply.contains("@carol approved") && reply.contains("`customers/customers` | marketing"), "{reply}");
    assert_eq!(awards(&gitlab, 105), ["eyes", "rocket"]);
    assert!(gitlab.count("GET", "/groups/acme%2Fanalytics/members/all/21") >= 1, "membership asked of GitLab");
    eventually(10, "the note to say who approved", || {
        gitlab
            .sticky_notes(7)
            .first()
            .is_some_and(|n| n.body.contains("carol (approval of customers/customers for marketing)"))
    })
    .await;
    assert!(awards(&gitlab, 102).is_empty() && awards(&gitlab, 103).is_empty() && awards(&gitlab, 104).is_empty());
    assert!(gitlab.replies_to("disc-102").is_empty() && gitlab.replies_to("disc-103").is_empty());

    // A push that changes another file keeps the approval.
    let second = origin.head(7, Some(&head), |p| {
        edit(
            p,
            "zones/usa/teams/northwind/orders.yaml",
            "        - {name: status, type: varchar(16)}\n",
            "        - {name: status, type: varchar(16)}\n        - {name: channel, type: varchar(16)}\n",
        );
    });
    register_mr(&gitlab, &origin, 7, &second);
    let hook = mr_hook("update", 7, &origin, &second, Some(&head));
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-7-push-2", &hook).await.0, 202);
    eventually(30, "the second head's status", || !statuses(&gitlab, &second).is_empty()).await;
    assert_eq!(statuses(&gitlab, &second), ["success"], "{}", serve.log());

    // A push that changes the approved dataset again: the approval lapses.
    let third = origin.head(7, Some(&second), |p| {
        edit(
            p,
            "zones/usa/teams/northwind/customers.yaml",
            "        - {name: segment, type: varchar(32), classifications: [PUB]}\n",
            "",
        );
    });
    register_mr(&gitlab, &origin, 7, &third);
    let hook = mr_hook("update", 7, &origin, &third, Some(&second));
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-7-push-3", &hook).await.0, 202);
    eventually(30, "the third head's status", || !statuses(&gitlab, &third).is_empty()).await;
    assert_eq!(statuses(&gitlab, &third), ["failed"]);

    // unapprove withdraws carol's approval and says so.
    let note = note_hook(7, &origin, &third, 106, ("carol", 21), "/datasurface unapprove");
    assert_eq!(serve.gitlab_hook("Note Hook", "note-106", &note).await.0, 202);
    eventually(30, "the reply to unapprove", || !gitlab.replies_to("disc-106").is_empty()).await;
    assert!(gitlab.replies_to("disc-106")[0].body.contains("Withdrew 1 approval by @carol"));

    // The conversation, for the docs: each command and the bot's reply in its discussion.
    let mut conversation = String::new();
    for (id, who, text) in [
        (101, "eve", "/datasurface approve"),
        (105, "carol", "/datasurface approve"),
        (106, "carol", "/datasurface unapprove"),
    ] {
        conversation.push_str(&format!("**{who}:** {text}\n\n"));
        for reply in gitlab.replies_to(&format!("disc-{id}")) {
            conversation.push_str(&format!("**{BOT}** (reactions {:?}):\n\n{}\n\n", awards(&gitlab, id), reply.body));
        }
    }
    std::fs::write(std::env::temp_dir().join("datasurface-chatops-conversation.md"), conversation).unwrap();
}

/// A GitHub `issue_comment` (go-scm's real capture) on pull request `number` by `login`.
fn comment_payload(number: u64, id: u64, login: &str, body: &str) -> Value {
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("tests/data/github/issue_comment.created.on_pull_request.go-scm.json"),
        )
        .unwrap(),
    )
    .unwrap();
    payload["installation"] = json!({"id": INSTALLATION});
    payload["repository"]["full_name"] = REPO.into();
    payload["issue"]["number"] = number.into();
    payload["comment"]["id"] = id.into();
    payload["comment"]["body"] = body.into();
    payload["comment"]["user"]["login"] = login.into();
    payload["comment"]["user"]["type"] = "User".into();
    payload["sender"]["login"] = login.into();
    payload["sender"]["type"] = "User".into();
    payload
}

/// Compares with a committed snapshot (`UPDATE_SNAPSHOTS=1` writes it).
fn snapshot(name: &str, actual: &str) {
    let path = repo_root().join(format!("tests/data/chatops/{name}"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 rewrites it)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_commands_explain_impact_and_check_and_ignore_what_is_not_a_command() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(12, None, drop_email);
    let pull = pull_payload("opened", 12, &origin, &head, "bob")["pull_request"].clone();
    github.with(|s| {
        s.pulls.insert((REPO.into(), 12), pull);
        s.permissions.insert("carol".into(), "read".into());
    });
    let serve = Serve::start(&github, None, &[]).await;
    let send = |id: u64, login: &str, body: &str| {
        let payload = comment_payload(12, id, login, body);
        let serve = &serve;
        async move { serve.webhook("issue_comment", &format!("comment-{id}"), &payload).await }
    };
    let replies = || github.comments_of(12).into_iter().filter(|c| !c.body.starts_with("<!--")).collect::<Vec<_>>();

    // explain: the rule's page, as the snapshot has it.
    assert_eq!(send(201, "carol", "/datasurface explain compat.column-removed").await.0, 202);
    eventually(30, "the explain reply", || replies().len() == 1).await;
    snapshot("explain.md", &replies()[0].body);
    // impact: consumers, groups and owners from the head, as a table and a Mermaid graph.
    assert_eq!(send(202, "carol", "@datasurface impact customers").await.0, 202);
    eventually(30, "the impact reply", || replies().len() == 2).await;
    let impact = replies()[1].body.clone();
    assert!(
        impact.contains("```mermaid") && impact.contains("| `customers/customers` | marketing | campaigns |"),
        "{impact}"
    );
    snapshot("impact.md", &impact.replace(&head[..10], "HEAD"));
    // help, and an unknown command answered with the help; two commands: the second is not run.
    assert_eq!(send(203, "carol", "/datasurface frobnicate\n/datasurface check").await.0, 202);
    eventually(30, "the help reply", || replies().len() == 3).await;
    let help = replies()[2].body.clone();
    assert!(help.contains("does not know the command `frobnicate`") && help.contains("/datasurface approve"), "{help}");
    assert!(help.contains("Only one command per comment"), "{help}");
    let reactions = github.with(|s| s.reactions.clone());
    assert!(reactions.contains(&(201, "eyes".into())) && reactions.contains(&(201, "rocket".into())), "{reactions:?}");
    assert!(reactions.contains(&(203, "confused".into())), "{reactions:?}");

    // check runs the check now.
    assert_eq!(send(204, "carol", "/datasurface check").await.0, 202);
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    assert_eq!(completed(&github, &head)[0].conclusion().as_deref(), Some("failure"));

    // Quoted, fenced and commented-out commands are not commands; nor are a bot's comments,
    // edits, or comments by accounts without read access.
    for (id, body) in
        [(205, "> /datasurface check"), (206, "```\n/datasurface check\n```"), (207, "<!-- /datasurface check -->")]
    {
        let (status, answer) = send(id, "carol", body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let mut bot = comment_payload(12, 208, "datasurface[bot]", "/datasurface check");
    bot["comment"]["user"]["type"] = "Bot".into();
    bot["sender"]["type"] = "Bot".into();
    assert_eq!(serve.webhook("issue_comment", "comment-208", &bot).await.0, 200);
    let mut edited = comment_payload(12, 209, "carol", "/datasurface check");
    edited["action"] = "edited".into();
    assert_eq!(serve.webhook("issue_comment", "comment-209", &edited).await.0, 200);
    assert_eq!(send(210, "mallory", "/datasurface check").await.0, 202, "queued, then refused by permission");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(!github.with(|s| s.reactions.iter().any(|(id, _)| *id == 210)), "no reaction to mallory");
    assert_eq!(replies().len(), 3, "no further replies");
    assert_eq!(completed(&github, &head).len(), 1, "no further checks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_lapse_when_the_target_branch_changes_or_the_merge_request_is_reopened() {
    let gitlab = FakeGitLab::start().await;
    let origin = Origin::new();
    let head = origin.head(8, None, drop_balance);
    register_mr(&gitlab, &origin, 8, &head);
    gitlab.with(|s| {
        s.users.insert("carol".into(), (21, false));
        s.group_members.insert(("acme/analytics".into(), 21));
        s.access.insert(21, 30);
    });
    let serve = Serve::start_gitlab(&gitlab, &[]).await;
    let approve = |id: u64| note_hook(8, &origin, &head, id, ("carol", 21), "/datasurface approve");
    let mr = |action: &str| mr_hook(action, 8, &origin, &head, None);
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-8", &mr("open")).await.0, 202);
    eventually(30, "the failing status", || statuses(&gitlab, &head) == ["failed"]).await;
    assert_eq!(serve.gitlab_hook("Note Hook", "note-301", &approve(301)).await.0, 202);
    eventually(30, "the approved status", || statuses(&gitlab, &head) == ["failed", "success"]).await;

    // The merge request is retargeted: the approval was for `main`, so it no longer counts.
    gitlab.with(|s| s.mrs.get_mut(&8).unwrap()["target_branch"] = "release".into());
    let mut retarget = mr("update");
    retarget["changes"]["target_branch"] = json!({"previous": "main", "current": "release"});
    retarget["object_attributes"]["target_branch"] = "release".into();
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-8-retarget", &retarget).await.0, 202);
    eventually(30, "the retargeted status", || statuses(&gitlab, &head).len() == 3).await;
    assert_eq!(statuses(&gitlab, &head)[2], "failed", "{}", serve.log());

    // Approved again for the new target, then closed and reopened: approvals start over.
    assert_eq!(serve.gitlab_hook("Note Hook", "note-302", &approve(302)).await.0, 202);
    eventually(30, "the approved status", || statuses(&gitlab, &head).len() == 4).await;
    assert_eq!(statuses(&gitlab, &head)[3], "success");
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-8-reopen", &mr("reopen")).await.0, 202);
    eventually(30, "the reopened status", || statuses(&gitlab, &head).len() == 5).await;
    assert_eq!(statuses(&gitlab, &head)[4], "failed", "reopening lapses every approval");
}
