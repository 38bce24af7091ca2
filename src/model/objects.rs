//! The typed objects of MODEL.md §3, one struct per YAML mapping.
//!
//! Field names map to the YAML keys in camelCase. Every object keeps the span it was read
//! from and every field is `Spanned`, so any rule can point at the exact key or value.
//! The JSON Schema of the model files is derived from these types (in the `schema` module).

use schemars::JsonSchema;

use super::column_type::{ColumnType, TypeError};
use crate::span::{Span, Spanned};

pub use super::text::Str;
/// A name or reference with its span.
pub type Name = Spanned<Str>;
/// Documentation text: rarely present on the millions of columns of a big model, so boxed.
pub type Doc = Box<Spanned<String>>;
/// A list whose key and items keep their spans.
pub type SpannedList<T> = Spanned<Vec<Spanned<T>>>;

/// The root document `ecosystem.yaml`.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Ecosystem", transform = kind_ecosystem)]
pub struct Ecosystem {
    #[schemars(skip)]
    pub span: Span,
    /// The name of the ecosystem.
    pub name: Name,
    /// Who may change `ecosystem.yaml`, and so who declares zones.
    #[schemars(required)]
    pub owner: Option<Owner>,
    pub documentation: Option<Doc>,
    /// Infrastructure vendors and their location trees.
    #[schemars(default)]
    pub vendors: Vec<Vendor>,
    /// Where platforms read credentials from.
    #[schemars(default)]
    pub credential_stores: Vec<CredentialStore>,
    /// Data platforms that run dataset groups.
    #[schemars(default)]
    pub platforms: Vec<Platform>,
    /// Zone declarations: the ecosystem owner decides who owns each zone.
    #[schemars(default)]
    pub zones: Vec<Declaration>,
}

/// An owner: at least one principal. A change source satisfies it when any principal matches.
#[derive(Clone, Debug, Default, PartialEq, Eq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Owner")]
pub struct Owner {
    #[schemars(skip)]
    pub span: Span,
    /// The head repository of a pull request, `owner/name`.
    pub repo: Option<Name>,
    /// With `repo`: the head branch.
    pub branch: Option<Name>,
    /// Forge teams, `org/team-slug` (GitHub) or a group path (GitLab).
    #[schemars(default)]
    pub teams: Vec<Name>,
    /// Forge logins.
    #[schemars(default)]
    pub users: Vec<Name>,
}

/// A zone declared by the ecosystem, or a team declared by a zone: a name and its owner.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Declaration")]
pub struct Declaration {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    #[schemars(required)]
    pub owner: Option<Owner>,
}

/// An infrastructure vendor with its tree of locations.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Vendor")]
pub struct Vendor {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    /// `aws`, `azure`, `gcp`, `ibm`, `oracle`, `private`, ...
    pub cloud: Option<Name>,
    /// Nested locations: `{us-east-1: {}, eu-west-1: {dublin: {}}}`.
    #[schemars(default)]
    pub locations: LocationTree,
    pub documentation: Option<Doc>,
}

/// Children of a location tree node, by name.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LocationTree(pub Vec<Location>);

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub name: Name,
    pub children: LocationTree,
}

impl JsonSchema for LocationTree {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LocationTree".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Locations by name; each holds its own sub-locations (`{}` or nothing for a leaf).",
            "type": ["object", "null"],
            "additionalProperties": {"$ref": "#/definitions/LocationTree"}
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "CredentialStoreKind")]
pub enum CredentialStoreKind {
    /// Secrets mounted as files (Docker or Kubernetes secrets).
    Files,
    /// Secrets in environment variables.
    Env,
    /// HashiCorp Vault.
    Vault,
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "CredentialStore")]
pub struct CredentialStore {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    pub kind: Spanned<CredentialStoreKind>,
    /// For `files`: the folder holding the mounted secrets.
    pub path: Option<Spanned<String>>,
    /// For `vault`: the server address.
    pub address: Option<Spanned<String>>,
    pub documentation: Option<Doc>,
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Platform")]
pub struct Platform {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    /// The platform implementation, e.g. `zero`.
    pub kind: Name,
    /// A credential store of the ecosystem.
    pub credential_store: Option<Name>,
    pub documentation: Option<Doc>,
}

/// `zones/<zone>/zone.yaml`.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "GovernanceZone", transform = kind_zone)]
pub struct GovernanceZone {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    pub documentation: Option<Doc>,
    #[schemars(default)]
    pub policies: Policies,
    /// Team declarations: the zone owner decides who owns each team.
    #[schemars(default)]
    pub teams: Vec<Declaration>,
}

/// What a zone allows for its containers, datasets and dataset groups.
#[derive(Clone, Debug, Default, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Policies")]
pub struct Policies {
    /// Location keys `vendor:path/sub`; a key covers everything beneath it.
    pub locations: Option<Policy>,
    pub vendors: Option<Policy>,
    pub classifications: Option<Policy>,
    pub platforms: Option<Policy>,
}

/// An allow list and a deny list. Without `allowed` everything not denied is allowed.
#[derive(Clone, Debug, Default, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Policy")]
pub struct Policy {
    #[schemars(skip)]
    pub span: Span,
    pub allowed: Option<SpannedList<Str>>,
    pub not_allowed: Option<SpannedList<Str>>,
}

/// `zones/<zone>/teams/<team>/team.yaml`.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Team", transform = kind_team)]
pub struct Team {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    pub documentation: Option<Doc>,
    /// Services that hold this team's data.
    #[schemars(default)]
    pub containers: Vec<Container>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "ContainerKind")]
pub enum ContainerKind {
    Kafka,
    Postgres,
    Mysql,
    Sqlserver,
    Oracle,
    Snowflake,
}

impl ContainerKind {
    pub fn is_database(self) -> bool {
        !matches!(self, ContainerKind::Kafka)
    }
}

/// A data container: a service that holds data (`kafka` with `bootstrap`, databases with `host`).
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Container")]
pub struct Container {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    pub kind: Spanned<ContainerKind>,
    /// Kafka: `host:port` brokers.
    pub bootstrap: Option<SpannedList<Str>>,
    /// Databases: host name or address.
    pub host: Option<Name>,
    /// Databases: TCP port.
    pub port: Option<Spanned<i64>>,
    /// Databases: database name.
    pub database: Option<Name>,
    /// Location keys `vendor:path/sub` where the container runs.
    pub locations: Option<SpannedList<Str>>,
    pub documentation: Option<Doc>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "ProductionStatus")]
pub enum ProductionStatus {
    Production,
    #[default]
    NotProduction,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Deprecation")]
pub struct Deprecation {
    #[schemars(skip)]
    pub span: Span,
    pub reason: Option<Spanned<String>>,
}

/// A file of a team folder with `kind: Datastore`.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Datastore", transform = kind_datastore)]
pub struct Datastore {
    #[schemars(skip)]
    pub span: Span,
    /// Unique in the whole ecosystem.
    pub name: Name,
    pub documentation: Option<Doc>,
    /// Default `not-production`.
    pub production_status: Option<Spanned<ProductionStatus>>,
    pub deprecated: Option<Box<Deprecation>>,
    /// How the data arrives.
    #[schemars(required)]
    pub capture: Option<Capture>,
    #[schemars(with = "Option<Vec<Dataset>>")]
    pub datasets: Spanned<Vec<Dataset>>,
}

impl Datastore {
    pub fn is_production(&self) -> bool {
        self.production_status.as_ref().is_some_and(|p| p.value == ProductionStatus::Production)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "CaptureKind")]
pub enum CaptureKind {
    Kafka,
    SqlSnapshot,
    Cdc,
    Transformer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "TopicMapping")]
pub enum TopicMapping {
    Debezium,
    Plain,
}

/// How a datastore's data arrives (ingestion metadata).
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Capture")]
pub struct Capture {
    #[schemars(skip)]
    pub span: Span,
    pub kind: Spanned<CaptureKind>,
    /// A container of the datastore's team.
    pub container: Name,
    /// Resolved by the platform's credential store.
    pub credential: Option<Name>,
    /// Dataset name to topic name; the default topic is the dataset name.
    pub topics: Option<Spanned<NameMap>>,
    pub mapping: Option<Spanned<TopicMapping>>,
    pub trigger: Option<Trigger>,
}

/// A mapping from names to strings, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameMap(pub Vec<(Name, Name)>);

impl JsonSchema for NameMap {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NameMap".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "additionalProperties": {"type": "string"}})
    }
}

/// When a capture runs: on a schedule or when told to.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(untagged, title = "Trigger")]
pub enum Trigger {
    Cron {
        #[schemars(skip)]
        span: Span,
        /// Five cron fields: minute hour day-of-month month day-of-week.
        cron: Name,
    },
    External {
        #[schemars(skip)]
        span: Span,
        external: Spanned<bool>,
    },
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Dataset")]
pub struct Dataset {
    #[schemars(skip)]
    pub span: Span,
    /// Unique within the datastore.
    pub name: Name,
    pub documentation: Option<Doc>,
    /// Dataset-level classifications, or classify each column, not both.
    pub classifications: Option<SpannedList<Str>>,
    pub deprecated: Option<Box<Deprecation>>,
    #[schemars(required)]
    pub schema: Option<Box<Schema>>,
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Schema")]
pub struct Schema {
    #[schemars(skip)]
    pub span: Span,
    pub primary_key: Option<SpannedList<Str>>,
    pub partition_by: Option<SpannedList<Str>>,
    pub columns: Spanned<Vec<Column>>,
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Column")]
pub struct Column {
    #[schemars(skip)]
    pub span: Span,
    /// Unique within the dataset.
    pub name: Name,
    /// A column type of the grammar in MODEL.md §3, e.g. `varchar(320)` or `decimal(18,2)`.
    #[schemars(rename = "type", with = "String")]
    pub ty: Spanned<Result<ColumnType, Box<TypeError>>>,
    /// Default `true`.
    pub nullable: Option<Spanned<bool>>,
    // Boxed: most columns have none, and a model may hold tens of millions of columns.
    pub classifications: Option<Box<SpannedList<Str>>>,
    pub documentation: Option<Doc>,
}

impl Dataset {
    /// Every classification of the dataset: its own and its columns' (lint reports a dataset
    /// that has both), in file order, repeats included.
    pub fn all_classifications(&self) -> impl Iterator<Item = &Name> {
        let columns = self.schema.iter().flat_map(|s| &s.columns.value);
        self.classifications
            .iter()
            .flat_map(|l| &l.value)
            .chain(columns.flat_map(|c| c.classifications.iter().flat_map(|l| &l.value)))
    }

    /// A fingerprint of what consumers depend on: the columns with their names, types and
    /// nullability, the primary key, the partitioning and the classifications (not the
    /// documentation). Approvals of a breaking change are keyed by it, so they lapse exactly
    /// when the dataset's shape changes again. 16 hex digits (FNV-1a 64 of a canonical text).
    pub fn schema_fingerprint(&self) -> String {
        let mut canonical = String::new();
        let sorted = |list: Option<&SpannedList<Str>>, upper: bool| {
            let mut items: Vec<String> = list
                .map(|l| {
                    l.value
                        .iter()
                        .map(|n| if upper { n.to_ascii_uppercase() } else { n.to_ascii_lowercase() })
                        .collect()
                })
                .unwrap_or_default();
            if upper {
                items.sort();
                items.dedup();
            }
            items.join(",")
        };
        canonical.push_str(&format!("classifications[{}]", sorted(self.classifications.as_ref(), true)));
        if let Some(schema) = &self.schema {
            canonical.push_str(&format!("key[{}]", sorted(schema.primary_key.as_ref(), false)));
            canonical.push_str(&format!("partition[{}]", sorted(schema.partition_by.as_ref(), false)));
            for column in &schema.columns.value {
                let ty = match &column.ty.value {
                    Ok(ty) => ty.to_string(),
                    Err(e) => e.text.to_string(),
                };
                canonical.push_str(&format!(
                    "col[{}:{ty}:{}:{}]",
                    column.name.to_ascii_lowercase(),
                    column.is_nullable(),
                    sorted(column.classifications.as_deref(), true)
                ));
            }
        }
        let hash =
            canonical.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        format!("{hash:016x}")
    }

    /// `all_classifications` without repeats (ignoring ASCII case, as policies compare them).
    pub fn distinct_classifications(&self) -> Vec<&Name> {
        let mut distinct: Vec<&Name> = Vec::new();
        for name in self.all_classifications() {
            if !distinct.iter().any(|d| d.value.eq_ignore_ascii_case(&name.value)) {
                distinct.push(name);
            }
        }
        distinct
    }
}

impl Column {
    pub fn is_nullable(&self) -> bool {
        self.nullable.as_ref().is_none_or(|n| n.value)
    }
}

/// A file of a team folder with `kind: Workspace`.
#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Workspace", transform = kind_workspace)]
pub struct Workspace {
    #[schemars(skip)]
    pub span: Span,
    /// Unique in the whole ecosystem.
    pub name: Name,
    pub documentation: Option<Doc>,
    /// Where consumers query: a container of this team.
    #[schemars(required)]
    pub container: Option<Name>,
    pub production_status: Option<Spanned<ProductionStatus>>,
    #[schemars(default)]
    pub dataset_groups: Vec<DatasetGroup>,
}

impl Workspace {
    pub fn is_production(&self) -> bool {
        self.production_status.as_ref().is_some_and(|p| p.value == ProductionStatus::Production)
    }
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "DatasetGroup")]
pub struct DatasetGroup {
    #[schemars(skip)]
    pub span: Span,
    pub name: Name,
    /// A platform of the ecosystem.
    pub platform: Option<Name>,
    pub requirements: Option<Requirements>,
    #[schemars(default)]
    pub sinks: Vec<Sink>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "Latency")]
pub enum Latency {
    Seconds,
    Minutes,
    Hours,
    Days,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "Milestoning")]
pub enum Milestoning {
    LiveOnly,
    Forensic,
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Requirements")]
pub struct Requirements {
    #[schemars(skip)]
    pub span: Span,
    pub latency: Option<Spanned<Latency>>,
    pub milestoning: Option<Spanned<Milestoning>>,
    /// How long to keep data: a number and a unit `d`, `w`, `m` or `y` (`30d`), or `forever`.
    #[schemars(regex(pattern = r"^([1-9][0-9]*[dwmy]|forever)$"))]
    pub retention: Option<Name>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "kebab-case", title = "DeprecationsAllowed")]
pub enum DeprecationsAllowed {
    #[default]
    Never,
    Allowed,
}

#[derive(Clone, Debug, PartialEq, JsonSchema, serde::Serialize, serde::Deserialize)]
#[schemars(rename_all = "camelCase", deny_unknown_fields, title = "Sink")]
pub struct Sink {
    #[schemars(skip)]
    pub span: Span,
    pub datastore: Name,
    pub dataset: Name,
    /// Default `never`.
    pub deprecations_allowed: Option<Spanned<DeprecationsAllowed>>,
}

impl Sink {
    pub fn allows_deprecations(&self) -> bool {
        self.deprecations_allowed.as_ref().is_some_and(|d| d.value == DeprecationsAllowed::Allowed)
    }
}

fn add_kind(schema: &mut schemars::Schema, kind: &str) {
    if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        let mut with_kind = serde_json::Map::new();
        with_kind.insert("kind".into(), serde_json::json!({"const": kind}));
        with_kind.extend(std::mem::take(properties));
        *properties = with_kind;
    }
    if let Some(required) = schema.get_mut("required").and_then(|r| r.as_array_mut()) {
        required.insert(0, "kind".into());
    }
}

fn kind_ecosystem(schema: &mut schemars::Schema) {
    add_kind(schema, "Ecosystem");
}
fn kind_zone(schema: &mut schemars::Schema) {
    add_kind(schema, "GovernanceZone");
}
fn kind_team(schema: &mut schemars::Schema) {
    add_kind(schema, "Team");
}
fn kind_datastore(schema: &mut schemars::Schema) {
    add_kind(schema, "Datastore");
}
fn kind_workspace(schema: &mut schemars::Schema) {
    add_kind(schema, "Workspace");
}

impl std::fmt::Display for Owner {
    /// `repo acme/northwind@main, team acme/northwind-eng, user alice`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(repo) = &self.repo {
            match &self.branch {
                Some(branch) => parts.push(format!("repo {repo}@{branch}")),
                None => parts.push(format!("repo {repo}")),
            }
        }
        parts.extend(self.teams.iter().map(|t| format!("team {t}")));
        parts.extend(self.users.iter().map(|u| format!("user {u}")));
        if parts.is_empty() { f.write_str("(nobody)") } else { f.write_str(&parts.join(", ")) }
    }
}
