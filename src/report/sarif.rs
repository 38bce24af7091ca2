//! `--format sarif`: SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, IDEs).
//! One `reportingDescriptor` per rule of the registry, with `helpUri` at its docs page.
//!
//! Written straight from the report (results are made one at a time as they are written);
//! fields are declared in alphabetical order, the order of the output since the first version.

use std::io;

use serde::Serialize;

use super::Report;
use crate::problem::{Problem, Severity};
use crate::rules::Rule;

/// The SARIF log, pretty-printed, with a final line break.
pub fn render(report: &Report) -> String {
    super::to_string(|out| write(report, out))
}

/// Writes the SARIF log to `out`.
pub fn write(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [Run {
            automation_details: AutomationDetails { id: format!("datasurface/{}/", report.command) },
            results: Results(&report.problems),
            tool: Tool {
                driver: Driver {
                    information_uri: crate::rules::REPOSITORY_URL,
                    name: "datasurface",
                    rules: Rule::ALL.iter().map(|rule| Descriptor::new(*rule)).collect(),
                    version: env!("CARGO_PKG_VERSION"),
                },
            },
        }],
        version: "2.1.0",
    };
    super::json::write_pretty(out, &log)
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

#[derive(Serialize)]
struct Log<'r> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [Run<'r>; 1],
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'r> {
    automation_details: AutomationDetails,
    results: Results<'r>,
    tool: Tool,
}

#[derive(Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    information_uri: &'static str,
    name: &'static str,
    rules: Vec<Descriptor>,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    default_configuration: Level,
    help_uri: String,
    id: &'static str,
    name: &'static str,
    properties: Tags,
    short_description: Text,
}

impl Descriptor {
    fn new(rule: Rule) -> Descriptor {
        Descriptor {
            default_configuration: Level { level: level(rule.default_severity()) },
            help_uri: rule.docs_url(),
            id: rule.id(),
            name: rule.id(),
            properties: Tags { tags: [rule.family()] },
            short_description: Text { text: rule.summary().to_string() },
        }
    }
}

#[derive(Serialize)]
struct Level {
    level: &'static str,
}

#[derive(Serialize)]
struct Tags {
    tags: [&'static str; 1],
}

#[derive(Serialize)]
struct Text {
    text: String,
}

/// The results, each made while it is written.
struct Results<'r>(&'r [Problem]);

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(SarifResult::new))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'r> {
    level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    locations: Option<[SarifLocation<'r>; 1]>,
    message: Text,
    partial_fingerprints: Fingerprints,
    properties: Properties<'r>,
    rule_id: &'static str,
    rule_index: usize,
}

impl<'r> SarifResult<'r> {
    fn new(problem: &'r Problem) -> Self {
        let mut text = problem.message.clone();
        if let Some(help) = &problem.help {
            text.push('\n');
            text.push_str(help);
        }
        let object = problem.object();
        SarifResult {
            level: level(problem.severity),
            locations: problem.location.as_ref().map(|location| {
                [SarifLocation {
                    logical_locations: [Logical { fully_qualified_name: object.clone() }],
                    physical_location: Physical {
                        artifact_location: Artifact { uri: &location.file, uri_base_id: "%SRCROOT%" },
                        region: Region { start_column: location.pos.col, start_line: location.pos.line },
                    },
                }]
            }),
            message: Text { text },
            partial_fingerprints: Fingerprints { datasurface: problem.fingerprint() },
            properties: Properties { affected: &problem.affected, object, owner: problem.owner.as_deref() },
            rule_id: problem.rule.id(),
            rule_index: problem.rule as usize, // `Rule::ALL` lists the rules in declaration order
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation<'r> {
    logical_locations: [Logical; 1],
    physical_location: Physical<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Logical {
    fully_qualified_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical<'r> {
    artifact_location: Artifact<'r>,
    region: Region,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact<'r> {
    uri: &'r str,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_column: u32,
    start_line: u32,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "datasurface/v1")]
    datasurface: String,
}

#[derive(Serialize)]
struct Properties<'r> {
    affected: &'r [String],
    object: String,
    owner: Option<&'r str>,
}
