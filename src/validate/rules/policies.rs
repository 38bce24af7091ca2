//! Zone policies (`policy.*`): what a zone allows for its containers, datasets and dataset
//! groups, and where data may flow from a producer's zone.

use crate::model::{Dataset, Datastore, GovernanceZone, Name, Placed, Policy};
use crate::rules::Rule;
use crate::validate::Ctx;
use crate::validate::index::LocationKey;

/// Why a policy refuses a value.
enum Refusal<'p> {
    /// A `notAllowed` entry matches.
    Denied(&'p Name),
    /// There is an `allowed` list and no entry matches.
    NotListed,
}

impl Refusal<'_> {
    fn explain(&self, zone: &str, what: &str) -> String {
        match self {
            Refusal::Denied(entry) => format!("zone `{zone}` lists `{entry}` under {what}.notAllowed"),
            Refusal::NotListed => format!("it is not in {what}.allowed of zone `{zone}`"),
        }
    }
}

fn check<'p>(policy: Option<&'p Policy>, matches: impl Fn(&str) -> bool) -> Option<Refusal<'p>> {
    let policy = policy?;
    if let Some(entry) = policy.not_allowed.iter().flat_map(|l| &l.value).find(|e| matches(&e.value)) {
        return Some(Refusal::Denied(entry));
    }
    match &policy.allowed {
        Some(allowed) if !allowed.value.iter().any(|e| matches(&e.value)) => Some(Refusal::NotListed),
        _ => None,
    }
}

fn location_refusal<'p>(
    zone: &'p GovernanceZone,
    location: &LocationKey<'_>,
) -> Option<(Rule, &'static str, Refusal<'p>)> {
    let covers = |entry: &str| LocationKey::parse(entry).is_ok_and(|e| e.covers(location));
    if let Some(refusal) = check(zone.policies.locations.as_ref(), covers) {
        return Some((Rule::PolicyLocationNotAllowed, "locations", refusal));
    }
    check(zone.policies.vendors.as_ref(), |entry| entry == location.vendor)
        .map(|r| (Rule::PolicyVendorNotAllowed, "vendors", r))
}

fn classification_refusal<'p>(zone: &'p GovernanceZone, classification: &str) -> Option<Refusal<'p>> {
    check(zone.policies.classifications.as_ref(), |entry| entry.eq_ignore_ascii_case(classification))
}

/// Whether some classification of the dataset is refused, checked without allocating: the
/// common case, and the only one on the path of a big clean model.
fn any_classification_refused(zone: &GovernanceZone, dataset: &Dataset) -> bool {
    dataset.all_classifications().any(|c| classification_refusal(zone, &c.value).is_some())
}

/// `policy.contradictory`: a policy whose lists cannot mean what they say: an empty `allowed`
/// list (which allows nothing at all), or a value both allowed and not allowed (for locations,
/// an allowed location that a `notAllowed` entry covers).
fn contradictions(cx: &mut Ctx<'_>) {
    for zone in &cx.model.zones {
        let policies = &zone.policies;
        for (what, policy) in [
            ("locations", &policies.locations),
            ("vendors", &policies.vendors),
            ("classifications", &policies.classifications),
            ("platforms", &policies.platforms),
        ] {
            let Some(policy) = policy else { continue };
            let mut found: Vec<(crate::model::Pos, String, String)> = Vec::new();
            if let Some(allowed) = policy.allowed.as_ref().filter(|a| a.value.is_empty()) {
                found.push((
                    allowed.span.key,
                    format!("{what}.allowed of zone `{}` is empty, so it allows no {what} at all", zone.scope.zone),
                    format!("{what}.allowed empty"),
                ));
            }
            let denied: Vec<&Name> = policy.not_allowed.iter().flat_map(|l| &l.value).collect();
            for entry in policy.allowed.iter().flat_map(|l| &l.value) {
                let covered = |deny: &&&Name| match what {
                    "classifications" => deny.value.eq_ignore_ascii_case(&entry.value),
                    "locations" => match (LocationKey::parse(&deny.value), LocationKey::parse(&entry.value)) {
                        (Ok(deny), Ok(allow)) => deny.covers(&allow),
                        _ => deny.value == entry.value,
                    },
                    _ => deny.value == entry.value,
                };
                if let Some(deny) = denied.iter().find(covered) {
                    found.push((
                        entry.span.value,
                        format!(
                            "`{entry}` is in {what}.allowed of zone `{}`, but {what}.notAllowed lists `{deny}`, which wins",
                            zone.scope.zone
                        ),
                        format!("{what} {entry}"),
                    ));
                }
            }
            for (pos, message, detail) in found {
                let path = cx.paths.zone(&zone.scope.zone);
                let problem = cx.report(Rule::PolicyContradictory, zone.file, pos, message, path);
                problem.detail = detail;
                problem.help = Some(format!(
                    "List in {what}.allowed what the zone allows, or leave `allowed` out to allow everything not in notAllowed."
                ));
            }
        }
    }
}

pub(super) fn policies(cx: &mut Ctx<'_>) {
    contradictions(cx);
    let model = cx.model;
    let index = cx.index;
    for team in &model.teams {
        let Some(zone) = index.zones.get(&*team.scope.zone) else { continue };
        let folder = team.scope.team.as_deref().unwrap_or_default();
        for container in &team.containers {
            for key in container.locations.iter().flat_map(|l| &l.value) {
                let Ok(location) = index.resolve_location(&key.value) else { continue };
                if let Some((rule, _, refusal)) = location_refusal(zone, &location) {
                    let message = format!(
                        "container `{}` runs in `{key}`, which zone `{}` does not allow: {}",
                        container.name,
                        zone.scope.zone,
                        refusal.explain(
                            &zone.scope.zone,
                            if rule == Rule::PolicyLocationNotAllowed { "locations" } else { "vendors" }
                        )
                    );
                    let path =
                        cx.paths.container(&team.scope.zone, folder, &container.name, team.file, container.span.value);
                    cx.report(rule, team.file, key.span.value, message, path).detail = key.to_string();
                }
            }
        }
    }
    for (w, workspace) in model.workspaces.iter().enumerate() {
        let Some(zone) = index.zones.get(&*workspace.scope.zone) else { continue };
        for group in &workspace.dataset_groups {
            let Some(platform) = &group.platform else { continue };
            if let Some(refusal) = check(zone.policies.platforms.as_ref(), |entry| entry == &*platform.value) {
                let message = format!(
                    "dataset group `{}` runs on platform `{platform}`: {}",
                    group.name,
                    refusal.explain(&zone.scope.zone, "platforms")
                );
                let path = cx.paths.group(workspace, group);
                cx.report(Rule::PolicyPlatformNotAllowed, workspace.file, platform.span.value, message, path).detail =
                    platform.to_string();
            }
        }
        data_flow(cx, workspace, index.sink_targets(w), zone);
    }
}

/// Local: the classifications of one datastore's datasets against its zone's policy.
pub(super) fn datastore_classifications(cx: &mut Ctx<'_>, store: &Placed<Datastore>) {
    let Some(zone) = cx.index.zones.get(&*store.scope.zone) else { return };
    if zone.policies.classifications.is_none() {
        return;
    }
    for dataset in &store.datasets {
        if !any_classification_refused(zone, dataset) {
            continue;
        }
        for classification in dataset.distinct_classifications() {
            if let Some(refusal) = classification_refusal(zone, &classification.value) {
                let message = format!(
                    "dataset `{}/{}` holds `{classification}` data: {}",
                    store.name,
                    dataset.name,
                    refusal.explain(&zone.scope.zone, "classifications")
                );
                let path = cx.paths.dataset(store, dataset);
                cx.report(Rule::PolicyClassificationNotAllowed, store.file, classification.span.value, message, path)
                    .detail = classification.to_string();
            }
        }
    }
}

/// Data may only flow where the producer's zone allows, and only into a zone that allows its
/// classifications.
fn data_flow(
    cx: &mut Ctx<'_>,
    workspace: &Placed<crate::model::Workspace>,
    targets: &[crate::validate::index::SinkTarget<'_>],
    consumer_zone: &Placed<GovernanceZone>,
) {
    let index = cx.index;
    let team = workspace.scope.team.as_deref().unwrap_or_default();
    let container = workspace.container.as_ref().and_then(|c| index.container(&workspace.scope.zone, team, c));
    let locations: Vec<(&Name, LocationKey<'_>)> = container
        .iter()
        .flat_map(|c| c.locations.iter().flat_map(|l| &l.value))
        .filter_map(|key| Some((key, index.resolve_location(&key.value).ok()?)))
        .collect();
    // Whether the workspace's locations are refused depends only on the producer's zone:
    // worked out once per zone, not once per sink (a workspace sinks many datasets of few zones).
    let mut refuses: Vec<(&GovernanceZone, bool)> = Vec::new();
    let mut targets = targets.iter();
    for group in &workspace.dataset_groups {
        for (sink, target) in group.sinks.iter().zip(&mut targets) {
            let (Some(store), Some(dataset)) = (target.store, target.dataset) else { continue };
            let producer_zone = target.zone.filter(|zone| {
                if let Some((_, refused)) = refuses.iter().find(|(z, _)| std::ptr::eq(*z, &***zone)) {
                    return *refused;
                }
                let refused = locations.iter().any(|(_, location)| location_refusal(zone, location).is_some());
                refuses.push((zone, refused));
                refused
            });
            if let Some(producer_zone) = producer_zone {
                for (key, location) in &locations {
                    if let Some((_, what, refusal)) = location_refusal(producer_zone, location) {
                        let message = format!(
                            "workspace `{}` stores `{}/{}` in `{key}`, where its producer's zone `{}` does not let data go: {}",
                            workspace.name,
                            store.name,
                            dataset.name,
                            producer_zone.scope.zone,
                            refusal.explain(&producer_zone.scope.zone, what)
                        );
                        let path = cx.paths.sink(workspace, group, sink);
                        cx.report(Rule::PolicySinkLocationNotAllowed, workspace.file, sink.span.value, message, path)
                            .detail = key.to_string();
                    }
                }
            }
            if consumer_zone.policies.classifications.is_some()
                && workspace.scope.zone != store.scope.zone
                && any_classification_refused(consumer_zone, dataset)
            {
                for classification in dataset.distinct_classifications() {
                    if let Some(refusal) = classification_refusal(consumer_zone, &classification.value) {
                        let message = format!(
                            "workspace `{}` sinks `{}/{}`, which holds `{classification}` data: {}",
                            workspace.name,
                            store.name,
                            dataset.name,
                            refusal.explain(&consumer_zone.scope.zone, "classifications")
                        );
                        let path = cx.paths.sink(workspace, group, sink);
                        cx.report(
                            Rule::PolicyClassificationNotAllowed,
                            workspace.file,
                            sink.span.value,
                            message,
                            path,
                        )
                        .detail = classification.to_string();
                    }
                }
            }
        }
    }
}
