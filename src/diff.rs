//! Pairs the documents of a base and a head model and says what changed, down to fields.
//!
//! Documents are paired by what identifies them: the ecosystem, a zone or team by its folder,
//! a datastore or workspace by its ecosystem-unique name. A document in a file whose blob is
//! the same in both revisions is unchanged and never compared, so a check costs the changed
//! files, not the model. Moving a document to another file of the same team is not a change.
//! Knows nothing about rules or owners.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::model::{
    Column, Container, Dataset, DatasetGroup, Datastore, Declaration, Ecosystem, FileId, GovernanceZone, Model, Placed,
    Pos, Scope, Sink, Team, Workspace,
};

/// A SQL identifier as a key: the same name in any case (`Payments` is `payments`).
fn ident_key(name: &str) -> crate::model::Str {
    if name.bytes().any(|b| b.is_ascii_uppercase()) { name.to_ascii_lowercase().as_str().into() } else { name.into() }
}

/// What identifies a document across revisions (datastores and workspaces by their name
/// without case, since names are SQL identifiers).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKey {
    Ecosystem,
    Zone(Arc<str>),
    Team(Arc<str>, Arc<str>),
    Datastore(crate::model::Str),
    Workspace(crate::model::Str),
}

/// A document of one revision.
#[derive(Clone, Copy, Debug)]
pub enum DocRef<'m> {
    Ecosystem(FileId, &'m Ecosystem),
    Zone(&'m Placed<GovernanceZone>),
    Team(&'m Placed<Team>),
    Datastore(&'m Placed<Datastore>),
    Workspace(&'m Placed<Workspace>),
}

impl<'m> DocRef<'m> {
    pub fn file(&self) -> FileId {
        match self {
            DocRef::Ecosystem(file, _) => *file,
            DocRef::Zone(p) => p.file,
            DocRef::Team(p) => p.file,
            DocRef::Datastore(p) => p.file,
            DocRef::Workspace(p) => p.file,
        }
    }

    /// The zone and team folders the document is in (`zone` empty for the ecosystem).
    pub fn scope(&self) -> Scope {
        match self {
            DocRef::Ecosystem(..) => Scope { zone: Arc::from(""), team: None },
            DocRef::Zone(p) => p.scope.clone(),
            DocRef::Team(p) => p.scope.clone(),
            DocRef::Datastore(p) => p.scope.clone(),
            DocRef::Workspace(p) => p.scope.clone(),
        }
    }

    /// The position of the document's `name` value.
    pub fn name_pos(&self) -> Pos {
        match self {
            DocRef::Ecosystem(_, e) => e.name.span.value,
            DocRef::Zone(p) => p.name.span.value,
            DocRef::Team(p) => p.name.span.value,
            DocRef::Datastore(p) => p.name.span.value,
            DocRef::Workspace(p) => p.name.span.value,
        }
    }

    fn same(&self, other: &DocRef<'_>) -> bool {
        match (self, other) {
            (DocRef::Ecosystem(_, a), DocRef::Ecosystem(_, b)) => a == b,
            (DocRef::Zone(a), DocRef::Zone(b)) => a.value == b.value,
            (DocRef::Team(a), DocRef::Team(b)) => a.value == b.value,
            (DocRef::Datastore(a), DocRef::Datastore(b)) => a.value == b.value,
            (DocRef::Workspace(a), DocRef::Workspace(b)) => a.value == b.value,
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
    /// A datastore or workspace now in another team folder (perhaps also modified).
    Moved,
    /// In the base, and not in the head because the head file that held it could not be
    /// parsed there (it still has that path, or names it): unreadable, not removed.
    Unreadable,
}

/// One changed field or sub-object, with where it is in each revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// Where in the document: `datasets[customers].columns[email].type`.
    pub path: String,
    pub kind: FieldChangeKind,
    /// Where it was in the base.
    pub base: Option<Pos>,
    /// Where it is in the head; for something removed, its nearest surviving parent.
    pub head: Option<Pos>,
    /// In plain words: `type varchar(32) → varchar(64)`.
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldChangeKind {
    Added,
    Removed,
    Changed,
}

/// A document that differs between base and head.
#[derive(Clone, Debug)]
pub struct DocChange<'m> {
    pub kind: ChangeKind,
    pub key: DocKey,
    pub base: Option<DocRef<'m>>,
    pub head: Option<DocRef<'m>>,
    pub fields: Vec<FieldChange>,
}

impl DocChange<'_> {
    /// The head position of the first change, or the document's name in the head.
    pub fn head_pos(&self) -> Option<Pos> {
        let head = self.head.as_ref()?;
        Some(self.fields.iter().find_map(|f| f.head).unwrap_or_else(|| head.name_pos()))
    }
}

/// Everything that changed from `base` to `head`.
#[derive(Debug)]
pub struct Diff<'m> {
    pub base: &'m Model,
    pub head: &'m Model,
    pub changes: Vec<DocChange<'m>>,
    /// Paths of model files whose content differs (added, removed or modified), sorted.
    pub changed_files: Vec<Arc<str>>,
}

/// The documents of the files that `wanted` picks, with their keys.
fn documents<'m>(model: &'m Model, wanted: &[bool]) -> Vec<(DocKey, DocRef<'m>)> {
    let pick = |file: FileId| wanted[file.0 as usize];
    let mut out = Vec::new();
    if let Some((file, e)) = &model.ecosystem
        && pick(*file)
    {
        out.push((DocKey::Ecosystem, DocRef::Ecosystem(*file, e)));
    }
    out.extend(
        model.zones.iter().filter(|z| pick(z.file)).map(|z| (DocKey::Zone(z.scope.zone.clone()), DocRef::Zone(z))),
    );
    out.extend(model.teams.iter().filter(|t| pick(t.file)).map(|t| {
        (DocKey::Team(t.scope.zone.clone(), t.scope.team.clone().unwrap_or_else(|| Arc::from(""))), DocRef::Team(t))
    }));
    out.extend(
        model
            .datastores
            .iter()
            .filter(|d| pick(d.file))
            .map(|d| (DocKey::Datastore(ident_key(&d.name.value)), DocRef::Datastore(d))),
    );
    out.extend(
        model
            .workspaces
            .iter()
            .filter(|w| pick(w.file))
            .map(|w| (DocKey::Workspace(ident_key(&w.name.value)), DocRef::Workspace(w))),
    );
    out
}

/// Which files of each model differ from the other's file at the same path (or have no
/// blob id to tell), found by walking both path-sorted file lists together.
fn changed_files(base: &Model, head: &Model) -> (Vec<bool>, Vec<bool>, Vec<Arc<str>>) {
    let (mut base_changed, mut head_changed) = (vec![true; base.files.len()], vec![true; head.files.len()]);
    let (mut b, mut h) = (0, 0);
    while b < base.files.len() && h < head.files.len() {
        let (base_file, head_file) = (&base.files[b], &head.files[h]);
        match base_file.path.cmp(&head_file.path) {
            std::cmp::Ordering::Less => b += 1,
            std::cmp::Ordering::Greater => h += 1,
            std::cmp::Ordering::Equal => {
                let same = head_file.blob.is_some() && head_file.blob == base_file.blob;
                base_changed[b] = !same;
                head_changed[h] = !same;
                b += 1;
                h += 1;
            }
        }
    }
    let mut paths: Vec<Arc<str>> = base
        .files
        .iter()
        .zip(&base_changed)
        .chain(head.files.iter().zip(&head_changed))
        .filter(|(_, changed)| **changed)
        .map(|(f, _)| f.path.clone())
        .collect();
    paths.sort();
    paths.dedup();
    (base_changed, head_changed, paths)
}

pub fn diff<'m>(base: &'m Model, head: &'m Model) -> Diff<'m> {
    // Files whose bytes are the same in both revisions hold the same documents: only the
    // documents of changed files are paired and compared.
    let (base_changed, head_changed, changed_files) = changed_files(base, head);
    let base_documents = documents(base, &base_changed);
    let mut base_docs: HashMap<DocKey, DocRef<'m>> = HashMap::with_capacity(base_documents.len());
    for (key, doc) in &base_documents {
        base_docs.entry(key.clone()).or_insert(*doc);
    }
    let mut seen: HashSet<DocKey> = HashSet::new();
    let mut changes = Vec::new();
    for (key, head_doc) in documents(head, &head_changed) {
        if !seen.insert(key.clone()) {
            continue;
        }
        match base_docs.get(&key) {
            None => changes.push(DocChange {
                kind: ChangeKind::Added,
                key,
                base: None,
                head: Some(head_doc),
                fields: Vec::new(),
            }),
            Some(base_doc) => {
                let moved = base_doc.scope() != head_doc.scope();
                if !moved && base_doc.same(&head_doc) {
                    continue;
                }
                let fields = fields(base_doc, &head_doc);
                let kind = if moved { ChangeKind::Moved } else { ChangeKind::Modified };
                changes.push(DocChange { kind, key, base: Some(*base_doc), head: Some(head_doc), fields });
            }
        }
    }
    // Head files that lost documents to parse errors, and the names they seem to define.
    let broken: HashSet<&str> = head.files.iter().filter(|f| !f.parsed.salvaged.is_empty()).map(|f| &*f.path).collect();
    let salvaged: HashSet<crate::model::Ident<'_>> =
        head.files.iter().flat_map(|f| f.parsed.salvaged.iter().map(|n| crate::model::Ident(n))).collect();
    for (key, base_doc) in base_documents {
        if !seen.insert(key.clone()) {
            continue;
        }
        let lost = match base_doc {
            DocRef::Datastore(d) => {
                broken.contains(&**base.path(d.file)) || salvaged.contains(&crate::model::Ident(&d.name.value))
            }
            DocRef::Workspace(w) => {
                broken.contains(&**base.path(w.file)) || salvaged.contains(&crate::model::Ident(&w.name.value))
            }
            _ => false,
        };
        changes.push(DocChange {
            kind: if lost { ChangeKind::Unreadable } else { ChangeKind::Removed },
            key,
            base: Some(base_doc),
            head: None,
            fields: Vec::new(),
        });
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    Diff { base, head, changes, changed_files }
}

fn fields(base: &DocRef<'_>, head: &DocRef<'_>) -> Vec<FieldChange> {
    let mut acc = Fields { out: Vec::new(), prefix: String::new() };
    match (base, head) {
        (DocRef::Ecosystem(_, b), DocRef::Ecosystem(_, h)) => acc.ecosystem(b, h),
        (DocRef::Zone(b), DocRef::Zone(h)) => acc.zone(b, h),
        (DocRef::Team(b), DocRef::Team(h)) => acc.team(b, h),
        (DocRef::Datastore(b), DocRef::Datastore(h)) => acc.datastore(b, h),
        (DocRef::Workspace(b), DocRef::Workspace(h)) => acc.workspace(b, h),
        _ => {}
    }
    acc.out
}

/// Collects field changes under a path prefix.
struct Fields {
    out: Vec<FieldChange>,
    prefix: String,
}

fn show<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

impl Fields {
    fn path(&self, field: &str) -> String {
        if self.prefix.is_empty() { field.to_string() } else { format!("{}.{field}", self.prefix) }
    }

    fn push(&mut self, field: &str, kind: FieldChangeKind, base: Option<Pos>, head: Option<Pos>, description: String) {
        let path = self.path(field);
        self.out.push(FieldChange { path, kind, base, head, description });
    }

    /// A field whose value changed, was set or was unset.
    fn value<T: PartialEq>(
        &mut self,
        field: &str,
        base: &T,
        head: &T,
        positions: (Option<Pos>, Option<Pos>),
        render: impl Fn(&T) -> String,
    ) {
        if base != head {
            let description = format!("{field} {} → {}", render(base), render(head));
            self.push(field, FieldChangeKind::Changed, positions.0, positions.1, description);
        }
    }

    fn documentation(&mut self, base: &Option<crate::model::Doc>, head: &Option<crate::model::Doc>) {
        let head_pos = head.as_ref().map(|d| d.span.key);
        self.value("documentation", base, head, (None, head_pos), |_| "…".into());
    }

    /// A two-valued setting (`productionStatus`, `deprecated`) held by an optional field;
    /// where the head lacks the field, the change is shown at `head_fallback`.
    fn flag<T: HasSpan>(
        &mut self,
        field: &str,
        (base_field, head_field): (&Option<T>, &Option<T>),
        head_fallback: Pos,
        values: (bool, bool),
        [on, off]: [&str; 2],
    ) {
        let positions = (
            base_field.as_ref().map(|f| f.span().key),
            Some(head_field.as_ref().map_or(head_fallback, |f| f.span().key)),
        );
        self.value(field, &values.0, &values.1, positions, |v| if *v { on.into() } else { off.into() });
    }

    fn nested(&mut self, prefix: String, run: impl FnOnce(&mut Self)) {
        let saved = std::mem::replace(&mut self.prefix, prefix);
        run(self);
        self.prefix = saved;
    }

    /// Pairs two lists by name; `changed` compares a pair. Removed items point at `head_parent`.
    #[allow(clippy::too_many_arguments)]
    fn list<T: PartialEq + Listed>(
        &mut self,
        field: &str,
        what: &str,
        base: &[T],
        head: &[T],
        head_parent: Pos,
        mut changed: impl FnMut(&mut Self, &T, &T),
    ) {
        let key = |item: &T| if T::IDENT { ident_key(item.name()) } else { item.name().into() };
        let head_by_name: HashMap<crate::model::Str, &T> = head.iter().map(|h| (key(h), h)).collect();
        let base_by_name: HashMap<crate::model::Str, &T> = base.iter().map(|b| (key(b), b)).collect();
        for item in base {
            match head_by_name.get(&key(item)) {
                None => {
                    let description = format!("{what} {} removed", item.name());
                    self.push(
                        &format!("{field}[{}]", item.name()),
                        FieldChangeKind::Removed,
                        Some(item.pos()),
                        Some(head_parent),
                        description,
                    );
                }
                Some(other) if *other != item => {
                    let prefix = self.path(&format!("{field}[{}]", item.name()));
                    let before = self.out.len();
                    self.nested(prefix, |acc| changed(acc, item, other));
                    if self.out.len() == before {
                        let description = if item.name() != other.name() {
                            format!("{what} {} renamed to {} (the same SQL identifier)", item.name(), other.name())
                        } else {
                            format!("{what} {} changed", item.name())
                        };
                        self.push(
                            &format!("{field}[{}]", item.name()),
                            FieldChangeKind::Changed,
                            Some(item.pos()),
                            Some(other.pos()),
                            description,
                        );
                    }
                }
                Some(_) => {}
            }
        }
        for item in head {
            if !base_by_name.contains_key(&key(item)) {
                let description = format!("{what} {} added", item.name());
                self.push(
                    &format!("{field}[{}]", item.name()),
                    FieldChangeKind::Added,
                    None,
                    Some(item.pos()),
                    description,
                );
            }
        }
    }

    fn ecosystem(&mut self, base: &Ecosystem, head: &Ecosystem) {
        let at = |e: &Ecosystem| e.name.span.value;
        self.value("name", &base.name, &head.name, (Some(at(base)), Some(at(head))), |n| n.to_string());
        self.value("owner", &base.owner, &head.owner, owner_pos(base.owner.as_ref(), head.owner.as_ref()), |o| {
            owner_text(o.as_ref())
        });
        self.documentation(&base.documentation, &head.documentation);
        let parent = head.span.value;
        self.list("vendors", "vendor", &base.vendors, &head.vendors, parent, |_, _, _| {});
        self.list(
            "credentialStores",
            "credential store",
            &base.credential_stores,
            &head.credential_stores,
            parent,
            |_, _, _| {},
        );
        self.list("platforms", "platform", &base.platforms, &head.platforms, parent, |_, _, _| {});
        self.list("zones", "zone declaration", &base.zones, &head.zones, parent, Self::declaration);
    }

    fn declaration(&mut self, base: &Declaration, head: &Declaration) {
        self.value("owner", &base.owner, &head.owner, owner_pos(base.owner.as_ref(), head.owner.as_ref()), |o| {
            owner_text(o.as_ref())
        });
    }

    fn zone(&mut self, base: &GovernanceZone, head: &GovernanceZone) {
        self.documentation(&base.documentation, &head.documentation);
        for (field, b, h) in [
            ("policies.locations", &base.policies.locations, &head.policies.locations),
            ("policies.vendors", &base.policies.vendors, &head.policies.vendors),
            ("policies.classifications", &base.policies.classifications, &head.policies.classifications),
            ("policies.platforms", &base.policies.platforms, &head.policies.platforms),
        ] {
            let positions =
                (b.as_ref().map(|p| p.span.key), h.as_ref().map(|p| p.span.key).or(Some(head.name.span.value)));
            self.value(field, b, h, positions, |p| match p {
                None => "none".into(),
                Some(p) => format!(
                    "allowed {:?} notAllowed {:?}",
                    p.allowed.as_ref().map(|l| l.value.iter().map(|v| v.to_string()).collect::<Vec<_>>()),
                    p.not_allowed.as_ref().map(|l| l.value.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                ),
            });
        }
        self.list("teams", "team declaration", &base.teams, &head.teams, head.name.span.value, Self::declaration);
    }

    fn team(&mut self, base: &Team, head: &Team) {
        self.documentation(&base.documentation, &head.documentation);
        self.list(
            "containers",
            "container",
            &base.containers,
            &head.containers,
            head.name.span.value,
            |acc: &mut Self, b: &Container, h: &Container| {
                acc.value("kind", &b.kind, &h.kind, (Some(b.kind.span.value), Some(h.kind.span.value)), |k| {
                    show(&k.value).to_lowercase()
                });
                acc.value(
                    "locations",
                    &b.locations,
                    &h.locations,
                    (
                        b.locations.as_ref().map(|l| l.span.key),
                        h.locations.as_ref().map(|l| l.span.key).or(Some(h.span.value)),
                    ),
                    |l| names(l.as_ref().map(|l| &l.value[..])),
                );
            },
        );
    }

    fn datastore(&mut self, base: &Datastore, head: &Datastore) {
        self.documentation(&base.documentation, &head.documentation);
        self.flag(
            "productionStatus",
            (&base.production_status, &head.production_status),
            head.name.span.value,
            (base.is_production(), head.is_production()),
            ["production", "not-production"],
        );
        self.flag(
            "deprecated",
            (&base.deprecated, &head.deprecated),
            head.name.span.value,
            (base.deprecated.is_some(), head.deprecated.is_some()),
            ["deprecated", "not deprecated"],
        );
        self.value(
            "capture",
            &base.capture,
            &head.capture,
            (
                base.capture.as_ref().map(|c| c.span.key),
                Some(head.capture.as_ref().map_or(head.name.span.value, |c| c.span.key)),
            ),
            |_| "…".into(),
        );
        self.list("datasets", "dataset", &base.datasets, &head.datasets, head.datasets.span.key, Self::dataset);
    }

    fn dataset(&mut self, base: &Dataset, head: &Dataset) {
        let head_at = head.name.span.value;
        self.documentation(&base.documentation, &head.documentation);
        self.value(
            "classifications",
            &base.classifications,
            &head.classifications,
            (
                base.classifications.as_ref().map(|c| c.span.key),
                Some(head.classifications.as_ref().map_or(head_at, |c| c.span.key)),
            ),
            |c| names(c.as_ref().map(|c| &c.value[..])),
        );
        self.flag(
            "deprecated",
            (&base.deprecated, &head.deprecated),
            head_at,
            (base.deprecated.is_some(), head.deprecated.is_some()),
            ["deprecated", "not deprecated"],
        );
        let (Some(base_schema), Some(head_schema)) = (&base.schema, &head.schema) else {
            self.value("schema", &base.schema.is_some(), &head.schema.is_some(), (None, Some(head_at)), |s| {
                if *s { "present".into() } else { "missing".into() }
            });
            return;
        };
        self.value(
            "primaryKey",
            &base_schema.primary_key,
            &head_schema.primary_key,
            (
                base_schema.primary_key.as_ref().map(|k| k.span.key),
                Some(head_schema.primary_key.as_ref().map_or(head_schema.columns.span.key, |k| k.span.key)),
            ),
            |k| names(k.as_ref().map(|k| &k.value[..])),
        );
        self.value(
            "partitionBy",
            &base_schema.partition_by,
            &head_schema.partition_by,
            (
                base_schema.partition_by.as_ref().map(|k| k.span.key),
                Some(head_schema.partition_by.as_ref().map_or(head_schema.columns.span.key, |k| k.span.key)),
            ),
            |k| names(k.as_ref().map(|k| &k.value[..])),
        );
        self.list(
            "columns",
            "column",
            &base_schema.columns,
            &head_schema.columns,
            head_schema.columns.span.key,
            Self::column,
        );
    }

    fn column(&mut self, base: &Column, head: &Column) {
        let render_type = |t: &crate::model::Spanned<
            Result<crate::model::ColumnType, Box<crate::model::TypeError>>,
        >| match &t.value {
            Ok(ty) => ty.to_string(),
            Err(e) => e.text.to_string(),
        };
        self.value("type", &base.ty, &head.ty, (Some(base.ty.span.value), Some(head.ty.span.value)), render_type);
        self.value(
            "nullable",
            &base.is_nullable(),
            &head.is_nullable(),
            (
                base.nullable.as_ref().map(|n| n.span.value),
                Some(head.nullable.as_ref().map_or(head.name.span.value, |n| n.span.value)),
            ),
            |n| n.to_string(),
        );
        self.value(
            "classifications",
            &base.classifications,
            &head.classifications,
            (
                base.classifications.as_ref().map(|c| c.span.key),
                Some(head.classifications.as_ref().map_or(head.name.span.value, |c| c.span.key)),
            ),
            |c| names(c.as_ref().map(|c| &c.value[..])),
        );
        self.documentation(&base.documentation, &head.documentation);
    }

    fn workspace(&mut self, base: &Workspace, head: &Workspace) {
        self.documentation(&base.documentation, &head.documentation);
        self.value(
            "container",
            &base.container,
            &head.container,
            (base.container.as_ref().map(|c| c.span.value), head.container.as_ref().map(|c| c.span.value)),
            |c| c.as_ref().map_or("none".into(), |c| c.to_string()),
        );
        self.flag(
            "productionStatus",
            (&base.production_status, &head.production_status),
            head.name.span.value,
            (base.is_production(), head.is_production()),
            ["production", "not-production"],
        );
        self.list(
            "datasetGroups",
            "dataset group",
            &base.dataset_groups,
            &head.dataset_groups,
            head.name.span.value,
            |acc: &mut Self, b: &DatasetGroup, h: &DatasetGroup| {
                acc.value(
                    "platform",
                    &b.platform,
                    &h.platform,
                    (
                        b.platform.as_ref().map(|p| p.span.value),
                        Some(h.platform.as_ref().map_or(h.name.span.value, |p| p.span.value)),
                    ),
                    |p| p.as_ref().map_or("none".into(), |p| p.to_string()),
                );
                acc.value(
                    "requirements",
                    &b.requirements,
                    &h.requirements,
                    (
                        b.requirements.as_ref().map(|r| r.span.key),
                        Some(h.requirements.as_ref().map_or(h.name.span.value, |r| r.span.key)),
                    ),
                    |_| "…".into(),
                );
                let sink_name = |s: &Sink| format!("{}/{}", s.datastore, s.dataset);
                let base_sinks: Vec<(String, &Sink)> = b.sinks.iter().map(|s| (sink_name(s), s)).collect();
                let head_sinks: Vec<(String, &Sink)> = h.sinks.iter().map(|s| (sink_name(s), s)).collect();
                acc.list("sinks", "sink", &base_sinks, &head_sinks, h.name.span.value, |_, _, _| {});
            },
        );
    }
}

/// Fields whose span `flag` reads.
trait HasSpan {
    fn span(&self) -> crate::model::Span;
}

impl<T> HasSpan for crate::model::Spanned<T> {
    fn span(&self) -> crate::model::Span {
        self.span
    }
}

impl HasSpan for Box<crate::model::Deprecation> {
    fn span(&self) -> crate::model::Span {
        self.span
    }
}

fn names(list: Option<&[crate::model::Name]>) -> String {
    match list {
        None => "none".into(),
        Some(items) => format!("[{}]", items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

fn owner_text(owner: Option<&crate::model::Owner>) -> String {
    owner.map_or("(none)".into(), |o| o.to_string())
}

fn owner_pos(base: Option<&crate::model::Owner>, head: Option<&crate::model::Owner>) -> (Option<Pos>, Option<Pos>) {
    (base.map(|o| o.span.key), head.map(|o| o.span.key))
}
/// An item of a model list, matched between base and head by its name.
trait Listed {
    /// Whether the name is a SQL identifier, matched without case.
    const IDENT: bool = false;
    fn name(&self) -> &str;
    /// Where the item starts.
    fn pos(&self) -> Pos;
}

macro_rules! listed {
    ($ident:literal: $($item:ty),*) => {$(
        impl Listed for $item {
            const IDENT: bool = $ident;
            fn name(&self) -> &str {
                &self.name
            }
            fn pos(&self) -> Pos {
                self.span.value
            }
        }
    )*};
}

use crate::model::{CredentialStore, Platform, Vendor};

listed!(false: Vendor, CredentialStore, Platform, Declaration, Container);
listed!(true: Dataset, Column, DatasetGroup);

/// A sink, named `datastore/dataset` (sinks have no name of their own).
impl Listed for (String, &Sink) {
    const IDENT: bool = true;
    fn name(&self) -> &str {
        &self.0
    }
    fn pos(&self) -> Pos {
        self.1.span.value
    }
}
