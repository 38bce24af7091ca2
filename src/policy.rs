//! The policy pack: what each rule means to users, its default severity and its summary,
//! read from the shipped pack `policies/default.yaml` (embedded at build time), and the rules'
//! docs index generated from it.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::problem::Severity;
use crate::rules::Rule;

/// The shipped policy pack, as it is embedded in the binary.
pub const DEFAULT_PACK: &str = include_str!("../policies/default.yaml");

/// What the policy pack says about one rule.
#[derive(Clone, Debug)]
pub struct RuleInfo {
    pub severity: Severity,
    pub summary: String,
}

impl Rule {
    pub fn default_severity(self) -> Severity {
        self.info().map_or(Severity::Error, |i| i.severity)
    }

    pub fn summary(self) -> &'static str {
        self.info().map_or("", |i| i.summary.as_str())
    }

    fn info(self) -> Option<&'static RuleInfo> {
        default_pack().as_ref().ok()?.get(&self)
    }
}

/// The embedded pack, parsed once. A test guarantees it parses and names every rule once.
pub fn default_pack() -> &'static Result<HashMap<Rule, RuleInfo>, String> {
    static PACK: OnceLock<Result<HashMap<Rule, RuleInfo>, String>> = OnceLock::new();
    PACK.get_or_init(|| parse_pack(DEFAULT_PACK))
}

/// Reads a policy pack: `rules:` is a list of `{id, severity, summary}`.
pub fn parse_pack(text: &str) -> Result<HashMap<Rule, RuleInfo>, String> {
    use crate::yaml::{Value, parse};
    let parsed = parse(text, crate::yaml::Limits::default());
    if let Some(error) = parsed.errors.first() {
        return Err(format!("{}:{}: {}", error.pos.line, error.pos.col, error.message));
    }
    let Some(Value::Map(entries)) = parsed.documents.first().map(|d| &d.value) else {
        return Err("the policy pack is not a mapping".into());
    };
    let Some(Value::Seq(items)) = entries.iter().find(|e| e.key == "rules").map(|e| &e.value.value) else {
        return Err("the policy pack has no `rules:` list".into());
    };
    let mut rules = HashMap::new();
    for item in items {
        let Value::Map(fields) = &item.value else {
            return Err(format!("line {}: a rule must be a mapping", item.pos.line));
        };
        let field = |name: &str| match fields.iter().find(|e| e.key == name).map(|e| &e.value.value) {
            Some(Value::Scalar(text, _)) => Ok(text.to_string()),
            _ => Err(format!("line {}: the rule has no `{name}`", item.pos.line)),
        };
        let id = field("id")?;
        let rule = Rule::from_id(&id).ok_or_else(|| format!("line {}: unknown rule id `{id}`", item.pos.line))?;
        let severity = Severity::parse(&field("severity")?)
            .ok_or_else(|| format!("line {}: severity must be error, warning or info", item.pos.line))?;
        let info = RuleInfo { severity, summary: field("summary")? };
        if rules.insert(rule, info).is_some() {
            return Err(format!("line {}: rule `{id}` is listed twice", item.pos.line));
        }
    }
    Ok(rules)
}

/// `docs/rules/index.md`: every rule with its default severity and summary, by family.
pub fn docs_index() -> String {
    let mut out = String::from(
        "# Rules\n\nGenerated from `policies/default.yaml` by the test `registry::docs_index_is_current`; do not edit by hand.\n\n| Rule | Default severity | Summary |\n|---|---|---|\n",
    );
    for rule in Rule::ALL {
        out.push_str(&format!(
            "| [`{id}`]({id}.md) | {} | {} |\n",
            rule.default_severity(),
            rule.summary(),
            id = rule.id()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_names_every_rule_once() {
        let pack = default_pack().as_ref().expect("policies/default.yaml parses");
        for rule in Rule::ALL {
            assert!(pack.contains_key(rule), "{} is missing from policies/default.yaml", rule.id());
            assert!(!rule.summary().is_empty());
        }
        assert_eq!(pack.len(), Rule::ALL.len());
    }
}
