//! `datasurface serve` for GitLab merge requests, end to end: a real process, hooks made from
//! GitLab's own payloads, real git repositories as the projects (`file://`), and the stand-in
//! GitLab of `fake_gitlab.rs`, which accepts diff positions only where GitLab does.

use std::path::Path;

use serde_json::{Value, json};

use crate::fake_github::eventually;
use crate::fake_gitlab::{FakeGitLab, PROJECT};
use crate::service::{Origin, SECRET, SIGNING_TOKEN, Serve};
use crate::support::repo_root;

/// Removes column `balance` of the example's customers (consumed by workspace marketing): the
/// error is on the `columns:` line, far from the removed line, so outside the diff.
pub fn drop_balance(path: &Path) {
    edit(
        path,
        "zones/usa/teams/northwind/customers.yaml",
        "        - {name: balance, type: \"decimal(18,2)\", classifications: [PC2]}\n",
        "",
    );
}

/// Adds a column with a misspelt type to orders: an error on an added line.
fn add_bad_column(path: &Path) {
    edit(
        path,
        "zones/usa/teams/northwind/orders.yaml",
        "        - {name: status, type: varchar(16)}\n",
        "        - {name: status, type: varchar(16)}\n        - {name: note, type: textt}\n",
    );
}

pub fn edit(path: &Path, file: &str, from: &str, to: &str) {
    let file = path.join(file);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "{} holds {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

fn payload(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join(format!("tests/data/gitlab/{name}.json"))).unwrap())
        .unwrap()
}

/// Registers merge request `iid` in the stand-in at `head` (base: the origin's main), with bob
/// as its author.
pub fn register_mr(gitlab: &FakeGitLab, origin: &Origin, iid: u64, head: &str) {
    gitlab.with(|s| {
        s.repo = Some(origin.dir.path().to_path_buf());
        s.users.entry("bob".into()).or_insert((11, false));
        s.mrs.insert(
            iid,
            json!({
                "iid": iid, "state": "opened", "draft": false,
                "author": {"username": "bob"},
                "source_branch": format!("change-{iid}"), "target_branch": "main",
                "source_project_id": PROJECT, "target_project_id": PROJECT,
                "sha": head,
                "diff_refs": {"base_sha": origin.base, "start_sha": origin.base, "head_sha": head},
            }),
        );
    });
}

/// GitLab's Merge Request Hook (the documentation's example), rewritten to this merge request.
pub fn mr_hook(action: &str, iid: u64, origin: &Origin, head: &str, oldrev: Option<&str>) -> Value {
    let mut hook = payload("docs/merge_request_hook");
    hook["project"]["id"] = PROJECT.into();
    hook["project"]["path_with_namespace"] = "acme/model".into();
    let attributes = &mut hook["object_attributes"];
    attributes["action"] = action.into();
    attributes["iid"] = iid.into();
    attributes["target_project_id"] = PROJECT.into();
    attributes["source_project_id"] = PROJECT.into();
    attributes["source_branch"] = format!("change-{iid}").into();
    attributes["target_branch"] = "main".into();
    attributes["last_commit"]["id"] = head.into();
    attributes["source"]["path_with_namespace"] = "acme/northwind".into();
    attributes["source"]["git_http_url"] = origin.url().into();
    attributes["target"]["path_with_namespace"] = "acme/model".into();
    attributes["target"]["git_http_url"] = origin.url().into();
    if let Some(oldrev) = oldrev {
        attributes["oldrev"] = oldrev.into();
    }
    hook
}

fn last_state(gitlab: &FakeGitLab, sha: &str) -> Option<String> {
    gitlab.states_of(sha).last().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_request_gets_a_status_one_note_and_discussions_on_its_diff_lines() {
    let gitlab = FakeGitLab::start().await;
    let origin = Origin::new();
    let head = origin.head(5, None, |p| {
        drop_balance(p);
        add_bad_column(p);
    });
    register_mr(&gitlab, &origin, 5, &head);
    let serve = Serve::start_gitlab(&gitlab, &[]).await;
    let (status, answer) =
        serve.gitlab_hook("Merge Request Hook", "mr-5-open", &mr_hook("open", 5, &origin, &head, None)).await;
    assert_eq!(status, 202, "{answer}");
    eventually(30, "the final status", || last_state(&gitlab, &head).is_some_and(|s| s == "failed")).await;
    assert_eq!(gitlab.states_of(&head), ["pending", "running", "failed"], "{}", serve.log());
    let last = gitlab.with(|s| s.statuses.last().unwrap().1.clone());
    assert_eq!(last["name"], "datasurface");
    assert_eq!(last["ref"], "refs/merge-requests/5/head");
    assert!(last["description"].as_str().unwrap().starts_with("failed: 2 errors"), "{last}");
    assert!(last["target_url"].as_str().unwrap().starts_with(&format!("{}/reports/", serve.url)));
    eventually(10, "the note", || gitlab.sticky_notes(5).len() == 1).await;
    let note = &gitlab.sticky_notes(5)[0];
    assert!(note.body.contains("compat.column-removed") && note.body.contains("column.type-invalid"), "{}", note.body);

    // The added line's error is a discussion on that line; the removed column's error is on
    // a line outside the diff and stays in the note.
    eventually(10, "the discussion", || gitlab.with(|s| !s.discussions.is_empty())).await;
    let discussions = gitlab.with(|s| s.discussions.clone());
    assert_eq!(discussions.len(), 1, "{discussions:#?}");
    let discussion = &discussions[0];
    assert!(discussion.body.contains("column.type-invalid"), "{}", discussion.body);
    assert_eq!(discussion.position["new_path"], "zones/usa/teams/northwind/orders.yaml");
    assert_eq!(discussion.position["new_line"], 22);
    assert!(discussion.position.get("old_line").is_none(), "an added line has no old line");
    assert_eq!(discussion.position["base_sha"].as_str(), Some(origin.base.as_str()));
    assert!(!discussions.iter().any(|d| d.body.contains("compat.column-removed")));

    // A push that fixes the type: the same note edited, the discussion resolved, none new.
    let second = origin.head(5, Some(&head), |p| {
        edit(p, "zones/usa/teams/northwind/orders.yaml", "type: textt}", "type: varchar(64)}");
    });
    register_mr(&gitlab, &origin, 5, &second);
    let hook = mr_hook("update", 5, &origin, &second, Some(&head));
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-5-push", &hook).await.0, 202);
    eventually(30, "the second head's status", || last_state(&gitlab, &second).is_some_and(|s| s == "failed")).await;
    eventually(10, "the note to be edited", || gitlab.sticky_notes(5).first().is_some_and(|n| n.edits == 1)).await;
    assert_eq!(gitlab.sticky_notes(5).len(), 1, "never a second note");
    assert!(!gitlab.sticky_notes(5)[0].body.contains("column.type-invalid"));
    eventually(10, "the discussion to be resolved", || gitlab.with(|s| s.discussions[0].resolved)).await;
    assert_eq!(gitlab.with(|s| s.discussions.len()), 1);
    assert_eq!(gitlab.states_of(&head), ["pending", "running", "failed"], "the first head's status stays");

    // Redelivery (same Idempotency-Key) makes no second job; events that change nothing are 200.
    let (status, answer) = serve.gitlab_hook("Merge Request Hook", "mr-5-push", &hook).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("received before"), "{answer}");
    let closed = mr_hook("close", 5, &origin, &second, None);
    assert_eq!(serve.gitlab_hook("Merge Request Hook", "mr-5-close", &closed).await.0, 200);
    let (status, answer) = serve.gitlab_hook("Push Hook", "push-1", &json!({"object_kind": "push"})).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_hooks_are_refused_unless_token_or_signature_verifies() {
    let gitlab = FakeGitLab::start().await;
    let origin = Origin::new();
    let head = origin.head(6, None, drop_balance);
    register_mr(&gitlab, &origin, 6, &head);
    let serve = Serve::start_gitlab(&gitlab, &[]).await;
    let body = serde_json::to_vec(&mr_hook("open", 6, &origin, &head, None)).unwrap();
    let event = "Merge Request Hook";
    // No credentials, a wrong token.
    assert_eq!(serve.post_gitlab(event, "a", body.clone(), &[]).await.0, 401);
    let wrong = [("x-gitlab-token", format!("{SECRET}x"))];
    assert_eq!(serve.post_gitlab(event, "b", body.clone(), &wrong).await.0, 401);
    // GitLab's HMAC signing: the signed delivery is taken, a tampered or stale one is not.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let signed = |id: &str, at: i64, bytes: &[u8]| {
        vec![
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", at.to_string()),
            ("webhook-signature", datasurface::service::webhook::gitlab_signature(SIGNING_TOKEN, id, at, bytes)),
        ]
    };
    let mut tampered = body.clone();
    let position = tampered.iter().position(|b| *b == b'6').unwrap();
    tampered[position] = b'7';
    assert_eq!(serve.post_gitlab(event, "c", tampered, &signed("msg_c", now, &body)).await.0, 401);
    assert_eq!(serve.post_gitlab(event, "d", body.clone(), &signed("msg_d", now - 600, &body)).await.0, 401);
    // A right token with a wrong signature: what is sent must verify.
    let mut both = signed("msg_e", now, b"other");
    both.push(("x-gitlab-token", SECRET.to_string()));
    assert_eq!(serve.post_gitlab(event, "e", body.clone(), &both).await.0, 401);
    assert_eq!(gitlab.with(|s| s.statuses.len()), 0, "nothing refused was acted on");
    let (status, answer) = serve.post_gitlab(event, "f", body.clone(), &signed("msg_f", now, &body)).await;
    assert_eq!(status, 202, "{answer}");
    eventually(30, "the status", || last_state(&gitlab, &head).is_some_and(|s| s == "failed")).await;
    let metrics = serve.get("/metrics").await.1;
    assert!(
        metrics.contains(
            "datasurface_webhooks_total{forge=\"gitlab\",event=\"Merge Request Hook\",outcome=\"unauthorized\"} 5"
        ),
        "{metrics}"
    );
}
