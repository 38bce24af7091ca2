//! Webhook intake: the signature, checked over the raw body before anything is parsed, and
//! the events that queue a check (SERVICE.md §2). Payloads are read leniently into what the
//! bot needs: a new field or action must never break intake, and older payloads lack fields
//! newer ones have.

use hmac::{KeyInit, Mac};
use serde_json::Value;

use super::job::PullJob;
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
pub fn github(event: &str, body: &Value, app_id: u64, delivery: &str) -> Intake {
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
        "issue_comment" => Intake::Ignore("comments carry no command this service answers yet".into()),
        other => Intake::Ignore(format!("{other} events do not queue checks")),
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
        let queued = |event: &str, name: &str| match github(event, &payload(name), 42, "d") {
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
        assert!(matches!(github("check_suite", &suite, 42, "d"), Intake::Ignore(_)));
        suite["check_suite"]["app"]["id"] = 42.into();
        assert!(matches!(github("check_suite", &suite, 42, "d"), Intake::Queue(jobs) if jobs[0].number == 2));
        let mut run = payload("check_run.rerequested");
        run["check_run"]["app"]["id"] = 42.into();
        assert!(
            matches!(github("check_run", &run, 42, "d"), Intake::Ignore(why) if why.contains("names no pull request"))
        );
        // An edit of the body is ignored; one of the base branch is not.
        let mut edited = payload("pull_request.edited.go-scm");
        assert!(matches!(github("pull_request", &edited, 42, "d"), Intake::Ignore(_)));
        edited["changes"] = serde_json::json!({"base": {"ref": {"from": "develop"}}});
        assert!(matches!(github("pull_request", &edited, 42, "d"), Intake::Queue(_)));
        for (event, name) in [
            ("ping", "ping"),
            ("installation", "installation.created"),
            ("issue_comment", "issue_comment.created.on_issue"),
        ] {
            assert!(matches!(github(event, &payload(name), 42, "d"), Intake::Ignore(_)), "{name}");
        }
        let mut closed = payload("pull_request.opened");
        closed["action"] = "closed".into();
        assert!(matches!(github("pull_request", &closed, 42, "d"), Intake::Ignore(_)));
        // A payload with fields nobody knows yet, or without ones it used to have.
        let mut odd = payload("pull_request.opened");
        odd["pull_request"]["future_field"] = serde_json::json!({"x": [1, 2]});
        odd["pull_request"].as_object_mut().unwrap().remove("draft");
        assert!(matches!(github("pull_request", &odd, 42, "d"), Intake::Queue(_)));
    }
}
