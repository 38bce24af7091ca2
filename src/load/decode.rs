//! Turns YAML trees into typed model objects, reporting every field problem it meets.
//!
//! Decoding never stops at the first problem: an unknown field, a wrong type or a missing
//! required field is reported at its position and the rest of the object is still read.
//! Each object's known fields are listed once here; a test checks them against the schema.

use crate::model::layout::Place;
use crate::model::{
    Capture, CaptureKind, Column, ColumnType, Container, ContainerKind, CredentialStore, CredentialStoreKind, Dataset,
    DatasetGroup, Datastore, Declaration, Deprecation, DeprecationsAllowed, Document, Ecosystem, FileProblem,
    GovernanceZone, Latency, Location, LocationTree, Milestoning, Name, NameMap, Owner, Platform, Policies, Policy,
    Pos, ProductionStatus, Requirements, Schema, Sink, Span, Spanned, SpannedList, Str, Team, TopicMapping, Trigger,
    Vendor, Workspace,
};
use crate::rules::Rule;
use crate::yaml::{Entry, Node, Style, Value};

/// The document kinds and the field lists of every object, as written in YAML.
pub const KINDS: &[&str] = &["Ecosystem", "GovernanceZone", "Team", "Datastore", "Workspace"];
pub const ECOSYSTEM_FIELDS: &[&str] =
    &["kind", "name", "owner", "documentation", "vendors", "credentialStores", "platforms", "zones"];
pub const OWNER_FIELDS: &[&str] = &["repo", "branch", "teams", "users"];
pub const DECLARATION_FIELDS: &[&str] = &["name", "owner"];
pub const VENDOR_FIELDS: &[&str] = &["name", "cloud", "locations", "documentation"];
pub const CREDENTIAL_STORE_FIELDS: &[&str] = &["name", "kind", "path", "address", "documentation"];
pub const PLATFORM_FIELDS: &[&str] = &["name", "kind", "credentialStore", "documentation"];
pub const ZONE_FIELDS: &[&str] = &["kind", "name", "documentation", "policies", "teams"];
pub const POLICIES_FIELDS: &[&str] = &["locations", "vendors", "classifications", "platforms"];
pub const POLICY_FIELDS: &[&str] = &["allowed", "notAllowed"];
pub const TEAM_FIELDS: &[&str] = &["kind", "name", "documentation", "containers"];
pub const CONTAINER_FIELDS: &[&str] =
    &["name", "kind", "bootstrap", "host", "port", "database", "locations", "documentation"];
pub const DATASTORE_FIELDS: &[&str] =
    &["kind", "name", "documentation", "productionStatus", "deprecated", "capture", "datasets"];
pub const DEPRECATION_FIELDS: &[&str] = &["reason"];
pub const CAPTURE_FIELDS: &[&str] = &["kind", "container", "credential", "topics", "mapping", "trigger"];
pub const TRIGGER_FIELDS: &[&str] = &["cron", "external"];
pub const DATASET_FIELDS: &[&str] = &["name", "documentation", "classifications", "deprecated", "schema"];
pub const SCHEMA_FIELDS: &[&str] = &["primaryKey", "partitionBy", "columns"];
pub const COLUMN_FIELDS: &[&str] = &["name", "type", "nullable", "classifications", "documentation"];
pub const WORKSPACE_FIELDS: &[&str] =
    &["kind", "name", "documentation", "container", "productionStatus", "datasetGroups"];
pub const DATASET_GROUP_FIELDS: &[&str] = &["name", "platform", "requirements", "sinks"];
pub const REQUIREMENTS_FIELDS: &[&str] = &["latency", "milestoning", "retention"];
pub const SINK_FIELDS: &[&str] = &["datastore", "dataset", "deprecationsAllowed"];

/// Decodes one document of a file at `place`; `None` when it cannot become an object.
pub fn document(problems: &mut Vec<FileProblem>, node: &Node<'_>, place: Place) -> Option<Document> {
    let mut d = Decoder { problems, types: Vec::new() };
    let Value::Map(entries) = &node.value else {
        d.report(Rule::FieldType, node.pos, format!("a model document must be a mapping, found {}", node.describe()));
        return None;
    };
    let Some(kind_entry) = entries.iter().find(|e| e.key == "kind") else {
        d.report_help(
            Rule::FieldMissing,
            node.pos,
            "the document has no `kind`".into(),
            format!("Add `kind:` first; {}.", place.expected()),
        );
        return None;
    };
    let kind = d.text(kind_entry)?;
    if !KINDS.contains(&kind.value.as_str()) {
        let message = format!(
            "unknown kind `{}`{}",
            kind.value,
            crate::suggest::did_you_mean(&kind.value, KINDS.iter().copied())
        );
        d.report_help(
            Rule::LayoutUnknownKind,
            kind.span.value,
            message,
            format!("The kinds are {}.", KINDS.join(", ")),
        );
        return None;
    }
    if !place.allows(&kind.value) {
        d.report_help(
            Rule::LayoutKindMismatch,
            kind.span.value,
            format!("a {} does not belong here: {}", kind.value, place.expected()),
            format!("Move the document to {}.", Place::home(&kind.value)),
        );
        return None;
    }
    let span = Span::at(node.pos);
    Some(match kind.value.as_str() {
        "Ecosystem" => Document::Ecosystem(d.ecosystem(node, span)?.into()),
        "GovernanceZone" => Document::Zone(d.zone(node, span)?.into()),
        "Team" => Document::Team(d.team(node, span)?.into()),
        "Datastore" => Document::Datastore(d.datastore(node, span)?.into()),
        _ => Document::Workspace(d.workspace(node, span)?.into()),
    })
}

struct Decoder<'p> {
    problems: &'p mut Vec<FileProblem>,
    /// Recently parsed column types: a dataset repeats a handful of types many times.
    types: Vec<(String, Result<ColumnType, Box<crate::model::TypeError>>)>,
}

/// The entries of one mapping whose keys have been checked against the known fields.
struct Fields<'n, 'a> {
    pos: Pos,
    entries: &'n [Entry<'a>],
    what: &'static str,
    known: &'static [&'static str],
    /// For each known field, the index of its entry (`NONE` when absent): looked up once
    /// when the mapping is opened, not by comparing keys at every `get`.
    slots: [u16; MAX_FIELDS],
    /// The mapping has a merge key (`<<`), already reported: the fields it meant to bring are
    /// not reported missing again.
    merges: bool,
}

const MAX_FIELDS: usize = 16;
const NONE: u16 = u16::MAX;

impl<'n, 'a> Fields<'n, 'a> {
    fn get(&self, key: &str) -> Option<&'n Entry<'a>> {
        // Callers pass the same literals as the field lists, usually the very same pointer.
        let slot =
            self.known.iter().position(|k| std::ptr::eq(k.as_ptr(), key.as_ptr()) || crate::yaml::same_text(k, key))?;
        self.entries.get(usize::from(self.slots[slot]))
    }
}

fn span_of(entry: &Entry<'_>) -> Span {
    Span { key: entry.key_pos, value: entry.value.pos }
}

impl Decoder<'_> {
    fn report(&mut self, rule: Rule, pos: Pos, message: String) {
        self.problems.push(FileProblem { rule, pos, message, help: None });
    }

    fn report_help(&mut self, rule: Rule, pos: Pos, message: String, help: String) {
        self.problems.push(FileProblem { rule, pos, message, help: Some(help) });
    }

    fn wrong_type(&mut self, node: &Node<'_>, expected: &str) {
        self.report(Rule::FieldType, node.pos, format!("expected {expected}, found {}", node.describe()));
    }

    /// Opens a mapping as object `what`, reporting fields it does not know.
    fn fields<'n, 'a>(
        &mut self,
        node: &'n Node<'a>,
        what: &'static str,
        known: &'static [&'static str],
    ) -> Option<Fields<'n, 'a>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, &format!("a mapping for the {what}"));
            return None;
        };
        debug_assert!(known.len() <= MAX_FIELDS);
        let mut slots = [NONE; MAX_FIELDS];
        let mut merges = false;
        for (index, entry) in entries.iter().enumerate() {
            if entry.key == "<<" {
                merges = true;
                self.report_help(
                    Rule::FieldUnknown,
                    entry.key_pos,
                    format!(
                        "merge keys (`<<`) are not supported in a model, so the fields of this {what} are not merged in"
                    ),
                    "Write the fields out; an alias of a whole value (`columns: *common`) works.".into(),
                );
            } else if let Some(slot) = known.iter().position(|k| crate::yaml::same_text(k, &entry.key)) {
                // Keys are unique (the YAML builder keeps the first of duplicates).
                slots[slot] = u16::try_from(index).unwrap_or(NONE);
            } else {
                let suggestion = crate::suggest::closest(&entry.key, known.iter().copied());
                let message = format!("unknown field `{}` in {what}", entry.key);
                let help = match suggestion {
                    Some(s) => format!("Rename it to `{s}`."),
                    None => format!("The fields of {what} are: {}.", known.join(", ")),
                };
                let message = match suggestion {
                    Some(s) => format!("{message}; did you mean `{s}`?"),
                    None => message,
                };
                self.report_help(Rule::FieldUnknown, entry.key_pos, message, help);
            }
        }
        Some(Fields { pos: node.pos, entries, what, known, slots, merges })
    }

    fn required<'n, 'a>(&mut self, fields: &Fields<'n, 'a>, key: &str) -> Option<&'n Entry<'a>> {
        let entry = fields.get(key);
        if entry.is_none() && !fields.merges {
            self.report(
                Rule::FieldMissing,
                fields.pos,
                format!("the {} has no `{key}`, which is required", fields.what),
            );
        }
        entry
    }

    fn text(&mut self, entry: &Entry<'_>) -> Option<Spanned<String>> {
        self.text_node(&entry.value, span_of(entry))
    }

    fn text_node(&mut self, node: &Node<'_>, span: Span) -> Option<Spanned<String>> {
        match &node.value {
            Value::Scalar(text, _) if !node.is_null() => Some(Spanned::new(text.to_string(), span)),
            _ => {
                self.wrong_type(node, "text");
                None
            }
        }
    }

    fn name(&mut self, entry: &Entry<'_>) -> Option<Name> {
        self.name_node(&entry.value, span_of(entry))
    }

    fn name_node(&mut self, node: &Node<'_>, span: Span) -> Option<Name> {
        match &node.value {
            Value::Scalar(text, _) if !node.is_null() => Some(Spanned::new(Str::from(&**text), span)),
            _ => {
                self.wrong_type(node, "text");
                None
            }
        }
    }

    fn opt_text(&mut self, fields: &Fields<'_, '_>, key: &str) -> Option<Spanned<String>> {
        fields.get(key).and_then(|e| self.text(e))
    }

    fn opt_name(&mut self, fields: &Fields<'_, '_>, key: &str) -> Option<Name> {
        fields.get(key).and_then(|e| self.name(e))
    }

    fn bool(&mut self, entry: &Entry<'_>) -> Option<Spanned<bool>> {
        let value = match &entry.value.value {
            Value::Scalar(text, Style::Plain) => match &**text {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if value.is_none() {
            let found = match &entry.value.value {
                Value::Scalar(text, _) if !entry.value.is_null() => format!("`{text}`"),
                _ => entry.value.describe().to_string(),
            };
            self.report(
                Rule::FieldType,
                entry.value.pos,
                format!("`{}` must be true or false, found {found}", entry.key),
            );
        }
        value.map(|v| Spanned::new(v, span_of(entry)))
    }

    fn int(&mut self, entry: &Entry<'_>) -> Option<Spanned<i64>> {
        let value = match &entry.value.value {
            Value::Scalar(text, Style::Plain) => text.parse::<i64>().ok(),
            _ => None,
        };
        if value.is_none() {
            self.wrong_type(&entry.value, &format!("a whole number for `{}`", entry.key));
        }
        value.map(|v| Spanned::new(v, span_of(entry)))
    }

    fn choice<T: Copy>(&mut self, entry: &Entry<'_>, choices: &[(&'static str, T)]) -> Option<Spanned<T>> {
        let text = self.text(entry)?;
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text.value) {
            return Some(Spanned::new(*value, text.span));
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let message = format!(
            "`{}` is not a valid `{}`{}",
            text.value,
            entry.key,
            crate::suggest::did_you_mean(&text.value, names.iter().copied())
        );
        self.report_help(Rule::FieldInvalid, entry.value.pos, message, format!("Use one of: {}.", names.join(", ")));
        None
    }

    fn opt_choice<T: Copy>(
        &mut self,
        fields: &Fields<'_, '_>,
        key: &str,
        choices: &[(&'static str, T)],
    ) -> Option<Spanned<T>> {
        fields.get(key).and_then(|e| self.choice(e, choices))
    }

    /// The items of a list; nothing (`key:` alone) reads as an empty list.
    fn items<'n, 'a>(&mut self, entry: &'n Entry<'a>) -> &'n [Node<'a>] {
        match &entry.value.value {
            Value::Seq(items) => items,
            _ if entry.value.is_null() => &[],
            _ => {
                self.wrong_type(&entry.value, &format!("a list for `{}`", entry.key));
                &[]
            }
        }
    }

    fn name_list(&mut self, entry: &Entry<'_>) -> SpannedList<Str> {
        let items = self.items(entry);
        let values = exact(items.len(), items.iter().filter_map(|item| self.name_node(item, Span::at(item.pos))));
        Spanned::new(values, span_of(entry))
    }

    fn opt_name_list(&mut self, fields: &Fields<'_, '_>, key: &str) -> Option<SpannedList<Str>> {
        fields.get(key).map(|e| self.name_list(e))
    }

    fn names(&mut self, fields: &Fields<'_, '_>, key: &str) -> Vec<Name> {
        fields.get(key).map(|e| self.name_list(e).value).unwrap_or_default()
    }

    fn objects<T>(
        &mut self,
        fields: &Fields<'_, '_>,
        key: &str,
        mut decode: impl FnMut(&mut Self, &Node<'_>, Span) -> Option<T>,
    ) -> Vec<T> {
        let Some(entry) = fields.get(key) else {
            return Vec::new();
        };
        let items = self.items(entry);
        exact(items.len(), items.iter().filter_map(|item| decode(self, item, Span::at(item.pos))))
    }

    fn object<T>(
        &mut self,
        fields: &Fields<'_, '_>,
        key: &str,
        decode: impl FnOnce(&mut Self, &Node<'_>, Span) -> Option<T>,
    ) -> Option<T> {
        let entry = fields.get(key)?;
        decode(self, &entry.value, span_of(entry))
    }

    fn ecosystem(&mut self, node: &Node<'_>, span: Span) -> Option<Ecosystem> {
        let f = self.fields(node, "Ecosystem", ECOSYSTEM_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let owner = self.required(&f, "owner").and_then(|e| self.owner(&e.value, span_of(e)));
        Some(Ecosystem {
            span,
            name: name?,
            owner,
            documentation: self.opt_text(&f, "documentation").map(Box::new),
            vendors: self.objects(&f, "vendors", Self::vendor),
            credential_stores: self.objects(&f, "credentialStores", Self::credential_store),
            platforms: self.objects(&f, "platforms", Self::platform),
            zones: self.objects(&f, "zones", |d, n, s| d.declaration(n, s, "zone declaration")),
        })
    }

    fn owner(&mut self, node: &Node<'_>, span: Span) -> Option<Owner> {
        let f = self.fields(node, "owner", OWNER_FIELDS)?;
        Some(Owner {
            span,
            repo: self.opt_name(&f, "repo"),
            branch: self.opt_name(&f, "branch"),
            teams: self.names(&f, "teams"),
            users: self.names(&f, "users"),
        })
    }

    fn declaration(&mut self, node: &Node<'_>, span: Span, what: &'static str) -> Option<Declaration> {
        let f = self.fields(node, what, DECLARATION_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let owner = self.required(&f, "owner").and_then(|e| self.owner(&e.value, span_of(e)));
        Some(Declaration { span, name: name?, owner })
    }

    fn vendor(&mut self, node: &Node<'_>, span: Span) -> Option<Vendor> {
        let f = self.fields(node, "vendor", VENDOR_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        Some(Vendor {
            span,
            name: name?,
            cloud: self.opt_name(&f, "cloud"),
            locations: f.get("locations").map(|e| self.location_tree(&e.value)).unwrap_or_default(),
            documentation: self.opt_text(&f, "documentation").map(Box::new),
        })
    }

    fn location_tree(&mut self, node: &Node<'_>) -> LocationTree {
        match &node.value {
            Value::Map(entries) => LocationTree(
                entries
                    .iter()
                    .map(|e| Location {
                        name: Spanned::new(e.key.as_ref().into(), span_of(e)),
                        children: self.location_tree(&e.value),
                    })
                    .collect(),
            ),
            _ if node.is_null() => LocationTree::default(),
            _ => {
                self.wrong_type(node, "a mapping of locations (`{us-east-1: {}}`)");
                LocationTree::default()
            }
        }
    }

    fn credential_store(&mut self, node: &Node<'_>, span: Span) -> Option<CredentialStore> {
        let f = self.fields(node, "credential store", CREDENTIAL_STORE_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let kind = self.required(&f, "kind").and_then(|e| {
            self.choice(
                e,
                &[
                    ("files", CredentialStoreKind::Files),
                    ("env", CredentialStoreKind::Env),
                    ("vault", CredentialStoreKind::Vault),
                ],
            )
        });
        Some(CredentialStore {
            span,
            name: name?,
            kind: kind?,
            path: self.opt_text(&f, "path"),
            address: self.opt_text(&f, "address"),
            documentation: self.opt_text(&f, "documentation").map(Box::new),
        })
    }

    fn platform(&mut self, node: &Node<'_>, span: Span) -> Option<Platform> {
        let f = self.fields(node, "platform", PLATFORM_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let kind = self.required(&f, "kind").and_then(|e| self.name(e));
        Some(Platform {
            span,
            name: name?,
            kind: kind?,
            credential_store: self.opt_name(&f, "credentialStore"),
            documentation: self.opt_text(&f, "documentation").map(Box::new),
        })
    }

    fn zone(&mut self, node: &Node<'_>, span: Span) -> Option<GovernanceZone> {
        let f = self.fields(node, "GovernanceZone", ZONE_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        Some(GovernanceZone {
            span,
            name: name?,
            documentation: self.opt_text(&f, "documentation").map(Box::new),
            policies: self.object(&f, "policies", Self::policies).unwrap_or_default(),
            teams: self.objects(&f, "teams", |d, n, s| d.declaration(n, s, "team declaration")),
        })
    }

    fn policies(&mut self, node: &Node<'_>, _span: Span) -> Option<Policies> {
        if node.is_null() {
            return Some(Policies::default());
        }
        let f = self.fields(node, "policies", POLICIES_FIELDS)?;
        Some(Policies {
            locations: self.object(&f, "locations", Self::policy),
            vendors: self.object(&f, "vendors", Self::policy),
            classifications: self.object(&f, "classifications", Self::policy),
            platforms: self.object(&f, "platforms", Self::policy),
        })
    }

    fn policy(&mut self, node: &Node<'_>, span: Span) -> Option<Policy> {
        let f = self.fields(node, "policy", POLICY_FIELDS)?;
        Some(Policy {
            span,
            allowed: self.opt_name_list(&f, "allowed"),
            not_allowed: self.opt_name_list(&f, "notAllowed"),
        })
    }

    fn team(&mut self, node: &Node<'_>, span: Span) -> Option<Team> {
        let f = self.fields(node, "Team", TEAM_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        Some(Team {
            span,
            name: name?,
            documentation: self.opt_text(&f, "documentation").map(Box::new),
            containers: self.objects(&f, "containers", Self::container),
        })
    }

    fn container(&mut self, node: &Node<'_>, span: Span) -> Option<Container> {
        let f = self.fields(node, "container", CONTAINER_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let kind = self.required(&f, "kind").and_then(|e| {
            self.choice(
                e,
                &[
                    ("kafka", ContainerKind::Kafka),
                    ("postgres", ContainerKind::Postgres),
                    ("mysql", ContainerKind::Mysql),
                    ("sqlserver", ContainerKind::Sqlserver),
                    ("oracle", ContainerKind::Oracle),
                    ("snowflake", ContainerKind::Snowflake),
                ],
            )
        });
        Some(Container {
            span,
            name: name?,
            kind: kind?,
            bootstrap: self.opt_name_list(&f, "bootstrap"),
            host: self.opt_name(&f, "host"),
            port: f.get("port").and_then(|e| self.int(e)),
            database: self.opt_name(&f, "database"),
            locations: self.opt_name_list(&f, "locations"),
            documentation: self.opt_text(&f, "documentation").map(Box::new),
        })
    }

    fn production_status(&mut self, fields: &Fields<'_, '_>) -> Option<Spanned<ProductionStatus>> {
        self.opt_choice(
            fields,
            "productionStatus",
            &[("production", ProductionStatus::Production), ("not-production", ProductionStatus::NotProduction)],
        )
    }

    fn deprecation(&mut self, node: &Node<'_>, span: Span) -> Option<Deprecation> {
        if node.is_null() {
            return Some(Deprecation { span, reason: None });
        }
        let f = self.fields(node, "deprecation", DEPRECATION_FIELDS)?;
        Some(Deprecation { span, reason: self.opt_text(&f, "reason") })
    }

    fn datastore(&mut self, node: &Node<'_>, span: Span) -> Option<Datastore> {
        let f = self.fields(node, "Datastore", DATASTORE_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let capture = self.required(&f, "capture").and_then(|e| self.capture(&e.value, span_of(e)));
        Some(Datastore {
            span,
            name: name?,
            documentation: self.opt_text(&f, "documentation").map(Box::new),
            production_status: self.production_status(&f),
            deprecated: self.object(&f, "deprecated", Self::deprecation).map(Box::new),
            capture,
            datasets: match f.get("datasets") {
                Some(e) => Spanned::new(self.objects(&f, "datasets", Self::dataset), span_of(e)),
                None => Spanned::new(Vec::new(), Span::at(f.pos)),
            },
        })
    }

    fn capture(&mut self, node: &Node<'_>, span: Span) -> Option<Capture> {
        let f = self.fields(node, "capture", CAPTURE_FIELDS)?;
        let kind = self.required(&f, "kind").and_then(|e| {
            self.choice(
                e,
                &[
                    ("kafka", CaptureKind::Kafka),
                    ("sql-snapshot", CaptureKind::SqlSnapshot),
                    ("cdc", CaptureKind::Cdc),
                    ("transformer", CaptureKind::Transformer),
                ],
            )
        });
        let container = self.required(&f, "container").and_then(|e| self.name(e));
        Some(Capture {
            span,
            kind: kind?,
            container: container?,
            credential: self.opt_name(&f, "credential"),
            topics: f.get("topics").and_then(|e| self.name_map(e)),
            mapping: self.opt_choice(
                &f,
                "mapping",
                &[("debezium", TopicMapping::Debezium), ("plain", TopicMapping::Plain)],
            ),
            trigger: self.object(&f, "trigger", Self::trigger),
        })
    }

    fn name_map(&mut self, entry: &Entry<'_>) -> Option<Spanned<NameMap>> {
        let Value::Map(entries) = &entry.value.value else {
            self.wrong_type(&entry.value, &format!("a mapping for `{}`", entry.key));
            return None;
        };
        let pairs = entries
            .iter()
            .filter_map(|e| Some((Spanned::new(e.key.as_ref().into(), span_of(e)), self.name(e)?)))
            .collect();
        Some(Spanned::new(NameMap(pairs), span_of(entry)))
    }

    fn trigger(&mut self, node: &Node<'_>, span: Span) -> Option<Trigger> {
        let f = self.fields(node, "trigger", TRIGGER_FIELDS)?;
        match (f.get("cron"), f.get("external")) {
            (Some(cron), None) => Some(Trigger::Cron { span, cron: self.name(cron)? }),
            (None, Some(external)) => Some(Trigger::External { span, external: self.bool(external)? }),
            (Some(_), Some(external)) => {
                self.report(
                    Rule::FieldInvalid,
                    external.key_pos,
                    "a trigger is either `cron` or `external`, not both".into(),
                );
                None
            }
            (None, None) => {
                self.report(
                    Rule::FieldMissing,
                    f.pos,
                    "a trigger needs `cron: \"<5 fields>\"` or `external: true`".into(),
                );
                None
            }
        }
    }

    fn dataset(&mut self, node: &Node<'_>, span: Span) -> Option<Dataset> {
        let f = self.fields(node, "dataset", DATASET_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let schema = self.required(&f, "schema").and_then(|e| self.schema(&e.value, span_of(e)));
        Some(Dataset {
            span,
            name: name?,
            documentation: self.opt_text(&f, "documentation").map(Box::new),
            classifications: self.opt_name_list(&f, "classifications"),
            deprecated: self.object(&f, "deprecated", Self::deprecation).map(Box::new),
            schema: schema.map(Box::new),
        })
    }

    fn schema(&mut self, node: &Node<'_>, span: Span) -> Option<Schema> {
        let f = self.fields(node, "schema", SCHEMA_FIELDS)?;
        let columns = self.required(&f, "columns").map(|e| {
            let items = self.items(e);
            let columns = exact(items.len(), items.iter().filter_map(|item| self.column(item, Span::at(item.pos))));
            Spanned::new(columns, span_of(e))
        });
        Some(Schema {
            span,
            primary_key: self.opt_name_list(&f, "primaryKey"),
            partition_by: self.opt_name_list(&f, "partitionBy"),
            columns: columns.unwrap_or_else(|| Spanned::new(Vec::new(), Span::at(f.pos))),
        })
    }

    fn column(&mut self, node: &Node<'_>, span: Span) -> Option<Column> {
        let f = self.fields(node, "column", COLUMN_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let ty = self.required(&f, "type").and_then(|e| match &e.value.value {
            Value::Scalar(text, _) if !e.value.is_null() => Some(Spanned::new(self.column_type(text), span_of(e))),
            _ => {
                self.wrong_type(&e.value, "text");
                None
            }
        });
        Some(Column {
            span,
            name: name?,
            ty: ty?,
            nullable: f.get("nullable").and_then(|e| self.bool(e)),
            classifications: self.opt_name_list(&f, "classifications").map(Box::new),
            documentation: self.opt_text(&f, "documentation").map(Box::new),
        })
    }

    fn column_type(&mut self, text: &str) -> Result<ColumnType, Box<crate::model::TypeError>> {
        if let Some((_, parsed)) = self.types.iter().find(|(t, _)| crate::yaml::same_text(t, text)) {
            return parsed.clone();
        }
        let parsed = ColumnType::parse(text).map_err(Box::new);
        if self.types.len() >= 32 {
            let _ = self.types.remove(0);
        }
        self.types.push((text.to_string(), parsed.clone()));
        parsed
    }

    fn workspace(&mut self, node: &Node<'_>, span: Span) -> Option<Workspace> {
        let f = self.fields(node, "Workspace", WORKSPACE_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        let container = self.required(&f, "container").and_then(|e| self.name(e));
        Some(Workspace {
            span,
            name: name?,
            documentation: self.opt_text(&f, "documentation").map(Box::new),
            container,
            production_status: self.production_status(&f),
            dataset_groups: self.objects(&f, "datasetGroups", Self::dataset_group),
        })
    }

    fn dataset_group(&mut self, node: &Node<'_>, span: Span) -> Option<DatasetGroup> {
        let f = self.fields(node, "dataset group", DATASET_GROUP_FIELDS)?;
        let name = self.required(&f, "name").and_then(|e| self.name(e));
        Some(DatasetGroup {
            span,
            name: name?,
            platform: self.opt_name(&f, "platform"),
            requirements: self.object(&f, "requirements", Self::requirements),
            sinks: self.objects(&f, "sinks", Self::sink),
        })
    }

    fn requirements(&mut self, node: &Node<'_>, span: Span) -> Option<Requirements> {
        let f = self.fields(node, "requirements", REQUIREMENTS_FIELDS)?;
        let retention = self.opt_name(&f, "retention");
        if let Some(r) = &retention
            && !is_retention(&r.value)
        {
            self.report_help(
                Rule::FieldInvalid,
                r.span.value,
                format!("`{}` is not a valid `retention`", r.value),
                "Write a number and a unit d, w, m or y (`30d`, `7y`), or `forever`.".into(),
            );
        }
        Some(Requirements {
            span,
            latency: self.opt_choice(
                &f,
                "latency",
                &[
                    ("seconds", Latency::Seconds),
                    ("minutes", Latency::Minutes),
                    ("hours", Latency::Hours),
                    ("days", Latency::Days),
                ],
            ),
            milestoning: self.opt_choice(
                &f,
                "milestoning",
                &[("live-only", Milestoning::LiveOnly), ("forensic", Milestoning::Forensic)],
            ),
            retention,
        })
    }

    fn sink(&mut self, node: &Node<'_>, span: Span) -> Option<Sink> {
        let f = self.fields(node, "sink", SINK_FIELDS)?;
        let datastore = self.required(&f, "datastore").and_then(|e| self.name(e));
        let dataset = self.required(&f, "dataset").and_then(|e| self.name(e));
        Some(Sink {
            span,
            datastore: datastore?,
            dataset: dataset?,
            deprecations_allowed: self.opt_choice(
                &f,
                "deprecationsAllowed",
                &[("never", DeprecationsAllowed::Never), ("allowed", DeprecationsAllowed::Allowed)],
            ),
        })
    }
}

/// Collects at most `capacity` items into a vector that holds exactly that much room: a
/// model keeps millions of these vectors, and doubling growth would waste a third of memory.
fn exact<T>(capacity: usize, items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::with_capacity(capacity);
    out.extend(items);
    if out.len() < capacity {
        out.shrink_to_fit();
    }
    out
}

fn is_retention(text: &str) -> bool {
    if text == "forever" {
        return true;
    }
    let Some(unit) = text.chars().last() else {
        return false;
    };
    let digits = &text[..text.len() - unit.len_utf8()];
    matches!(unit, 'd' | 'w' | 'm' | 'y')
        && !digits.is_empty()
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}
