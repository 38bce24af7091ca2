//! Webhook intake: the signature, checked over the raw body before anything is parsed, and
//! the events that queue a check (SERVICE.md §2). Payloads are read leniently into what the
//! bot needs: a new field or action must never break intake, and older payloads lack fields
//! newer ones have.

use hmac::{KeyInit, Mac};
use serde_json::Value;

use super::job::{CommandJob, PullJob};
use crate::forge::github::Pull;

/// Whether `X-Hub-Signature-256` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `secret`, compared in constant time.
pub fn github_signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Some(expected) = decode_hex(hex) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The signature header a sender would compute (tests and the load script use it).
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The HMAC key of a GitLab signing token: the base64 after `whsec_`.
pub fn signing_key(token: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let encoded = token.trim().strip_prefix("whsec_")?;
    base64::engine::general_purpose::STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())
}

/// The headers of a GitLab delivery that authenticate it.
#[derive(Clone, Copy, Debug, Default)]
pub struct GitLabAuth<'a> {
    pub token: Option<&'a str>,
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// How far a signed delivery's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// Whether a GitLab delivery is authentic: `X-Gitlab-Token` equal to the secret token
/// (constant time), or `webhook-signature` (`v1,<base64>`, several allowed) the HMAC-SHA256
/// of `{id}.{timestamp}.{body}` under the signing key with the timestamp within five minutes.
/// Whatever is configured and sent must verify, and at least one must be.
pub fn gitlab_authentic(
    secret: Option<&str>,
    signing_token: Option<&str>,
    auth: GitLabAuth<'_>,
    body: &[u8],
    now_seconds: i64,
) -> Result<(), &'static str> {
    let mut verified = false;
    if let (Some(secret), Some(sent)) = (secret, auth.token) {
        if !constant_time_eq(secret.as_bytes(), sent.as_bytes()) {
            return Err("wrong X-Gitlab-Token");
        }
        verified = true;
    }
    if let (Some(token), Some(signature)) = (signing_token, auth.signature) {
        let (Some(id), Some(timestamp)) = (auth.id, auth.timestamp) else {
            return Err("webhook-signature without webhook-id and webhook-timestamp");
        };
        let Some(sent_at) = timestamp.trim().parse::<i64>().ok() else {
            return Err("webhook-timestamp is not a number");
        };
        if (now_seconds - sent_at).abs() > SIGNATURE_TOLERANCE_SECONDS {
            return Err("webhook-timestamp is more than 5 minutes from now");
        }
        let Some(key) = signing_key(token) else { return Err("the signing token is not whsec_<base64>") };
        let ok = signature.split_whitespace().any(|candidate| {
            use base64::Engine as _;
            let Some(encoded) = candidate.strip_prefix("v1,") else { return false };
            let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return false };
            let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else { return false };
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        });
        if !ok {
            return Err("webhook-signature does not verify");
        }
        verified = true;
    }
    if verified { Ok(()) } else { Err("missing X-Gitlab-Token or webhook-signature") }
}

/// The `webhook-signature` a sender computes (tests use it).
pub fn gitlab_signature(signing_token: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine as _;
    let key = signing_key(signing_token).unwrap_or_default();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare MACs of both under a random key: equal length and time whatever the input.
    let mut key = [0u8; 32];
    let _ = getrandom::fill(&mut key);
    let mac = |bytes: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(bytes);
        mac.finalize().into_bytes()
    };
    let (x, y) = (mac(a), mac(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// What to do with an authenticated event.
#[derive(Debug, PartialEq, Eq)]
pub enum Intake {
    /// Queue a check of each of these pull requests.
    Queue(Vec<PullJob>),
    /// Understood, nothing to do, and why.
    Ignore(String),
}

/// Reads a GitHub event: which pull requests it asks to check, if any.
pub fn github(event: &str, body: &Value, app_id: u64, names: &[String], delivery: &str) -> Intake {
    let action = body["action"].as_str().unwrap_or_default();
    let repo = body["repository"]["full_name"].as_str().unwrap_or_default();
    let installation = body["installation"]["id"].as_u64();
    let job = |pull: Option<Pull>, number: u64, head_sha: Option<String>| PullJob {
        forge: "github".into(),
        installation,
        repo: repo.to_string(),
        number,
        head_sha,
        pull,
        event: format!("{event}.{action}"),
        delivery: delivery.to_string(),
        project: None,
        command: None,
    };
    if repo.is_empty() && event != "ping" {
        return Intake::Ignore(format!("{event} without a repository"));
    }
    match event {
        "ping" => Intake::Ignore("pong".into()),
        "pull_request" => {
            let wanted = match action {
                "opened" | "synchronize" | "reopened" | "ready_for_review" => true,
                // Only a new base branch changes what the check compares.
                "edited" => body["changes"]["base"].is_object(),
                _ => false,
            };
            if !wanted {
                return Intake::Ignore(format!("pull_request {action} does not change the check"));
            }
            let pull = Pull::from_json(&body["pull_request"]);
            if pull.number == 0 {
                return Intake::Ignore("pull_request without a number".into());
            }
            let (number, head) = (pull.number, pull.head_sha.clone());
            Intake::Queue(vec![job(Some(pull), number, Some(head).filter(|h| !h.is_empty()))])
        }
        "pull_request_review" => {
            if !matches!(action, "submitted" | "edited" | "dismissed") {
                return Intake::Ignore(format!("pull_request_review {action} does not change the check"));
            }
            let pull = Pull::from_json(&body["pull_request"]);
            if pull.number == 0 {
                return Intake::Ignore("pull_request_review without a pull request".into());
            }
            let (number, head) = (pull.number, pull.head_sha.clone());
            Intake::Queue(vec![job(Some(pull), number, Some(head).filter(|h| !h.is_empty()))])
        }
        "check_run" | "check_suite" => {
            if action != "rerequested" {
                return Intake::Ignore(format!("{event} {action} is not a re-run request"));
            }
            let run = &body[event];
            // A re-run of another App's check is not ours to answer.
            let ours = run["app"]["id"].as_u64() == Some(app_id) || run["name"].as_str() == Some("datasurface");
            if !ours {
                return Intake::Ignore(format!("{event} of another App"));
            }
            let head = run["head_sha"].as_str().map(str::to_string);
            let pulls: Vec<PullJob> = run["pull_requests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["number"].as_u64())
                .map(|number| job(None, number, head.clone()))
                .collect();
            if pulls.is_empty() {
                return Intake::Ignore(format!("{event} names no pull request (GitHub lists none for fork heads)"));
            }
            Intake::Queue(pulls)
        }
        "issue_comment" => github_comment(body, app_id, names, job),
        other => Intake::Ignore(format!("{other} events do not queue checks")),
    }
}

/// A GitHub comment: a command on a pull request, newly written by a person.
fn github_comment(
    body: &Value,
    app_id: u64,
    names: &[String],
    job: impl Fn(Option<Pull>, u64, Option<String>) -> PullJob,
) -> Intake {
    let action = body["action"].as_str().unwrap_or_default();
    if action != "created" {
        return Intake::Ignore(format!("issue_comment {action}: only new comments carry commands"));
    }
    if !body["issue"]["pull_request"].is_object() {
        return Intake::Ignore("a comment on an issue, not a pull request".into());
    }
    let comment = &body["comment"];
    let bot = comment["user"]["type"].as_str() == Some("Bot")
        || body["sender"]["type"].as_str() == Some("Bot")
        || comment["performed_via_github_app"]["id"].as_u64().is_some_and(|id| id == app_id)
        || comment["user"]["login"].as_str().is_some_and(|l| l.ends_with("[bot]"));
    if bot {
        return Intake::Ignore("a comment by a bot".into());
    }
    let Some(parsed) = super::chatops::parse(comment["body"].as_str().unwrap_or_default(), names) else {
        return Intake::Ignore("the comment holds no command".into());
    };
    let (Some(number), Some(id), Some(user)) =
        (body["issue"]["number"].as_u64(), comment["id"].as_u64(), comment["user"]["login"].as_str())
    else {
        return Intake::Ignore("a comment without number, id or author".into());
    };
    let mut job = job(None, number, None);
    job.command = Some(CommandJob {
        comment: id,
        discussion: None,
        user: user.to_string(),
        user_id: comment["user"]["id"].as_u64(),
        command: parsed.command,
        ignored: parsed.ignored,
    });
    Intake::Queue(vec![job])
}

/// Reads a GitLab event (`X-Gitlab-Event`, and the body's `object_kind`): which merge request
/// it asks to check, or which command to answer. `me` is the bot user's username when known.
pub fn gitlab(event: &str, body: &Value, me: Option<&str>, delivery: &str) -> Intake {
    let kind = body["object_kind"].as_str().unwrap_or_default();
    let attributes = &body["object_attributes"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    // The merge request: the hook's own, or the one a note is on.
    let mr = if kind == "note" { &body["merge_request"] } else { attributes };
    let project = mr["target_project_id"].as_u64().or(body["project"]["id"].as_u64());
    let pull = Pull {
        number: mr["iid"].as_u64().unwrap_or_default(),
        state: text(&mr["state"]),
        head_sha: text(&mr["last_commit"]["id"]),
        head_ref: text(&mr["source_branch"]),
        head_repo: text(&mr["source"]["path_with_namespace"]),
        head_clone_url: text(&mr["source"]["git_http_url"]),
        base_ref: text(&mr["target_branch"]),
        base_repo: text(&mr["target"]["path_with_namespace"]),
        base_clone_url: text(&mr["target"]["git_http_url"]),
        project_id: project.unwrap_or_default(),
        ..Pull::default()
    };
    let repo =
        if pull.base_repo.is_empty() { text(&body["project"]["path_with_namespace"]) } else { pull.base_repo.clone() };
    let (Some(project), false) = (project, pull.number == 0 || repo.is_empty()) else {
        return Intake::Ignore(format!("{event} without a merge request"));
    };
    let action = attributes["action"].as_str().unwrap_or_default().to_string();
    let head = Some(pull.head_sha.clone()).filter(|h| !h.is_empty());
    let job = |command: Option<CommandJob>| PullJob {
        forge: "gitlab".into(),
        installation: None,
        repo: repo.clone(),
        number: pull.number,
        head_sha: head.clone(),
        pull: Some(pull.clone()),
        event: format!("{kind}.{action}"),
        delivery: delivery.to_string(),
        project: Some(project),
        command,
    };
    match kind {
        "merge_request" => {
            let wanted = match action.as_str() {
                "open" | "reopen" | "approved" | "unapproved" | "approval" | "unapproval" => true,
                "update" => {
                    attributes["oldrev"].as_str().is_some_and(|r| !r.is_empty())
                        || body["changes"]["target_branch"].is_object()
                }
                _ => false,
            };
            if !wanted {
                return Intake::Ignore(format!("merge request {action} does not change the check"));
            }
            Intake::Queue(vec![PullJob { event: format!("merge_request.{action}"), ..job(None) }])
        }
        "note" => {
            if attributes["noteable_type"].as_str() != Some("MergeRequest") {
                return Intake::Ignore("a note on something other than a merge request".into());
            }
            if !action.is_empty() && action != "create" {
                return Intake::Ignore(format!("note {action}: only new notes carry commands"));
            }
            if attributes["system"].as_bool() == Some(true) {
                return Intake::Ignore("a system note".into());
            }
            let user = text(&body["user"]["username"]);
            if user.is_empty()
                || me.is_some_and(|m| m.eq_ignore_ascii_case(&user))
                || body["user"]["bot"].as_bool() == Some(true)
            {
                return Intake::Ignore("a note by the bot or without an author".into());
            }
            let names: Vec<String> = me.map(|m| vec![m.to_string()]).unwrap_or_default();
            let Some(parsed) = super::chatops::parse(attributes["note"].as_str().unwrap_or_default(), &names) else {
                return Intake::Ignore("the note holds no command".into());
            };
            let Some(id) = attributes["id"].as_u64() else { return Intake::Ignore("a note without an id".into()) };
            Intake::Queue(vec![job(Some(CommandJob {
                comment: id,
                discussion: attributes["discussion_id"].as_str().map(str::to_string),
                user,
                user_id: body["user"]["id"].as_u64().or(attributes["author_id"].as_u64()),
                command: parsed.command,
                ignored: parsed.ignored,
            }))])
        }
        other => Intake::Ignore(format!("{event} ({other}) does not queue checks")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        let path = format!("{}/tests/data/github/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn signatures_are_checked_in_full() {
        let body = br#"{"zen":"hi"}"#;
        let header = github_signature("secret", body);
        assert!(github_signature_ok("secret", body, Some(&header)));
        assert!(!github_signature_ok("other", body, Some(&header)));
        assert!(!github_signature_ok("secret", b"{}", Some(&header)));
        assert!(!github_signature_ok("secret", body, None));
        assert!(!github_signature_ok("secret", body, Some(&header.replace("sha256=", "sha1="))));
        assert!(!github_signature_ok("secret", body, Some(&header[..header.len() - 2])));
    }

    #[test]
    fn real_payloads_queue_what_they_should() {
        let queued = |event: &str, name: &str| match github(event, &payload(name), 42, &[], "d") {
            Intake::Queue(jobs) => jobs.iter().map(|j| (j.repo.clone(), j.number)).collect::<Vec<_>>(),
            Intake::Ignore(why) => panic!("{name}: {why}"),
        };
        assert_eq!(queued("pull_request", "pull_request.opened"), [("Codertocat/Hello-World".into(), 2)]);
        assert_eq!(queued("pull_request", "pull_request.synchronize"), [("Codertocat/Hello-World".into(), 2)]);
        assert_eq!(queued("pull_request", "pull_request.reopened").len(), 1);
        assert_eq!(
            queued("pull_request_review", "pull_request_review.submitted.approved"),
            [("abeyuya/github-actions-test".into(), 11)]
        );
        assert_eq!(queued("pull_request_review", "pull_request_review.submitted.commented").len(), 1);
        // The check suite is another App's (29310), and the check run names no pull request.
        let mut suite = payload("check_suite.rerequested");
        assert!(matches!(github("check_suite", &suite, 42, &[], "d"), Intake::Ignore(_)));
        suite["check_suite"]["app"]["id"] = 42.into();
        assert!(matches!(github("check_suite", &suite, 42, &[], "d"), Intake::Queue(jobs) if jobs[0].number == 2));
        let mut run = payload("check_run.rerequested");
        run["check_run"]["app"]["id"] = 42.into();
        assert!(
            matches!(github("check_run", &run, 42, &[], "d"), Intake::Ignore(why) if why.contains("names no pull request"))
        );
        // An edit of the body is ignored; one of the base branch is not.
        let mut edited = payload("pull_request.edited.go-scm");
        assert!(matches!(github("pull_request", &edited, 42, &[], "d"), Intake::Ignore(_)));
        edited["changes"] = serde_json::json!({"base": {"ref": {"from": "develop"}}});
        assert!(matches!(github("pull_request", &edited, 42, &[], "d"), Intake::Queue(_)));
        for (event, name) in [
            ("ping", "ping"),
            ("installation", "installation.created"),
            ("issue_comment", "issue_comment.created.on_issue"),
        ] {
            assert!(matches!(github(event, &payload(name), 42, &[], "d"), Intake::Ignore(_)), "{name}");
        }
        let mut closed = payload("pull_request.opened");
        closed["action"] = "closed".into();
        assert!(matches!(github("pull_request", &closed, 42, &[], "d"), Intake::Ignore(_)));
        // A payload with fields nobody knows yet, or without ones it used to have.
        let mut odd = payload("pull_request.opened");
        odd["pull_request"]["future_field"] = serde_json::json!({"x": [1, 2]});
        odd["pull_request"].as_object_mut().unwrap().remove("draft");
        assert!(matches!(github("pull_request", &odd, 42, &[], "d"), Intake::Queue(_)));
    }

    fn gitlab_payload(name: &str) -> Value {
        let path = format!("{}/tests/data/gitlab/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn gitlab_hooks_queue_what_they_should() {
        let queued = |body: &Value| match gitlab("Merge Request Hook", body, Some("datasurface-bot"), "d") {
            Intake::Queue(jobs) => jobs,
            Intake::Ignore(why) => panic!("{why}"),
        };
        let open = gitlab_payload("docs/merge_request_hook");
        let jobs = queued(&open);
        assert_eq!(
            (jobs[0].repo.as_str(), jobs[0].number, jobs[0].project),
            ("awesome_space/awesome_project", 1, Some(14))
        );
        assert_eq!(jobs[0].head_sha.as_deref(), Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7"));
        let pull = jobs[0].pull.as_ref().unwrap();
        assert_eq!(pull.head_clone_url, "http://example.com/awesome_space/awesome_project.git");
        assert_eq!(jobs[0].key(), "gitlab:awesome_space/awesome_project#1");
        assert_eq!(queued(&gitlab_payload("go-scm/merge_request.open")).len(), 1);
        // An update without new commits or a new target (here: marked as draft) is not a check.
        let draft = gitlab_payload("go-scm/merge_request.update.marked_draft");
        assert!(matches!(gitlab("Merge Request Hook", &draft, None, "d"), Intake::Ignore(_)));
        let mut pushed = open.clone();
        pushed["object_attributes"]["action"] = "update".into();
        assert!(matches!(gitlab("Merge Request Hook", &pushed, None, "d"), Intake::Ignore(_)));
        pushed["object_attributes"]["oldrev"] = "0123".into();
        assert_eq!(queued(&pushed).len(), 1);
        let mut retargeted = open.clone();
        retargeted["object_attributes"]["action"] = "update".into();
        retargeted["changes"]["target_branch"] = serde_json::json!({"previous": "main", "current": "develop"});
        assert_eq!(queued(&retargeted).len(), 1);
        for action in ["close", "merge"] {
            let mut other = open.clone();
            other["object_attributes"]["action"] = action.into();
            assert!(matches!(gitlab("Merge Request Hook", &other, None, "d"), Intake::Ignore(_)), "{action}");
        }
    }

    #[test]
    fn gitlab_notes_carry_commands_from_people_only() {
        let mut note = gitlab_payload("docs/note_hook.merge_request");
        assert!(matches!(gitlab("Note Hook", &note, None, "d"), Intake::Ignore(why) if why.contains("no command")));
        note["object_attributes"]["note"] = "/datasurface approve".into();
        let Intake::Queue(jobs) = gitlab("Note Hook", &note, Some("datasurface-bot"), "d") else { panic!() };
        let command = jobs[0].command.as_ref().unwrap();
        assert_eq!((command.comment, command.user.as_str(), command.user_id), (1244, "root", Some(1)));
        assert_eq!(command.command, crate::service::chatops::Command::Approve);
        assert_eq!(jobs[0].key(), "gitlab:gitlab-org/gitlab-test#1/comment/1244");
        let mut edited = note.clone();
        edited["object_attributes"]["action"] = "update".into();
        assert!(matches!(gitlab("Note Hook", &edited, None, "d"), Intake::Ignore(_)));
        let mut own = note.clone();
        own["user"]["username"] = "DataSurface-Bot".into();
        assert!(matches!(gitlab("Note Hook", &own, Some("datasurface-bot"), "d"), Intake::Ignore(_)));
        let mut system = note.clone();
        system["object_attributes"]["system"] = true.into();
        assert!(matches!(gitlab("Note Hook", &system, None, "d"), Intake::Ignore(_)));
        // The older go-scm capture has no action: a note then counts as new.
        let mut old = gitlab_payload("go-scm/note.merge_request");
        old["object_attributes"]["note"] = "@datasurface-bot check".into();
        assert!(matches!(gitlab("Note Hook", &old, Some("datasurface-bot"), "d"), Intake::Queue(_)));
    }

    #[test]
    fn github_comments_carry_commands_from_people_only() {
        let mut comment = payload("issue_comment.created.on_pull_request.go-scm");
        comment["comment"]["body"] = "/datasurface explain compat.column-removed".into();
        let Intake::Queue(jobs) = github("issue_comment", &comment, 42, &[], "d") else { panic!("a command") };
        assert!(jobs[0].command.is_some() && jobs[0].pull.is_none());
        let mut bot = comment.clone();
        bot["comment"]["user"]["type"] = "Bot".into();
        assert!(matches!(github("issue_comment", &bot, 42, &[], "d"), Intake::Ignore(_)));
        let mut ours = comment.clone();
        ours["comment"]["performed_via_github_app"] = serde_json::json!({"id": 42});
        assert!(matches!(github("issue_comment", &ours, 42, &[], "d"), Intake::Ignore(_)));
        let mut edited = comment.clone();
        edited["action"] = "edited".into();
        assert!(matches!(github("issue_comment", &edited, 42, &[], "d"), Intake::Ignore(_)));
        let mut quoted = comment.clone();
        quoted["comment"]["body"] = "> /datasurface approve\nno".into();
        assert!(matches!(github("issue_comment", &quoted, 42, &[], "d"), Intake::Ignore(_)));
    }

    #[test]
    fn gitlab_deliveries_are_authenticated_by_token_or_signature() {
        let body = br#"{"object_kind":"merge_request"}"#;
        let signing = "whsec_c2VjcmV0LXNpZ25pbmcta2V5";
        let now = 1_800_000_000;
        let signature = gitlab_signature(signing, "msg_1", now, body);
        let auth = |token, signature| GitLabAuth { token, id: Some("msg_1"), timestamp: Some("1800000000"), signature };
        assert!(gitlab_authentic(Some("tok"), None, auth(Some("tok"), None), body, now).is_ok());
        assert!(gitlab_authentic(Some("tok"), None, auth(Some("toke"), None), body, now).is_err());
        assert!(gitlab_authentic(Some("tok"), None, auth(None, None), body, now).is_err());
        assert!(gitlab_authentic(None, Some(signing), auth(None, Some(&signature)), body, now).is_ok());
        assert!(gitlab_authentic(None, Some(signing), auth(None, Some(&signature)), b"{}", now).is_err(), "tampered");
        assert!(gitlab_authentic(None, Some(signing), auth(None, Some(&signature)), body, now + 301).is_err(), "stale");
        let several = format!("v1,AAAA {signature}");
        assert!(gitlab_authentic(None, Some(signing), auth(None, Some(&several)), body, now).is_ok());
        // Both configured and sent: both must verify.
        assert!(gitlab_authentic(Some("tok"), Some(signing), auth(Some("bad"), Some(&signature)), body, now).is_err());
        assert!(gitlab_authentic(Some("tok"), Some(signing), auth(Some("tok"), Some(&signature)), body, now).is_ok());
        assert_eq!(signing_key("whsec_c2VjcmV0LXNpZ25pbmcta2V5").as_deref(), Some(&b"secret-signing-key"[..]));
        assert!(signing_key("c2VjcmV0").is_none());
    }
}
