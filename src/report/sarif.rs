//! `--format sarif`: SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, IDEs).
//! One `reportingDescriptor` per rule of the registry, with `helpUri` at its docs page.

use serde_json::{Value, json};

use super::Report;
use crate::problem::Severity;
use crate::rules::Rule;

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&to_value(report)).unwrap_or_default();
    text.push('\n');
    text
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub fn to_value(report: &Report) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id(),
                "name": rule.id(),
                "shortDescription": {"text": rule.summary()},
                "helpUri": rule.docs_url(),
                "defaultConfiguration": {"level": level(rule.default_severity())},
                "properties": {"tags": [rule.family()]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .problems
        .iter()
        .map(|problem| {
            let rule_index = Rule::ALL.iter().position(|r| *r == problem.rule).unwrap_or_default();
            let mut text = problem.message.clone();
            if let Some(help) = &problem.help {
                text.push('\n');
                text.push_str(help);
            }
            let mut result = json!({
                "ruleId": problem.rule.id(),
                "ruleIndex": rule_index,
                "level": level(problem.severity),
                "message": {"text": text},
                "partialFingerprints": {"datasurface/v1": problem.fingerprint()},
                "properties": {"object": problem.object(), "owner": problem.owner, "affected": problem.affected},
            });
            if let Some(location) = &problem.location {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": &*location.file, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": location.pos.line, "startColumn": location.pos.col},
                    },
                    "logicalLocations": [{"fullyQualifiedName": problem.object()}],
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "datasurface",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": crate::rules::REPOSITORY_URL,
                "rules": rules,
            }},
            "automationDetails": {"id": format!("datasurface/{}/", report.command)},
            "results": results,
        }],
    })
}
