//! `datasurface export`: the whole resolved model as one document, for catalogs, scripts and
//! language models that want the ecosystem as text. Every object carries its file, its zone
//! and team, and its owner as the model declares it; every dataset lists its consumers.
//!
//! The document is contract like the JSON report: fields may be added within a `version`,
//! none is removed or renamed. Its JSON Schema is generated from these types
//! (`schema/datasurface-export.schema.json`, kept current by a test).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{self, Model, Placed};

pub const EXPORT_VERSION: u32 = 1;
pub const EXPORT_SCHEMA_ID: &str = "https://datasurface.dev/schema/datasurface-export.schema.json";

/// The exported ecosystem.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    /// The format version; fields are only added within one.
    pub version: u32,
    /// The model root inside the repository (`""` for its root).
    pub root: String,
    /// `None` when the model has no readable `ecosystem.yaml`.
    pub ecosystem: Option<Ecosystem>,
    pub zones: Vec<Zone>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub teams: Vec<String>,
    pub users: Vec<String>,
    /// In words: `repo acme/northwind, team acme/northwind-eng`.
    pub text: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ecosystem {
    pub name: String,
    pub file: String,
    pub owner: Option<Owner>,
    pub documentation: Option<String>,
    pub vendors: Vec<Vendor>,
    pub credential_stores: Vec<CredentialStore>,
    pub platforms: Vec<Platform>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vendor {
    pub name: String,
    pub cloud: Option<String>,
    /// Every location key of the vendor's tree, `vendor:a/b`.
    pub locations: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialStore {
    pub name: String,
    pub kind: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    pub name: String,
    pub kind: String,
    pub credential_store: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    pub name: String,
    /// `zones/<zone>/zone.yaml`, when the zone has a definition.
    pub file: Option<String>,
    /// As the ecosystem declares it.
    pub owner: Option<Owner>,
    pub documentation: Option<String>,
    pub policies: Vec<Policy>,
    pub teams: Vec<Team>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `locations`, `vendors`, `classifications` or `platforms`.
    pub of: String,
    pub allowed: Option<Vec<String>>,
    pub not_allowed: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub name: String,
    pub zone: String,
    /// `…/team.yaml`, when the team has a definition.
    pub file: Option<String>,
    /// As the zone declares it.
    pub owner: Option<Owner>,
    pub documentation: Option<String>,
    pub containers: Vec<Container>,
    pub datastores: Vec<Datastore>,
    pub workspaces: Vec<Workspace>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub kind: String,
    pub locations: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Datastore {
    pub name: String,
    pub zone: String,
    pub team: String,
    pub file: String,
    pub production: bool,
    pub deprecated: Option<String>,
    pub documentation: Option<String>,
    pub capture: Option<Capture>,
    pub datasets: Vec<Dataset>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capture {
    pub kind: String,
    pub container: String,
    pub credential: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub name: String,
    /// Dataset-level classifications, or those of its columns.
    pub classifications: Vec<String>,
    pub deprecated: Option<String>,
    pub documentation: Option<String>,
    pub primary_key: Vec<String>,
    pub partition_by: Vec<String>,
    pub columns: Vec<Column>,
    /// The dataset groups that sink it.
    pub consumers: Vec<Consumer>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub name: String,
    /// As written when it does not parse.
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    pub classifications: Vec<String>,
    pub documentation: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub workspace: String,
    pub group: String,
    /// `zone/team` of the workspace.
    pub team: String,
    pub owner: Option<String>,
    pub deprecations_allowed: bool,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub name: String,
    pub zone: String,
    pub team: String,
    pub file: String,
    pub container: Option<String>,
    pub production: bool,
    pub documentation: Option<String>,
    pub dataset_groups: Vec<DatasetGroup>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetGroup {
    pub name: String,
    pub platform: Option<String>,
    pub sinks: Vec<Sink>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sink {
    pub datastore: String,
    pub dataset: String,
    pub deprecations_allowed: bool,
}

fn owner(owner: Option<&model::Owner>) -> Option<Owner> {
    owner.map(|o| Owner {
        repo: o.repo.as_ref().map(|r| r.to_string()),
        branch: o.branch.as_ref().map(|b| b.to_string()),
        teams: o.teams.iter().map(|t| t.to_string()).collect(),
        users: o.users.iter().map(|u| u.to_string()).collect(),
        text: o.to_string(),
    })
}

fn names(list: Option<&model::SpannedList<model::Str>>) -> Vec<String> {
    list.map(|l| l.value.iter().map(|n| n.to_string()).collect()).unwrap_or_default()
}

fn doc(documentation: &Option<model::Doc>) -> Option<String> {
    documentation.as_ref().map(|d| d.value.clone())
}

fn lower(value: &impl std::fmt::Debug) -> String {
    // The enums' YAML spellings are their names in kebab case.
    let text = format!("{value:?}");
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn locations(prefix: &str, tree: &model::LocationTree, out: &mut Vec<String>) {
    for location in &tree.0 {
        let key = format!("{prefix}/{}", location.name);
        out.push(key.replacen(":/", ":", 1));
        locations(&key, &location.children, out);
    }
}

/// The export of `model`.
pub fn export(model: &Model) -> Export {
    let path = |file: model::FileId| model.path(file).to_string();
    // Consumers of every dataset, by datastore and dataset name (SQL identifiers: no case).
    let mut consumers: HashMap<(String, String), Vec<Consumer>> = HashMap::new();
    for workspace in &model.workspaces {
        let team = workspace.scope.team.as_deref().unwrap_or_default();
        let owner = model
            .zone(&workspace.scope.zone)
            .and_then(|z| z.teams.iter().find(|d| *d.name.value == *team))
            .and_then(|d| d.owner.as_ref())
            .map(ToString::to_string);
        for group in &workspace.dataset_groups {
            for sink in &group.sinks {
                let key = (sink.datastore.value.to_ascii_lowercase(), sink.dataset.value.to_ascii_lowercase());
                consumers.entry(key).or_default().push(Consumer {
                    workspace: workspace.name.to_string(),
                    group: group.name.to_string(),
                    team: format!("{}/{team}", workspace.scope.zone),
                    owner: owner.clone(),
                    deprecations_allowed: sink.allows_deprecations(),
                });
            }
        }
    }
    let ecosystem = model.ecosystem.as_ref().map(|(file, e)| Ecosystem {
        name: e.name.to_string(),
        file: path(*file),
        owner: owner(e.owner.as_ref()),
        documentation: doc(&e.documentation),
        vendors: e
            .vendors
            .iter()
            .map(|v| {
                let mut keys = Vec::new();
                locations(&format!("{}:", v.name), &v.locations, &mut keys);
                Vendor { name: v.name.to_string(), cloud: v.cloud.as_ref().map(|c| c.to_string()), locations: keys }
            })
            .collect(),
        credential_stores: e
            .credential_stores
            .iter()
            .map(|c| CredentialStore { name: c.name.to_string(), kind: lower(&c.kind.value) })
            .collect(),
        platforms: e
            .platforms
            .iter()
            .map(|p| Platform {
                name: p.name.to_string(),
                kind: p.kind.to_string(),
                credential_store: p.credential_store.as_ref().map(|c| c.to_string()),
            })
            .collect(),
    });
    // Zones: every zone declared or defined, in name order.
    let mut zone_names: Vec<String> = model.zones.iter().map(|z| z.scope.zone.to_string()).collect();
    if let Some(eco) = model.ecosystem() {
        zone_names.extend(eco.zones.iter().map(|z| z.name.to_string()));
    }
    zone_names.extend(model.datastores.iter().map(|d| d.scope.zone.to_string()));
    zone_names.extend(model.workspaces.iter().map(|w| w.scope.zone.to_string()));
    zone_names.sort();
    zone_names.dedup();
    let zones = zone_names
        .iter()
        .filter(|z| !z.is_empty())
        .map(|zone| {
            let definition = model.zone(zone);
            let declaration = model.ecosystem().and_then(|e| e.zones.iter().find(|d| *d.name.value == **zone));
            let mut team_names: Vec<String> = model
                .teams
                .iter()
                .chain(std::iter::empty())
                .filter(|t| *t.scope.zone == **zone)
                .filter_map(|t| t.scope.team.as_deref().map(str::to_string))
                .collect();
            team_names.extend(definition.iter().flat_map(|z| z.teams.iter().map(|t| t.name.to_string())));
            let in_zone = |scope: &model::Scope| *scope.zone == **zone;
            team_names.extend(
                model
                    .datastores
                    .iter()
                    .filter(|d| in_zone(&d.scope))
                    .filter_map(|d| d.scope.team.as_deref().map(str::to_string)),
            );
            team_names.extend(
                model
                    .workspaces
                    .iter()
                    .filter(|w| in_zone(&w.scope))
                    .filter_map(|w| w.scope.team.as_deref().map(str::to_string)),
            );
            team_names.sort();
            team_names.dedup();
            let policies = definition
                .map(|z| {
                    let p = &z.policies;
                    [
                        ("locations", &p.locations),
                        ("vendors", &p.vendors),
                        ("classifications", &p.classifications),
                        ("platforms", &p.platforms),
                    ]
                    .into_iter()
                    .filter_map(|(of, policy)| {
                        policy.as_ref().map(|policy| Policy {
                            of: of.into(),
                            allowed: policy.allowed.as_ref().map(|a| names(Some(a))),
                            not_allowed: names(policy.not_allowed.as_ref()),
                        })
                    })
                    .collect()
                })
                .unwrap_or_default();
            Zone {
                name: zone.clone(),
                file: definition.map(|z| path(z.file)),
                owner: owner(declaration.and_then(|d| d.owner.as_ref())),
                documentation: definition.and_then(|z| doc(&z.documentation)),
                policies,
                teams: team_names.iter().map(|team| export_team(model, zone, team, &consumers)).collect(),
            }
        })
        .collect();
    Export { version: EXPORT_VERSION, root: model.root.clone(), ecosystem, zones }
}

fn export_team(model: &Model, zone: &str, team: &str, consumers: &HashMap<(String, String), Vec<Consumer>>) -> Team {
    let path = |file: model::FileId| model.path(file).to_string();
    let definition = model.team(zone, team);
    let declaration = model.zone(zone).and_then(|z| z.teams.iter().find(|d| *d.name.value == *team));
    let here = |scope: &model::Scope| *scope.zone == *zone && scope.team.as_deref() == Some(team);
    let datastore = |store: &Placed<model::Datastore>| Datastore {
        name: store.name.to_string(),
        zone: zone.to_string(),
        team: team.to_string(),
        file: path(store.file),
        production: store.is_production(),
        deprecated: store.deprecated.as_ref().map(|d| d.reason.as_ref().map_or_else(String::new, |r| r.to_string())),
        documentation: doc(&store.documentation),
        capture: store.capture.as_ref().map(|c| Capture {
            kind: lower(&c.kind.value),
            container: c.container.to_string(),
            credential: c.credential.as_ref().map(|c| c.to_string()),
        }),
        datasets: store
            .datasets
            .iter()
            .map(|dataset| {
                let key = (store.name.value.to_ascii_lowercase(), dataset.name.value.to_ascii_lowercase());
                let schema = dataset.schema.as_ref();
                Dataset {
                    name: dataset.name.to_string(),
                    classifications: dataset.distinct_classifications().into_iter().map(|c| c.to_string()).collect(),
                    deprecated: dataset
                        .deprecated
                        .as_ref()
                        .map(|d| d.reason.as_ref().map_or_else(String::new, |r| r.to_string())),
                    documentation: doc(&dataset.documentation),
                    primary_key: names(schema.and_then(|s| s.primary_key.as_ref())),
                    partition_by: names(schema.and_then(|s| s.partition_by.as_ref())),
                    columns: schema
                        .map(|s| {
                            s.columns
                                .iter()
                                .map(|c| Column {
                                    name: c.name.to_string(),
                                    ty: match &c.ty.value {
                                        Ok(ty) => ty.to_string(),
                                        Err(e) => e.text.to_string(),
                                    },
                                    nullable: c.is_nullable(),
                                    classifications: c
                                        .classifications
                                        .as_ref()
                                        .map(|l| names(Some(l)))
                                        .unwrap_or_default(),
                                    documentation: doc(&c.documentation),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    consumers: consumers
                        .get(&key)
                        .map(|list| list.iter().map(Consumer::copy).collect())
                        .unwrap_or_default(),
                }
            })
            .collect(),
    };
    Team {
        name: team.to_string(),
        zone: zone.to_string(),
        file: definition.map(|t| path(t.file)),
        owner: owner(declaration.and_then(|d| d.owner.as_ref())),
        documentation: definition.and_then(|t| doc(&t.documentation)),
        containers: definition
            .map(|t| {
                t.containers
                    .iter()
                    .map(|c| Container {
                        name: c.name.to_string(),
                        kind: lower(&c.kind.value),
                        locations: names(c.locations.as_ref()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        datastores: model.datastores.iter().filter(|d| here(&d.scope)).map(datastore).collect(),
        workspaces: model
            .workspaces
            .iter()
            .filter(|w| here(&w.scope))
            .map(|w| Workspace {
                name: w.name.to_string(),
                zone: zone.to_string(),
                team: team.to_string(),
                file: path(w.file),
                container: w.container.as_ref().map(|c| c.to_string()),
                production: w.is_production(),
                documentation: doc(&w.documentation),
                dataset_groups: w
                    .dataset_groups
                    .iter()
                    .map(|g| DatasetGroup {
                        name: g.name.to_string(),
                        platform: g.platform.as_ref().map(|p| p.to_string()),
                        sinks: g
                            .sinks
                            .iter()
                            .map(|s| Sink {
                                datastore: s.datastore.to_string(),
                                dataset: s.dataset.to_string(),
                                deprecations_allowed: s.allows_deprecations(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

impl Consumer {
    fn copy(&self) -> Consumer {
        Consumer {
            workspace: self.workspace.clone(),
            group: self.group.clone(),
            team: self.team.clone(),
            owner: self.owner.clone(),
            deprecations_allowed: self.deprecations_allowed,
        }
    }
}

/// The JSON Schema of the export document, as committed.
pub fn schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut schema = generator.into_root_schema_for::<Export>();
    schema.insert("$id".into(), EXPORT_SCHEMA_ID.into());
    schema.insert("title".into(), "datasurface export".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// A JSON value as block-style YAML: mappings and sequences indented, text double-quoted
/// (JSON's escapes are YAML's), so any value reads back unchanged.
pub fn to_yaml(value: &serde_json::Value) -> String {
    fn scalar(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
            other => other.to_string(),
        }
    }
    fn write(value: &serde_json::Value, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent);
        match value {
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    match item {
                        serde_json::Value::Object(m) if !m.is_empty() => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            write(item, indent + 1, out);
                        }
                        serde_json::Value::Array(a) if !a.is_empty() => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            write(item, indent, out);
                        }
                        serde_json::Value::Object(_) => out.push_str(&format!("{pad}{key}: {{}}\n")),
                        serde_json::Value::Array(_) => out.push_str(&format!("{pad}{key}: []\n")),
                        _ => out.push_str(&format!("{pad}{key}: {}\n", scalar(item))),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    match item {
                        serde_json::Value::Object(m) if !m.is_empty() => {
                            let mut inner = String::new();
                            write(item, indent + 1, &mut inner);
                            // The first line of the item goes after the dash.
                            let inner = inner.replacen(&"  ".repeat(indent + 1), "", 1);
                            out.push_str(&format!("{pad}- {inner}"));
                        }
                        serde_json::Value::Array(a) if !a.is_empty() => {
                            out.push_str(&format!("{pad}-\n"));
                            write(item, indent + 1, out);
                        }
                        serde_json::Value::Object(_) => out.push_str(&format!("{pad}- {{}}\n")),
                        serde_json::Value::Array(_) => out.push_str(&format!("{pad}- []\n")),
                        _ => out.push_str(&format!("{pad}- {}\n", scalar(item))),
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other))),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}
