//! The JSON Schema of model files: generated from the Rust types, committed, current, in step
//! with the loader's field lists, and true of the example model.

use std::collections::BTreeSet;

use datasurface::load::decode;
use datasurface::yaml::{self, Node, Style, Value};

use crate::support::{datasurface, fixture, repo_root, stdout};

#[test]
fn committed_schema_is_current() {
    let printed = stdout(&datasurface(&repo_root(), &["schema"]));
    let path = repo_root().join("schema/datasurface.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if printed != committed {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &printed).unwrap();
        } else {
            panic!(
                "schema/datasurface.schema.json is stale; run `datasurface schema > schema/datasurface.schema.json` (or UPDATE_SCHEMA=1)"
            );
        }
    }
}

fn properties(schema: &serde_json::Value) -> BTreeSet<String> {
    let mut names: BTreeSet<String> =
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    for variant in schema["anyOf"].as_array().into_iter().flatten() {
        names.extend(properties(variant));
    }
    names
}

/// The object schema with `title`, wherever the generator placed it (a definition or inline).
fn find_titled<'s>(schema: &'s serde_json::Value, title: &str) -> Option<&'s serde_json::Value> {
    match schema {
        serde_json::Value::Object(map) => {
            if map.get("title").and_then(|t| t.as_str()) == Some(title) {
                return Some(schema);
            }
            map.values().find_map(|v| find_titled(v, title))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_titled(v, title)),
        _ => None,
    }
}

#[test]
fn schema_and_loader_know_the_same_fields() {
    let schema = datasurface::schema::schema();
    for (name, fields) in [
        ("Ecosystem", decode::ECOSYSTEM_FIELDS),
        ("Owner", decode::OWNER_FIELDS),
        ("Declaration", decode::DECLARATION_FIELDS),
        ("Vendor", decode::VENDOR_FIELDS),
        ("CredentialStore", decode::CREDENTIAL_STORE_FIELDS),
        ("Platform", decode::PLATFORM_FIELDS),
        ("GovernanceZone", decode::ZONE_FIELDS),
        ("Policies", decode::POLICIES_FIELDS),
        ("Policy", decode::POLICY_FIELDS),
        ("Team", decode::TEAM_FIELDS),
        ("Container", decode::CONTAINER_FIELDS),
        ("Datastore", decode::DATASTORE_FIELDS),
        ("Deprecation", decode::DEPRECATION_FIELDS),
        ("Capture", decode::CAPTURE_FIELDS),
        ("Trigger", decode::TRIGGER_FIELDS),
        ("Dataset", decode::DATASET_FIELDS),
        ("Schema", decode::SCHEMA_FIELDS),
        ("Column", decode::COLUMN_FIELDS),
        ("Workspace", decode::WORKSPACE_FIELDS),
        ("DatasetGroup", decode::DATASET_GROUP_FIELDS),
        ("Requirements", decode::REQUIREMENTS_FIELDS),
        ("Sink", decode::SINK_FIELDS),
    ] {
        let definition = find_titled(&schema, name).unwrap_or_else(|| panic!("no schema titled {name}"));
        let expected: BTreeSet<String> = fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(properties(definition), expected, "{name}");
    }
}

/// A YAML tree as JSON, reading plain scalars as YAML 1.2 core types.
fn to_json(node: &Node<'_>) -> serde_json::Value {
    match &node.value {
        _ if node.is_null() => serde_json::Value::Null,
        Value::Scalar(text, Style::Plain) => match &**text {
            "true" => true.into(),
            "false" => false.into(),
            _ => text.parse::<i64>().map(Into::into).unwrap_or_else(|_| text.to_string().into()),
        },
        Value::Scalar(text, _) => text.to_string().into(),
        Value::Seq(items) => items.iter().map(to_json).collect(),
        Value::Map(entries) => {
            entries.iter().map(|e| (e.key.to_string(), to_json(&e.value))).collect::<serde_json::Map<_, _>>().into()
        }
    }
}

#[test]
fn the_example_model_validates_against_the_schema() {
    let mut documents = Vec::new();
    let mut stack = vec![fixture("acme")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for document in yaml::parse(&text, yaml::Limits::default()).documents {
                documents.push(to_json(&document));
            }
        }
    }
    assert_eq!(documents.len(), 11);
    // A document the schema must refuse, so the check itself is known to work.
    documents.push(serde_json::json!({"kind": "Datastore", "name": "x", "capture": {"kind": "kafka", "container": "c"}, "nope": 1}));
    let results: Vec<bool> = documents
        .iter()
        .map(|d| crate::support::validate_json("../../schema/datasurface.schema.json", d).is_ok())
        .collect();
    let (last, acme) = results.split_last().unwrap();
    assert!(acme.iter().all(|ok| *ok), "an acme document does not validate: {results:?}");
    assert!(!last, "the schema accepted an unknown field");
}

#[test]
fn the_export_schema_is_current_and_the_export_follows_it() {
    let printed = stdout(&datasurface(&repo_root(), &["export", "--schema"]));
    let path = repo_root().join("schema/datasurface-export.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if printed != committed {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &printed).unwrap();
        } else {
            panic!("schema/datasurface-export.schema.json is stale; rerun with UPDATE_SCHEMA=1");
        }
    }
    let output = datasurface(&repo_root(), &["export", "fixtures/acme"]);
    assert_eq!(output.status.code(), Some(0));
    let export: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    if let Err(error) = crate::support::validate_json("../../schema/datasurface-export.schema.json", &export) {
        panic!("the export does not follow its schema: {error}");
    }
    // What a catalog wants: every dataset with its owner's team, its file and its consumers.
    let usa = export["zones"].as_array().unwrap().iter().find(|z| z["name"] == "usa").unwrap();
    assert_eq!(usa["owner"]["teams"], serde_json::json!(["acme/us-governance"]));
    let northwind = usa["teams"].as_array().unwrap().iter().find(|t| t["name"] == "northwind").unwrap();
    assert_eq!(northwind["owner"]["text"], "repo acme/northwind, team acme/northwind-eng");
    let customers = northwind["datastores"].as_array().unwrap().iter().find(|d| d["name"] == "customers").unwrap();
    assert_eq!(customers["file"], "fixtures/acme/zones/usa/teams/northwind/customers.yaml");
    let dataset = &customers["datasets"][0];
    assert_eq!(dataset["name"], "customers");
    assert!(dataset["columns"].as_array().unwrap().iter().any(|c| c["name"] == "email" && c["type"] == "varchar(320)"));
    let consumers: Vec<&str> =
        dataset["consumers"].as_array().unwrap().iter().map(|c| c["workspace"].as_str().unwrap()).collect();
    assert_eq!(consumers, ["marketing"]);
    assert_eq!(dataset["consumers"][0]["owner"], "repo acme/analytics, team acme/analytics");
    // The YAML form says the same.
    let yaml_out = stdout(&datasurface(&repo_root(), &["export", "fixtures/acme", "--format", "yaml"]));
    let parsed = yaml::parse(&yaml_out, yaml::Limits::default());
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(to_json(&parsed.documents[0]), export);
    // The same from a git revision.
    let repo = crate::support::new_repo();
    crate::support::copy_dir(&fixture("acme"), &repo.path().join("model"));
    crate::support::commit_all(repo.path(), "acme");
    let output = datasurface(repo.path(), &["export", "--rev", "HEAD", "--root", "model"]);
    let from_git: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(from_git["root"], "model");
    assert_eq!(from_git["zones"].as_array().unwrap().len(), 2);
}
