//! `ref.unknown` and `location.unknown`: every reference names something that exists.

use crate::model::{Datastore, FileId, Name, Placed};
use crate::problem::{ObjectKind, ObjectRef};
use crate::rules::Rule;
use crate::validate::Ctx;

fn unknown<'c>(
    cx: &mut Ctx<'_>,
    file: FileId,
    name: &Name,
    what: &str,
    candidates: impl IntoIterator<Item = &'c str>,
    path: Vec<ObjectRef>,
) {
    let suggestion = crate::suggest::did_you_mean(&name.value, candidates);
    let message = match what.split_once(" of ") {
        Some((thing, owner)) => format!("unknown {thing} `{name}` in {owner}{suggestion}"),
        None => format!("unknown {what} `{name}`{suggestion}"),
    };
    cx.report(Rule::RefUnknown, file, name.span.value, message, path).detail = format!("{what} {name}");
}

pub(super) fn references(cx: &mut Ctx<'_>) {
    let model = cx.model;
    let index = cx.index;
    if let Some((file, eco)) = &model.ecosystem {
        for platform in &eco.platforms {
            if let Some(store) = &platform.credential_store
                && !index.credential_stores.contains_key(&*store.value)
            {
                let path = cx.paths.ecosystem_child(ObjectKind::Platform, &platform.name, platform.span.value);
                unknown(cx, *file, store, "credential store", index.credential_stores.keys().copied(), path);
            }
        }
    }
    for zone in model.zones.iter().filter(|_| index.has_ecosystem) {
        let policies = &zone.policies;
        for (policy, what, known) in [
            (&policies.vendors, "vendor", index.vendors.keys().copied().collect::<Vec<_>>()),
            (&policies.platforms, "platform", index.platforms.keys().copied().collect()),
        ] {
            let Some(policy) = policy else { continue };
            for item in policy.allowed.iter().chain(&policy.not_allowed).flat_map(|l| &l.value) {
                if !known.contains(&&*item.value) {
                    let path = cx.paths.zone(&zone.scope.zone);
                    unknown(cx, zone.file, item, what, known.iter().copied(), path);
                }
            }
        }
    }
    // A file that lost its documents may define the datastores that sinks cannot find.
    let unread = model
        .files
        .iter()
        .find(|f| {
            f.parsed.documents.is_empty()
                && f.path.contains("/teams/")
                && f.parsed
                    .problems
                    .iter()
                    .any(|p| !matches!(p.rule, Rule::LayoutEmptyFile | Rule::LayoutUnexpectedFile))
        })
        .map(|f| f.path.to_string());
    for (w, workspace) in model.workspaces.iter().enumerate() {
        let mut targets = index.sink_targets(w).iter();
        let zone = &*workspace.scope.zone;
        let team = workspace.scope.team.as_deref().unwrap_or_default();
        if let Some(container) = &workspace.container
            && index.container(zone, team, container).is_none()
        {
            container_unknown(cx, workspace.file, container, zone, team, cx.paths.workspace(workspace));
        }
        for group in &workspace.dataset_groups {
            if let Some(platform) = group.platform.as_ref().filter(|_| index.has_ecosystem)
                && !index.platforms.contains_key(&*platform.value)
            {
                let path = cx.paths.group(workspace, group);
                unknown(cx, workspace.file, platform, "platform", index.platforms.keys().copied(), path);
            }
            for (sink, target) in group.sinks.iter().zip(&mut targets) {
                match target.store {
                    // A file that could not be parsed seems to define it: its problem says why.
                    None if index.salvaged.contains(&crate::model::Ident(&sink.datastore.value)) => {}
                    None => {
                        let path = cx.paths.sink(workspace, group, sink);
                        unknown(cx, workspace.file, &sink.datastore, "datastore", index.datastore_names(), path);
                        if let Some(unread) = &unread {
                            let last = cx.problems.len() - 1;
                            cx.problems[last].help = Some(format!(
                                "{unread} could not be read, so datastores it defines are unknown; fix it first."
                            ));
                        }
                    }
                    Some(store) if target.dataset.is_none() => {
                        let path = cx.paths.sink(workspace, group, sink);
                        let what = format!("dataset of datastore `{}`", store.name);
                        unknown(
                            cx,
                            workspace.file,
                            &sink.dataset,
                            &what,
                            store.datasets.iter().map(|d| &*d.name.value),
                            path,
                        );
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

/// `capture.credential-invalid`: a capture's credential must be a name that the credential
/// stores resolving it can hold, and nothing more: a file name (no `/`, no `..`) for `files`,
/// an environment variable name for `env`, a relative secret path for `vault`. The stores are
/// those the ecosystem's platforms read from (all stores when no platform names one).
/// Global, because it reads the ecosystem; summarized datastores keep their capture for it.
pub(super) fn credentials(cx: &mut Ctx<'_>) {
    let model = cx.model;
    let Some(eco) = model.ecosystem() else { return };
    let named: Vec<&str> =
        eco.platforms.iter().filter_map(|p| p.credential_store.as_ref().map(|n| &*n.value)).collect();
    let stores: Vec<&crate::model::CredentialStore> =
        eco.credential_stores.iter().filter(|s| named.is_empty() || named.contains(&&*s.name.value)).collect();
    for store in &model.datastores {
        let Some(credential) = store.capture.as_ref().and_then(|c| c.credential.as_ref()) else { continue };
        let problem = match credential_problem(&credential.value, None) {
            Some(why) => Some((why, String::new())),
            None => stores.iter().find_map(|s| {
                credential_problem(&credential.value, Some(s.kind.value))
                    .map(|why| (why, format!(" for credential store `{}` (kind {})", s.name, kind_name(s.kind.value))))
            }),
        };
        let Some((why, store_words)) = problem else { continue };
        let message = format!("credential `{credential}` {why}{store_words}");
        let path = cx.paths.datastore(store);
        let problem = cx.report(Rule::CaptureCredentialInvalid, store.file, credential.span.value, message, path);
        problem.detail = credential.to_string();
        problem.help = Some(
            "Name the secret, not a path: a file name for `files` stores, an environment variable name (`NW_KAFKA_READER`) for `env`, a path below the mount for `vault`."
                .into(),
        );
    }
}

fn kind_name(kind: crate::model::CredentialStoreKind) -> &'static str {
    match kind {
        crate::model::CredentialStoreKind::Files => "files",
        crate::model::CredentialStoreKind::Env => "env",
        crate::model::CredentialStoreKind::Vault => "vault",
    }
}

/// Why `name` cannot be a credential in a store of `kind` (`None`: in any store at all).
pub fn credential_problem(name: &str, kind: Option<crate::model::CredentialStoreKind>) -> Option<&'static str> {
    use crate::model::CredentialStoreKind;
    if name.is_empty() || name.len() > 255 {
        return Some("must be 1 to 255 characters");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces or control characters");
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match kind {
        None => None,
        Some(CredentialStoreKind::Files) if name.contains(['/', '\\']) || name.contains("..") || !segment_ok(name) => {
            Some("is not a plain file name (letters, digits, `_`, `-`, `.`; no `/` and no `..`)")
        }
        Some(CredentialStoreKind::Env)
            if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some("is not an environment variable name (a letter or `_`, then letters, digits and `_`)")
        }
        Some(CredentialStoreKind::Vault) if name.starts_with('/') || !name.split('/').all(segment_ok) => {
            Some("is not a relative secret path (segments of letters, digits, `_`, `-`, `.`; no `..`)")
        }
        Some(_) => None,
    }
}

/// Local: the capture's container and topics of one datastore.
pub(super) fn capture(cx: &mut Ctx<'_>, store: &Placed<Datastore>) {
    let index = cx.index;
    let Some(capture) = &store.capture else { return };
    let zone = &*store.scope.zone;
    let team = store.scope.team.as_deref().unwrap_or_default();
    if index.container(zone, team, &capture.container).is_none() {
        container_unknown(cx, store.file, &capture.container, zone, team, cx.paths.datastore(store));
    }
    if let Some(topics) = &capture.topics {
        for (dataset, _) in &topics.value.0 {
            if !store.datasets.iter().any(|d| crate::model::same_ident(&d.name.value, &dataset.value)) {
                let path = cx.paths.datastore(store);
                unknown(cx, store.file, dataset, "dataset", store.datasets.iter().map(|d| &*d.name.value), path);
            }
        }
    }
}

/// A container that is not one of the team's: say where it is if another team has it.
fn container_unknown(cx: &mut Ctx<'_>, file: FileId, name: &Name, zone: &str, team: &str, path: Vec<ObjectRef>) {
    if cx.index.unreadable_teams.contains(&(std::sync::Arc::from(zone), std::sync::Arc::from(team))) {
        return;
    }
    let elsewhere = cx
        .model
        .teams
        .iter()
        .find(|t| t.containers.iter().any(|c| c.name.value == name.value))
        .map(|t| format!("{}/{}", t.scope.zone, t.scope.team.as_deref().unwrap_or_default()));
    let candidates: Vec<&str> = cx
        .index
        .teams
        .get(&(zone, team))
        .map(|t| t.containers.iter().map(|c| &*c.name.value).collect())
        .unwrap_or_default();
    let message = match elsewhere {
        Some(owner) => format!("container `{name}` belongs to team {owner}, not to team {zone}/{team}"),
        None => format!(
            "unknown container `{name}`: team {zone}/{team} has no such container{}",
            crate::suggest::did_you_mean(&name.value, candidates.iter().copied())
        ),
    };
    let problem = cx.report(Rule::RefUnknown, file, name.span.value, message, path);
    problem.detail = format!("container {name}");
    problem.help = Some(format!("Use a container declared in zones/{zone}/teams/{team}/team.yaml."));
}

pub(super) fn locations(cx: &mut Ctx<'_>) {
    let model = cx.model;
    if !cx.index.has_ecosystem {
        return;
    }
    for team in &model.teams {
        let folder = team.scope.team.as_deref().unwrap_or_default();
        for container in &team.containers {
            for key in container.locations.iter().flat_map(|l| &l.value) {
                if let Err(message) = cx.index.resolve_location(&key.value) {
                    let path =
                        cx.paths.container(&team.scope.zone, folder, &container.name, team.file, container.span.value);
                    cx.report(Rule::LocationUnknown, team.file, key.span.value, message, path).detail = key.to_string();
                }
            }
        }
    }
    for zone in &model.zones {
        let Some(policy) = &zone.policies.locations else { continue };
        for key in policy.allowed.iter().chain(&policy.not_allowed).flat_map(|l| &l.value) {
            if let Err(message) = cx.index.resolve_location(&key.value) {
                let path = cx.paths.zone(&zone.scope.zone);
                cx.report(Rule::LocationUnknown, zone.file, key.span.value, message, path).detail = key.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::credential_problem;
    use crate::model::CredentialStoreKind::{Env, Files, Vault};

    #[test]
    fn credentials_follow_their_store() {
        assert_eq!(credential_problem("nw-kafka-reader", Some(Files)), None);
        assert_eq!(credential_problem("NW_KAFKA_READER", Some(Env)), None);
        assert_eq!(credential_problem("northwind/kafka-reader", Some(Vault)), None);
        for bad in ["../../../etc/passwd", "a/b", "..", "a..b", "a\\b"] {
            assert!(credential_problem(bad, Some(Files)).is_some(), "{bad}");
        }
        for bad in ["nw-kafka", "1ABC", "A.B"] {
            assert!(credential_problem(bad, Some(Env)).is_some(), "{bad}");
        }
        for bad in ["/abs/path", "a/../b", "a//b", "./a"] {
            assert!(credential_problem(bad, Some(Vault)).is_some(), "{bad}");
        }
        assert!(credential_problem("", None).is_some() && credential_problem("a b", None).is_some());
        assert_eq!(credential_problem("anything-at-all", None), None);
    }
}
