//! The compat rules, each a function that records a breaking change as a `Finding`.

use super::{Consumer, Consumers, Finding, Impact};
use crate::authz::ChangeSource;
use crate::diff::Diff;
use crate::model::{Column, Dataset, Datastore, Name, Placed, Pos, Schema, SpannedList, Str, same_ident};
use crate::problem::{Location, Problem};
use crate::rules::Rule;
use crate::validate::Paths;

pub(crate) struct Cx<'a, 'm> {
    pub diff: &'a Diff<'m>,
    pub source: &'a ChangeSource,
    pub base: &'a Consumers<'m>,
    pub head: &'a Consumers<'m>,
    /// Paths of the base files that had problems when read (few, and found in one pass).
    pub unreadable: std::collections::HashSet<&'m str>,
    /// Head schema fingerprints by lower-cased `store/dataset`, filled on first use.
    pub fingerprints: std::cell::OnceCell<std::collections::HashMap<String, String>>,
}

impl Cx<'_, '_> {
    fn head_paths(&self) -> Paths<'_> {
        Paths::new(self.diff.head)
    }

    fn base_paths(&self) -> Paths<'_> {
        Paths::base(self.diff.base)
    }

    /// The consumers of a base dataset, as recorded in the base.
    pub(super) fn base_consumers(&self, store: &str, dataset: &str) -> Vec<Consumer> {
        let consumers = self.base.of(store, dataset);
        if consumers.is_empty() {
            return Vec::new();
        }
        let fingerprint = self.head_fingerprint(store, dataset);
        consumers
            .iter()
            .map(|(w, g, _)| Consumer {
                fingerprint: Some(fingerprint.clone()),
                ..self.base.consumer(w, g, self.source, (store, dataset), &fingerprint)
            })
            .collect()
    }

    /// The fingerprint of `store/dataset` in the head (of the changed datastores: only those
    /// have breaking changes), `removed` when it is gone.
    pub(super) fn head_fingerprint(&self, store: &str, dataset: &str) -> String {
        let index = self.fingerprints.get_or_init(|| {
            let mut index = std::collections::HashMap::new();
            for changed in &self.diff.changes {
                if let Some(crate::diff::DocRef::Datastore(store)) = changed.head {
                    for d in &store.datasets {
                        let key = format!("{}/{}", store.name.to_ascii_lowercase(), d.name.to_ascii_lowercase());
                        index.insert(key, d.schema_fingerprint());
                    }
                }
            }
            index
        });
        let key = format!("{}/{}", store.to_ascii_lowercase(), dataset.to_ascii_lowercase());
        index.get(&key).cloned().unwrap_or_else(|| "removed".to_string())
    }
}

fn at_head(cx: &Cx<'_, '_>, store: &Placed<Datastore>, pos: Pos) -> Option<Location> {
    cx.head_paths().at(store.file, pos)
}

fn base_location(cx: &Cx<'_, '_>, store: &Placed<Datastore>, pos: Pos) -> Location {
    cx.base_paths().at(store.file, pos).expect("a file id of the base model")
}

/// Records impact `change` for every dataset of a base datastore, and answers all their
/// consumers, each once.
fn store_impacts(cx: &Cx<'_, '_>, store: &Placed<Datastore>, change: &str, impacts: &mut Vec<Impact>) -> Vec<Consumer> {
    let mut consumers = Vec::new();
    for dataset in &store.datasets {
        let dataset_consumers = cx.base_consumers(&store.name, &dataset.name);
        impacts.push(Impact {
            dataset: format!("{}/{}", store.name, dataset.name),
            change: change.into(),
            consumers: dataset_consumers.clone(),
        });
        add_new(&mut consumers, dataset_consumers);
    }
    consumers
}

/// Adds the consumers not yet in `into`, keeping the order they come in.
fn add_new(into: &mut Vec<Consumer>, more: Vec<Consumer>) {
    for consumer in more {
        if !into.contains(&consumer) {
            into.push(consumer);
        }
    }
}

fn deprecated(store: &Datastore, dataset: &Dataset) -> bool {
    store.deprecated.is_some() || dataset.deprecated.is_some()
}

pub(super) fn datastore_removed(
    cx: &Cx<'_, '_>,
    store: &Placed<Datastore>,
    findings: &mut Vec<Finding>,
    impacts: &mut Vec<Impact>,
) {
    let consumers = store_impacts(cx, store, "removed", impacts);
    if store.deprecated.is_some() {
        return;
    }
    let location = base_location(cx, store, store.name.span.value);
    let message = format!("datastore `{}` was removed without being deprecated first", store.name);
    let problem = Problem::new(Rule::CompatDatastoreRemoved, message, Some(location), cx.base_paths().datastore(store))
        .help(
            "Deprecate the datastore first (`deprecated: {reason: ...}`) and remove it once no workspace consumes it.",
        );
    findings.push(Finding::breaking(problem, consumers));
}

/// A datastore new in the head at the path of a base file that could not be read: it may be
/// the repair of that file, and what the base held cannot be compared. Its consumers in the
/// base (sinks naming the datastore) decide, like for a breaking change.
pub(super) fn unreadable_base(cx: &Cx<'_, '_>, head: &Placed<Datastore>, findings: &mut Vec<Finding>) {
    let path = cx.diff.head.path(head.file);
    if !cx.unreadable.contains(&**path) {
        return;
    }
    let mut consumers: Vec<Consumer> = Vec::new();
    for dataset in &head.datasets {
        add_new(&mut consumers, cx.base_consumers(&head.name, &dataset.name));
    }
    let message = format!(
        "datastore `{}` is in a file that could not be read in the base ({path} has errors there), so its schema changes cannot be checked",
        head.name
    );
    let problem = Problem::new(
        Rule::CompatBaseUnreadable,
        message,
        at_head(cx, head, head.name.span.value),
        cx.head_paths().datastore(head),
    )
    .help("Have the owner of every affected workspace approve this change, which cannot be compared; keep schema changes for a later pull request, where they are checked.");
    findings.push(Finding { certain: false, ..Finding::breaking(problem, consumers) });
}

/// A datastore of the base that the head lost to a file it could not parse (the file still
/// has its path, or names it): unreadable, not removed. Like `unreadable_base`, its consumers
/// must approve, since nothing can be compared; no removal and no column findings cascade.
pub(super) fn unreadable_head(
    cx: &Cx<'_, '_>,
    store: &Placed<Datastore>,
    findings: &mut Vec<Finding>,
    impacts: &mut Vec<Impact>,
) {
    let consumers = store_impacts(cx, store, "unreadable", impacts);
    let path = cx.diff.base.path(store.file);
    let message = format!(
        "datastore `{}` is in a file that could not be read in the head ({path} has errors there), so its schema changes cannot be checked",
        store.name
    );
    let problem = Problem::new(
        Rule::CompatHeadUnreadable,
        message,
        Some(base_location(cx, store, store.name.span.value)),
        cx.base_paths().datastore(store),
    )
    .help("Fix the file's own problem first; the next check compares the datastore, or asks its consumers to approve.");
    findings.push(Finding { certain: false, ..Finding::breaking(problem, consumers) });
}

pub(super) fn datastore_pair(
    cx: &Cx<'_, '_>,
    base: &Placed<Datastore>,
    head: &Placed<Datastore>,
    findings: &mut Vec<Finding>,
    impacts: &mut Vec<Impact>,
) {
    if base.deprecated.is_none()
        && let Some(deprecation) = &head.deprecated
    {
        let datasets: Vec<&Dataset> = head.datasets.iter().collect();
        newly_deprecated(cx, head, &datasets, deprecation.span.key, format!("datastore `{}`", head.name), findings);
    }
    for base_dataset in &base.datasets {
        let Some(head_dataset) = head.datasets.iter().find(|d| same_ident(&d.name.value, &base_dataset.name.value))
        else {
            let consumers = cx.base_consumers(&base.name, &base_dataset.name);
            impacts.push(Impact {
                dataset: format!("{}/{}", base.name, base_dataset.name),
                change: "removed".into(),
                consumers: consumers.clone(),
            });
            if !deprecated(base, base_dataset) {
                let was = base_location(cx, base, base_dataset.name.span.value);
                let message = format!(
                    "dataset `{}` was removed from datastore `{}` without being deprecated first (it was at {was})",
                    base_dataset.name, base.name
                );
                let mut problem = Problem::new(Rule::CompatDatasetRemoved, message, at_head(cx, head, head.datasets.span.key), cx.head_paths().datastore(head))
                    .help("Deprecate the dataset first (`deprecated: {reason: ...}`) and remove it once no workspace consumes it.")
                    .detail(base_dataset.name.to_string());
                problem.related.push(("removed dataset".into(), was));
                findings.push(Finding::breaking(problem, consumers));
            }
            continue;
        };
        if base_dataset == head_dataset {
            continue;
        }
        dataset_pair(cx, base, head, base_dataset, head_dataset, findings);
        let change = if base_dataset.deprecated.is_none() && head_dataset.deprecated.is_some() {
            "deprecated"
        } else {
            "modified"
        };
        let consumers = cx.base_consumers(&base.name, &base_dataset.name);
        impacts.push(Impact {
            dataset: format!("{}/{}", head.name, head_dataset.name),
            change: change.into(),
            consumers,
        });
    }
    for head_dataset in &head.datasets {
        if !base.datasets.iter().any(|d| same_ident(&d.name.value, &head_dataset.name.value)) {
            impacts.push(Impact::added(head, head_dataset));
        }
    }
}

/// Deprecating data that a `deprecationsAllowed: never` sink consumes breaks that sink.
fn newly_deprecated(
    cx: &Cx<'_, '_>,
    store: &Placed<Datastore>,
    datasets: &[&Dataset],
    pos: Pos,
    what: String,
    findings: &mut Vec<Finding>,
) {
    let mut consumers: Vec<Consumer> = Vec::new();
    for dataset in datasets {
        for (workspace, group, allows) in cx.head.of(&store.name, &dataset.name) {
            let fingerprint = cx.head_fingerprint(&store.name, &dataset.name);
            let consumer = Consumer {
                fingerprint: Some(fingerprint.clone()),
                ..cx.head.consumer(workspace, group, cx.source, (&store.name, &dataset.name), &fingerprint)
            };
            if !allows && !consumers.contains(&consumer) {
                consumers.push(consumer);
            }
        }
    }
    if consumers.is_empty() {
        return;
    }
    let message = format!("{what} is now deprecated, but sinks that never allow deprecations consume it");
    let path = match datasets {
        [dataset] if what.starts_with("dataset") => cx.head_paths().dataset(store, dataset),
        _ => cx.head_paths().datastore(store),
    };
    let problem = Problem::new(Rule::CompatDeprecatedInUse, message, at_head(cx, store, pos), path)
        .help(
            "The consumers must change their sinks first, in this change or an earlier one: set `deprecationsAllowed: allowed` on them, or move to a replacement. An approval alone cannot make this pass, since those sinks would then fail lint (sink.deprecated).",
        )
        .detail(what);
    findings.push(Finding { approvable: false, ..Finding::breaking(problem, consumers) });
}

fn dataset_pair(
    cx: &Cx<'_, '_>,
    base_store: &Placed<Datastore>,
    head_store: &Placed<Datastore>,
    base: &Dataset,
    head: &Dataset,
    findings: &mut Vec<Finding>,
) {
    if base.deprecated.is_none()
        && let Some(deprecation) = &head.deprecated
    {
        newly_deprecated(
            cx,
            head_store,
            &[head],
            deprecation.span.key,
            format!("dataset `{}/{}`", head_store.name, head.name),
            findings,
        );
    }
    let consumers = cx.base_consumers(&base_store.name, &base.name);
    let mut found: Vec<Problem> = Vec::new();
    let dataset_path = || cx.head_paths().dataset(head_store, head);
    let here = |pos: Pos| at_head(cx, head_store, pos);

    // Dataset-level classifications.
    let change = classification_change(base.classifications.as_ref(), head.classifications.as_ref(), &head.name);
    if let Some((pos, from, to)) = change {
        let message =
            format!("the classifications of dataset `{}/{}` changed from {from} to {to}", head_store.name, head.name);
        found.push(
            Problem::new(Rule::CompatClassificationChanged, message, here(pos), dataset_path())
                .detail("dataset")
                .help(CLASSIFICATION_HELP),
        );
    }
    let (Some(base_schema), Some(head_schema)) = (&base.schema, &head.schema) else {
        push_all(findings, found, &consumers);
        return;
    };
    keys(cx, head_store, head, base_schema, head_schema, &mut found);
    for base_column in &base_schema.columns {
        match head_schema.columns.iter().find(|c| same_ident(&c.name.value, &base_column.name.value)) {
            None => {
                let was = base_location(cx, base_store, base_column.name.span.value);
                let message = format!(
                    "column `{}` was removed from dataset `{}/{}` (it was at {was})",
                    base_column.name, head_store.name, head.name
                );
                let mut problem = Problem::new(
                    Rule::CompatColumnRemoved,
                    message,
                    here(head_schema.columns.span.key),
                    dataset_path(),
                )
                .detail(base_column.name.to_string())
                .help("Keep the column until no workspace consumes it, or publish the new shape as a new dataset.");
                problem.related.push(("removed column".into(), was));
                found.push(problem);
            }
            Some(head_column) => column_pair(cx, head_store, head, base_column, head_column, &mut found),
        }
    }
    for head_column in &head_schema.columns {
        let is_new = !base_schema.columns.iter().any(|c| same_ident(&c.name.value, &head_column.name.value));
        if is_new && !head_column.is_nullable() {
            let message = format!(
                "column `{}` was added to dataset `{}/{}` as NOT NULL",
                head_column.name, head_store.name, head.name
            );
            let pos = head_column.nullable.as_ref().map_or(head_column.name.span.value, |n| n.span.value);
            found.push(
                Problem::new(Rule::CompatNotNullColumnAdded, message, here(pos), cx.head_paths().column(head_store, head, head_column))
                    .detail(head_column.name.to_string())
                    .help("Add the column as nullable (leave out `nullable: false`); existing rows and consumers cannot supply it."),
            );
        }
    }
    push_all(findings, found, &consumers);
}

const CLASSIFICATION_HELP: &str =
    "Classifications decide where data may flow and who may see it; publish reclassified data as a new dataset.";

fn push_all(findings: &mut Vec<Finding>, found: Vec<Problem>, consumers: &[Consumer]) {
    findings.extend(found.into_iter().map(|problem| Finding::breaking(problem, consumers.to_vec())));
}

fn keys(
    cx: &Cx<'_, '_>,
    store: &Placed<Datastore>,
    dataset: &Dataset,
    base: &Schema,
    head: &Schema,
    found: &mut Vec<Problem>,
) {
    for (rule, what, base_key, head_key, help) in [
        (
            Rule::CompatPrimaryKeyChanged,
            "primary key",
            &base.primary_key,
            &head.primary_key,
            "Keep the primary key; publish a dataset with the new key instead.",
        ),
        (
            Rule::CompatPartitionChanged,
            "partitioning",
            &base.partition_by,
            &head.partition_by,
            "Keep the partitioning; publish a dataset partitioned the new way instead.",
        ),
    ] {
        // Key columns are SQL identifiers: `ID` is `id`.
        let names = |k: &Option<crate::model::SpannedList<crate::model::Str>>| -> Vec<String> {
            k.as_ref().map(|k| k.value.iter().map(|n| n.to_ascii_lowercase()).collect()).unwrap_or_default()
        };
        if names(base_key) != names(head_key) {
            let pos = head_key.as_ref().map_or(head.columns.span.key, |k| k.span.key);
            let message = format!(
                "the {what} of dataset `{}/{}` changed from {} to {}",
                store.name,
                dataset.name,
                list(base_key.as_ref().map(|k| &k.value[..])),
                list(head_key.as_ref().map(|k| &k.value[..]))
            );
            found.push(
                Problem::new(
                    rule,
                    message,
                    cx.head_paths().at(store.file, pos),
                    cx.head_paths().dataset(store, dataset),
                )
                .help(help),
            );
        }
    }
}

fn column_pair(
    cx: &Cx<'_, '_>,
    store: &Placed<Datastore>,
    dataset: &Dataset,
    base: &Column,
    head: &Column,
    found: &mut Vec<Problem>,
) {
    if base == head {
        return;
    }
    let path = || cx.head_paths().column(store, dataset, head);
    let here = |pos: Pos| cx.head_paths().at(store.file, pos);
    let qualified = format!("{}/{}.{}", store.name, dataset.name, head.name);
    if base.is_nullable() != head.is_nullable() {
        let pos = head.nullable.as_ref().map_or(head.name.span.value, |n| n.span.value);
        let (from, to) = if base.is_nullable() { ("nullable", "NOT NULL") } else { ("NOT NULL", "nullable") };
        let message = format!("column `{qualified}` changed from {from} to {to}");
        found.push(
            Problem::new(Rule::CompatNullabilityChanged, message, here(pos), path())
                .detail("nullable")
                .help("Keep the column's nullability; add a new column instead."),
        );
    }
    if let (Ok(base_type), Ok(head_type)) = (&base.ty.value, &head.ty.value)
        && !super::widening::is_widening(base_type, head_type)
    {
        let message =
            format!("column `{qualified}` changed type from {base_type} to {head_type}, which is not a widening");
        found.push(
            Problem::new(Rule::CompatTypeNarrowed, message, here(head.ty.span.value), path())
                .detail(format!("{base_type}->{head_type}"))
                .help("Change a type only to a wider one (see the rule's page for the table), or add a new column."),
        );
    }
    let change = classification_change(base.classifications.as_deref(), head.classifications.as_deref(), &head.name);
    if let Some((pos, from, to)) = change {
        let message = format!("the classifications of column `{qualified}` changed from {from} to {to}");
        found.push(
            Problem::new(Rule::CompatClassificationChanged, message, here(pos), path())
                .detail("column")
                .help(CLASSIFICATION_HELP),
        );
    }
}

/// When two classification lists differ as sets: where to report it in the head (the list, or
/// the object's name when the head has none) and both lists in words.
fn classification_change(
    base: Option<&SpannedList<Str>>,
    head: Option<&SpannedList<Str>>,
    head_name: &Name,
) -> Option<(Pos, String, String)> {
    let (base_list, head_list) = (base.map(|c| &c.value[..]), head.map(|c| &c.value[..]));
    if same_set(base_list, head_list) {
        return None;
    }
    Some((head.map_or(head_name.span.value, |c| c.span.key), list(base_list), list(head_list)))
}

/// Compares two classification lists as sets, ignoring case and order.
fn same_set(a: Option<&[Name]>, b: Option<&[Name]>) -> bool {
    let normalize = |l: Option<&[Name]>| {
        let mut v: Vec<String> = l.unwrap_or_default().iter().map(|n| n.value.to_ascii_uppercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    normalize(a) == normalize(b)
}

fn list(items: Option<&[Name]>) -> String {
    match items {
        None | Some([]) => "none".into(),
        Some(items) => format!("[{}]", items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")),
    }
}
