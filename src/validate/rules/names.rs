//! `name.invalid` and `name.duplicate`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::model::{FileId, Name, Pos};
use crate::problem::{ObjectKind, ObjectRef};
use crate::rules::Rule;
use crate::validate::Ctx;

/// SQL reserved words (SQL:2016 and the common dialects) that cannot name a table or column.
const RESERVED: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "ARRAY",
    "AS",
    "ASC",
    "ASYMMETRIC",
    "AUTHORIZATION",
    "BETWEEN",
    "BINARY",
    "BOTH",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT_DATE",
    "CURRENT_ROLE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DEFAULT",
    "DEFERRABLE",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DO",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "FALSE",
    "FETCH",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "HAVING",
    "IN",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LATERAL",
    "LEADING",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "NATURAL",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "ONLY",
    "OR",
    "ORDER",
    "OUTER",
    "OVERLAPS",
    "PLACING",
    "PRIMARY",
    "REFERENCES",
    "RETURNING",
    "RIGHT",
    "SELECT",
    "SESSION_USER",
    "SIMILAR",
    "SOME",
    "SYMMETRIC",
    "TABLE",
    "THEN",
    "TO",
    "TRAILING",
    "TRUE",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USER",
    "USING",
    "VALUES",
    "VARIADIC",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

fn sql_identifier_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 128 {
        return Some(format!(
            "`{name}` is not a SQL identifier: use a letter, then letters, digits or `_`, at most 128 characters"
        ));
    }
    let upper = name.to_ascii_uppercase();
    if RESERVED.binary_search(&upper.as_str()).is_ok() {
        return Some(format!("`{name}` is a reserved SQL word"));
    }
    None
}

/// Names of zones, teams, containers, vendors and platforms appear in folder names and
/// location keys: letters, digits, `_`, `-` and `.`.
fn slug_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) || name.len() > 128 {
        return Some(format!(
            "`{name}` is not a valid name: start with a letter or digit, then use letters, digits, `_`, `-` or `.`"
        ));
    }
    None
}

pub(super) fn invalid(cx: &mut Ctx<'_>) {
    let model = cx.model;
    let check = |cx: &mut Ctx<'_>,
                 problem: Option<String>,
                 file: FileId,
                 name: &Name,
                 path: &dyn Fn(&Ctx<'_>) -> Vec<ObjectRef>| {
        if let Some(message) = problem {
            let path = path(cx);
            cx.report(Rule::NameInvalid, file, name.span.value, message, path).detail = name.to_string();
        }
    };
    if let Some((file, eco)) = &model.ecosystem {
        for vendor in &eco.vendors {
            check(cx, slug_problem(&vendor.name), *file, &vendor.name, &|cx| {
                cx.paths.ecosystem_child(ObjectKind::Vendor, &vendor.name, vendor.span.value)
            });
            let mut stack: Vec<&crate::model::Location> = vendor.locations.0.iter().collect();
            while let Some(location) = stack.pop() {
                check(cx, slug_problem(&location.name), *file, &location.name, &|cx| {
                    cx.paths.ecosystem_child(ObjectKind::Vendor, &vendor.name, vendor.span.value)
                });
                stack.extend(location.children.0.iter());
            }
        }
        for platform in &eco.platforms {
            check(cx, slug_problem(&platform.name), *file, &platform.name, &|cx| {
                cx.paths.ecosystem_child(ObjectKind::Platform, &platform.name, platform.span.value)
            });
        }
        for store in &eco.credential_stores {
            check(cx, slug_problem(&store.name), *file, &store.name, &|cx| {
                cx.paths.ecosystem_child(ObjectKind::CredentialStore, &store.name, store.span.value)
            });
        }
        for zone in &eco.zones {
            check(cx, slug_problem(&zone.name), *file, &zone.name, &|cx| cx.paths.zone(&zone.name));
        }
    }
    for zone in &model.zones {
        for team in &zone.teams {
            check(cx, slug_problem(&team.name), zone.file, &team.name, &|cx| {
                cx.paths.team(&zone.scope.zone, &team.name)
            });
        }
    }
    for team in &model.teams {
        let folder = team.scope.team.as_deref().unwrap_or_default();
        for container in &team.containers {
            check(cx, slug_problem(&container.name), team.file, &container.name, &|cx| {
                cx.paths.container(&team.scope.zone, folder, &container.name, team.file, container.span.value)
            });
        }
    }
    for store in &model.datastores {
        check(cx, sql_identifier_problem(&store.name), store.file, &store.name, &|cx| cx.paths.datastore(store));
        for dataset in &store.datasets {
            check(cx, sql_identifier_problem(&dataset.name), store.file, &dataset.name, &|cx| {
                cx.paths.dataset(store, dataset)
            });
            for column in dataset.schema.iter().flat_map(|s| &s.columns.value) {
                check(cx, sql_identifier_problem(&column.name), store.file, &column.name, &|cx| {
                    cx.paths.column(store, dataset, column)
                });
            }
        }
    }
    for workspace in &model.workspaces {
        check(cx, sql_identifier_problem(&workspace.name), workspace.file, &workspace.name, &|cx| {
            cx.paths.workspace(workspace)
        });
        for group in &workspace.dataset_groups {
            check(cx, sql_identifier_problem(&group.name), workspace.file, &group.name, &|cx| {
                cx.paths.group(workspace, group)
            });
        }
    }
}

/// Tracks names in one scope; `case_insensitive` for SQL names, which databases fold.
///
/// Small scopes (most datasets' columns) are scanned linearly: a model of millions of
/// datasets would otherwise build millions of hash maps.
struct Seen<'m> {
    case_insensitive: bool,
    small: Vec<(std::borrow::Cow<'m, str>, FileId, Pos)>,
    large: HashMap<std::borrow::Cow<'m, str>, (FileId, Pos)>,
}

const SMALL_SCOPE: usize = 32;

impl<'m> Seen<'m> {
    fn new(case_insensitive: bool) -> Seen<'m> {
        Seen { case_insensitive, small: Vec::new(), large: HashMap::new() }
    }

    /// The first place of an earlier object with the same name, if any.
    fn add(&mut self, name: &'m str, file: FileId, pos: Pos) -> Option<(FileId, Pos)> {
        let key = if self.case_insensitive && name.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(name.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        if self.large.is_empty() {
            if let Some((_, file, pos)) = self.small.iter().find(|(k, ..)| *k == key) {
                return Some((*file, *pos));
            }
            if self.small.len() < SMALL_SCOPE {
                self.small.push((key, file, pos));
                return None;
            }
            self.large = self.small.drain(..).map(|(k, f, p)| (k, (f, p))).collect();
        }
        match self.large.entry(key) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert((file, pos));
                None
            }
        }
    }
}

fn duplicate(cx: &mut Ctx<'_>, what: &str, name: &Name, file: FileId, first: (FileId, Pos), path: Vec<ObjectRef>) {
    let first_at = format!("{}:{}", cx.model.path(first.0), first.1.line);
    let message = format!("{what} `{name}` is defined twice; the first is at {first_at}");
    let problem = cx.report(Rule::NameDuplicate, file, name.span.value, message, path);
    problem.detail = format!("{what} {name}");
    problem.help = Some(format!("Rename or remove one of the two; {what} names must be unique{}.", scope_words(what)));
}

fn scope_words(what: &str) -> &'static str {
    match what {
        "datastore" | "workspace" => " in the whole ecosystem (names differing only in case collide)",
        "dataset" => " within a datastore (names differing only in case collide)",
        "column" => " within a dataset (names differing only in case collide)",
        "dataset group" => " within a workspace",
        "team" => " within a zone",
        "container" => " within a team",
        _ => "",
    }
}

pub(super) fn duplicates(cx: &mut Ctx<'_>) {
    let model = cx.model;
    if let Some((file, eco)) = &model.ecosystem {
        let file = *file;
        for (what, kind, names) in [
            ("vendor", ObjectKind::Vendor, eco.vendors.iter().map(|v| &v.name).collect::<Vec<_>>()),
            ("platform", ObjectKind::Platform, eco.platforms.iter().map(|p| &p.name).collect()),
            ("credential store", ObjectKind::CredentialStore, eco.credential_stores.iter().map(|c| &c.name).collect()),
            ("zone", ObjectKind::Zone, eco.zones.iter().map(|z| &z.name).collect()),
        ] {
            let mut seen = Seen::new(false);
            for name in names {
                if let Some(first) = seen.add(&name.value, file, name.span.value) {
                    let path = cx.paths.ecosystem_child(kind, name, name.span.value);
                    duplicate(cx, what, name, file, first, path);
                }
            }
        }
    }
    for zone in &model.zones {
        let mut seen = Seen::new(false);
        for team in &zone.teams {
            if let Some(first) = seen.add(&team.name.value, zone.file, team.name.span.value) {
                let path = cx.paths.team(&zone.scope.zone, &team.name);
                duplicate(cx, "team", &team.name, zone.file, first, path);
            }
        }
    }
    for team in &model.teams {
        let mut seen = Seen::new(false);
        let folder = team.scope.team.as_deref().unwrap_or_default();
        for container in &team.containers {
            if let Some(first) = seen.add(&container.name.value, team.file, container.name.span.value) {
                let path =
                    cx.paths.container(&team.scope.zone, folder, &container.name, team.file, container.span.value);
                duplicate(cx, "container", &container.name, team.file, first, path);
            }
        }
    }
    let mut stores = Seen::new(true);
    for store in &model.datastores {
        if let Some(first) = stores.add(&store.name.value, store.file, store.name.span.value) {
            let path = cx.paths.datastore(store);
            duplicate(cx, "datastore", &store.name, store.file, first, path);
        }
        let mut datasets = Seen::new(true);
        for dataset in &store.datasets {
            if let Some(first) = datasets.add(&dataset.name.value, store.file, dataset.name.span.value) {
                let path = cx.paths.dataset(store, dataset);
                duplicate(cx, "dataset", &dataset.name, store.file, first, path);
            }
            let mut columns = Seen::new(true);
            for column in dataset.schema.iter().flat_map(|s| &s.columns.value) {
                if let Some(first) = columns.add(&column.name.value, store.file, column.name.span.value) {
                    let path = cx.paths.column(store, dataset, column);
                    duplicate(cx, "column", &column.name, store.file, first, path);
                }
            }
        }
    }
    let mut workspaces = Seen::new(true);
    for workspace in &model.workspaces {
        if let Some(first) = workspaces.add(&workspace.name.value, workspace.file, workspace.name.span.value) {
            let path = cx.paths.workspace(workspace);
            duplicate(cx, "workspace", &workspace.name, workspace.file, first, path);
        }
        let mut groups = Seen::new(true);
        for group in &workspace.dataset_groups {
            if let Some(first) = groups.add(&group.name.value, workspace.file, group.name.span.value) {
                let path = cx.paths.group(workspace, group);
                duplicate(cx, "dataset group", &group.name, workspace.file, first, path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_for_binary_search() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn seen_switches_to_a_map_without_losing_names() {
        let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let mut seen = Seen::new(true);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(seen.add(name, FileId(0), Pos::new(i as u32 + 1, 1)), None);
        }
        assert_eq!(seen.add("C5", FileId(0), Pos::new(500, 1)), Some((FileId(0), Pos::new(6, 1))));
        assert_eq!(seen.add("c99", FileId(0), Pos::new(501, 1)), Some((FileId(0), Pos::new(100, 1))));
    }

    #[test]
    fn identifiers() {
        assert_eq!(sql_identifier_problem("customers"), None);
        assert_eq!(sql_identifier_problem("Order_Lines2"), None);
        assert!(sql_identifier_problem("order").unwrap().contains("reserved"));
        assert!(sql_identifier_problem("2fast").unwrap().contains("not a SQL identifier"));
        assert!(sql_identifier_problem("my-table").is_some());
        assert!(sql_identifier_problem(&"a".repeat(129)).is_some());
        assert_eq!(slug_problem("nw-kafka"), None);
        assert!(slug_problem("bad name").is_some());
        assert!(slug_problem("a:b").is_some());
    }
}
