//! The rule registry: every stable rule id as one enum. What a rule means to users (default
//! severity, summary) is in the policy pack, `policy`.
//!
//! Rule ids are contract: never rename one. The enum gives rule code a typo-proof handle; the
//! pack holds what a rule means to users. A test keeps the two in step.
//! A leaf: it depends on nothing in the crate.

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

            /// The rule's page, `docs/rules/<id>.md`, embedded at build time.
            pub fn docs(self) -> &'static str {
                match self {
                    $(Rule::$variant => include_str!(concat!("../docs/rules/", $id, ".md")),)*
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

impl Rule {
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// The family: the part of the id before the dot (`compat`, `authz`, `name`, ...).
    pub fn family(self) -> &'static str {
        self.id().split('.').next().unwrap_or_default()
    }

    /// The docs page of the rule, relative to the repository root.
    pub fn docs_path(self) -> String {
        format!("docs/rules/{}.md", self.id())
    }

    /// The docs page of the rule on the web.
    pub fn docs_url(self) -> String {
        format!("{DOCS_BASE_URL}{}.md", self.id())
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
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
