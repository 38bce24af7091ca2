//! Problems: what every rule reports. A problem in the user's model is data, not an error.

use std::fmt;
use std::sync::Arc;

use crate::rules::Rule;
use crate::span::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which revision a location refers to. Lint problems are always in the head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Revision {
    Base,
    #[default]
    Head,
}

/// A file (relative to the repository root) and a position in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub file: Arc<str>,
    pub pos: Pos,
    pub revision: Revision,
}

impl Location {
    pub fn head(file: &Arc<str>, pos: Pos) -> Location {
        Location { file: file.clone(), pos, revision: Revision::Head }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.pos.line, self.pos.col)
    }
}

/// The kinds of object a problem can be about, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ObjectKind {
    Ecosystem,
    Vendor,
    CredentialStore,
    Platform,
    Zone,
    Team,
    Container,
    File,
    Datastore,
    Dataset,
    Column,
    Workspace,
    DatasetGroup,
    Sink,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Ecosystem => "Ecosystem",
            ObjectKind::Vendor => "Vendor",
            ObjectKind::CredentialStore => "CredentialStore",
            ObjectKind::Platform => "Platform",
            ObjectKind::Zone => "Zone",
            ObjectKind::Team => "Team",
            ObjectKind::Container => "Container",
            ObjectKind::File => "File",
            ObjectKind::Datastore => "Datastore",
            ObjectKind::Dataset => "Dataset",
            ObjectKind::Column => "Column",
            ObjectKind::Workspace => "Workspace",
            ObjectKind::DatasetGroup => "DatasetGroup",
            ObjectKind::Sink => "Sink",
        }
    }
}

/// One object on the path from the ecosystem to the object a problem is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    /// The qualified name, e.g. `customers/customers` for a dataset.
    pub name: String,
    pub location: Option<Location>,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

/// A finding of one rule about one object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// What to change, short and imperative.
    pub help: Option<String>,
    /// Where to annotate. `None` only for problems about the change as a whole.
    pub location: Option<Location>,
    /// From the ecosystem down to the object the problem is about.
    pub path: Vec<ObjectRef>,
    /// The owner the rule needed or that owns the object, as written in the model.
    pub owner: Option<String>,
    /// Objects affected by the problem (workspaces that consume a broken dataset).
    pub affected: Vec<String>,
    /// What distinguishes this finding from others of the same rule on the same object.
    pub detail: String,
    /// Other places worth showing, such as the base line of something removed.
    pub related: Vec<(String, Location)>,
}

impl Problem {
    pub fn new(rule: Rule, message: impl Into<String>, location: Option<Location>, path: Vec<ObjectRef>) -> Problem {
        Problem {
            rule,
            severity: rule.default_severity(),
            message: message.into(),
            help: None,
            location,
            path,
            owner: None,
            affected: Vec::new(),
            detail: String::new(),
            related: Vec::new(),
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = detail.into();
        self
    }

    /// `Dataset customers/customers`: the innermost object.
    pub fn object(&self) -> String {
        self.path.last().map(ToString::to_string).unwrap_or_default()
    }

    /// A stable id of the finding across pushes: rule, object path and detail, never positions.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Fnv64::default();
        hasher.write(self.rule.id());
        for object in &self.path {
            hasher.write(object.kind.as_str());
            hasher.write(&object.name);
        }
        hasher.write(&self.detail);
        format!("{:016x}", hasher.0)
    }
}

/// FNV-1a, 64 bits: stable across platforms and releases, unlike `std`'s hasher.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, text: &str) {
        for byte in text.bytes().chain([0xff]) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_positions_and_messages() {
        let object = |line| ObjectRef {
            kind: ObjectKind::Dataset,
            name: "customers/customers".into(),
            location: Some(Location::head(&Arc::from("a.yaml"), Pos::new(line, 1))),
        };
        let a = Problem::new(Rule::NameInvalid, "one", None, vec![object(3)]).detail("x");
        let b = Problem::new(Rule::NameInvalid, "two", None, vec![object(9)]).detail("x");
        let c = Problem::new(Rule::NameInvalid, "one", None, vec![object(3)]).detail("y");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        // Pinned: a fingerprint must never change between releases.
        assert_eq!(a.fingerprint(), "247da8c4e52437f8");
    }
}
