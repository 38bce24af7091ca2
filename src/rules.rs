//! The rule registry: every rule id, with its default severity and summary read from the
//! shipped policy pack `policies/default.yaml` (embedded at build time).
//!
//! Rule ids are contract: never rename one. The enum gives rule code a typo-proof handle; the
//! pack holds what a rule means to users. A test keeps the two in step.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::problem::Severity;

macro_rules! rules {
    ($($variant:ident => $id:literal,)*) => {
        /// A rule, named by its stable id.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable id, `family.kebab-name`.
            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }
        }
    };
}

rules! {
    YamlSyntax => "yaml.syntax",
    YamlDuplicateKey => "yaml.duplicate-key",
    YamlAliasLimit => "yaml.alias-limit",
    YamlTooDeep => "yaml.too-deep",
    YamlTag => "yaml.tag",
    FileTooLarge => "file.too-large",
    FileNotUtf8 => "file.not-utf8",
    FileSymlink => "file.symlink",
    FileNotRegular => "file.not-regular",
    FileTooManyProblems => "file.too-many-problems",
    LayoutUnexpectedFile => "layout.unexpected-file",
    LayoutKindMismatch => "layout.kind-mismatch",
    LayoutUnknownKind => "layout.unknown-kind",
    LayoutNameMismatch => "layout.name-mismatch",
    LayoutEmptyFile => "layout.empty-file",
    LayoutEcosystemMissing => "layout.ecosystem-missing",
    LayoutMultipleDocuments => "layout.multiple-documents",
    FieldUnknown => "field.unknown",
    FieldMissing => "field.missing",
    FieldType => "field.type",
    FieldInvalid => "field.invalid",
    NameInvalid => "name.invalid",
    NameDuplicate => "name.duplicate",
    RefUnknown => "ref.unknown",
    LocationUnknown => "location.unknown",
    OwnerInvalid => "owner.invalid",
    CaptureContainerKind => "capture.container-kind",
    CaptureKafkaOnly => "capture.kafka-only",
    CaptureCredentialInvalid => "capture.credential-invalid",
    SchemaUnknownColumn => "schema.unknown-column",
    SchemaNullableKey => "schema.nullable-key",
    ColumnTypeInvalid => "column.type-invalid",
    ClassificationMissing => "classification.missing",
    ClassificationNone => "classification.none",
    ClassificationBothLevels => "classification.both-levels",
    CronInvalid => "cron.invalid",
    ContainerAddressInvalid => "container.address-invalid",
    PolicyContradictory => "policy.contradictory",
    PolicyLocationNotAllowed => "policy.location-not-allowed",
    PolicyVendorNotAllowed => "policy.vendor-not-allowed",
    PolicyClassificationNotAllowed => "policy.classification-not-allowed",
    PolicyPlatformNotAllowed => "policy.platform-not-allowed",
    PolicySinkLocationNotAllowed => "policy.sink-location-not-allowed",
    SinkDeprecated => "sink.deprecated",
    SinkDeprecatedAllowed => "sink.deprecated-allowed",
    SinkNotProduction => "sink.not-production",
    AuthzUndeclared => "authz.undeclared",
    AuthzUnauthorized => "authz.unauthorized",
    AuthzUnknownSource => "authz.unknown-source",
    AuthzFirstCommit => "authz.first-commit",
    CompatColumnRemoved => "compat.column-removed",
    CompatNotNullColumnAdded => "compat.not-null-column-added",
    CompatPrimaryKeyChanged => "compat.primary-key-changed",
    CompatPartitionChanged => "compat.partition-changed",
    CompatNullabilityChanged => "compat.nullability-changed",
    CompatTypeNarrowed => "compat.type-narrowed",
    CompatClassificationChanged => "compat.classification-changed",
    CompatDatasetRemoved => "compat.dataset-removed",
    CompatDatastoreRemoved => "compat.datastore-removed",
    CompatDeprecatedInUse => "compat.deprecated-in-use",
    CompatBaseUnreadable => "compat.base-unreadable",
    CompatHeadUnreadable => "compat.head-unreadable",
}

/// Where datasurface lives; rule docs are under `docs/rules/` there.
pub const REPOSITORY_URL: &str = "https://github.com/datasurface/datasurface";
pub const DOCS_BASE_URL: &str = "https://github.com/datasurface/datasurface/blob/main/docs/rules/";

/// The shipped policy pack, as it is embedded in the binary.
pub const DEFAULT_PACK: &str = include_str!("../policies/default.yaml");

/// What the policy pack says about one rule.
#[derive(Clone, Debug)]
pub struct RuleInfo {
    pub severity: Severity,
    pub summary: String,
}

impl Rule {
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// The family: the part of the id before the dot (`compat`, `authz`, `name`, ...).
    pub fn family(self) -> &'static str {
        self.id().split('.').next().unwrap_or_default()
    }

    pub fn default_severity(self) -> Severity {
        self.info().map_or(Severity::Error, |i| i.severity)
    }

    pub fn summary(self) -> &'static str {
        self.info().map_or("", |i| i.summary.as_str())
    }

    /// The docs page of the rule, relative to the repository root.
    pub fn docs_path(self) -> String {
        format!("docs/rules/{}.md", self.id())
    }

    /// The docs page of the rule on the web.
    pub fn docs_url(self) -> String {
        format!("{DOCS_BASE_URL}{}.md", self.id())
    }

    fn info(self) -> Option<&'static RuleInfo> {
        default_pack().as_ref().ok()?.get(&self)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
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
    fn a_rule_is_its_index_in_all() {
        // SARIF's `ruleIndex` is `rule as usize`.
        for (index, rule) in Rule::ALL.iter().enumerate() {
            assert_eq!(*rule as usize, index, "{}", rule.id());
        }
    }

    #[test]
    fn the_pack_names_every_rule_once() {
        let pack = default_pack().as_ref().expect("policies/default.yaml parses");
        for rule in Rule::ALL {
            assert!(pack.contains_key(rule), "{} is missing from policies/default.yaml", rule.id());
            assert!(!rule.summary().is_empty());
        }
        assert_eq!(pack.len(), Rule::ALL.len());
    }

    #[test]
    fn ids_are_family_dot_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in Rule::ALL {
            let id = rule.id();
            assert!(seen.insert(id), "{id} twice");
            let (family, name) = id.split_once('.').expect("family.name");
            let kebab = |s: &str| {
                !s.is_empty()
                    && s.split('-')
                        .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
            };
            assert!(kebab(family) && kebab(name), "{id} is not family.kebab-case");
            assert_eq!(Rule::from_id(id), Some(*rule));
        }
    }
}
