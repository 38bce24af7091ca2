//! `name.invalid` and `name.duplicate`.

use crate::model::{Datastore, FileId, Name, Placed, Pos};
use crate::problem::{ObjectKind, ObjectRef};
use crate::rules::Rule;
use crate::validate::Ctx;

/// SQL reserved words (SQL:2016 and the common dialects) that cannot name a table or column.
/// A `matches!` over byte strings compiles to a decision on length and bytes: no search.
fn is_reserved_upper(word: &[u8]) -> bool {
    matches!(
        word,
        b"ALL"
            | b"ALTER"
            | b"AND"
            | b"ANY"
            | b"ARRAY"
            | b"AS"
            | b"ASC"
            | b"ASYMMETRIC"
            | b"AUTHORIZATION"
            | b"BETWEEN"
            | b"BINARY"
            | b"BOTH"
            | b"CASE"
            | b"CAST"
            | b"CHECK"
            | b"COLLATE"
            | b"COLUMN"
            | b"CONSTRAINT"
            | b"CREATE"
            | b"CROSS"
            | b"CURRENT_DATE"
            | b"CURRENT_ROLE"
            | b"CURRENT_TIME"
            | b"CURRENT_TIMESTAMP"
            | b"CURRENT_USER"
            | b"DEFAULT"
            | b"DEFERRABLE"
            | b"DELETE"
            | b"DESC"
            | b"DISTINCT"
            | b"DO"
            | b"DROP"
            | b"ELSE"
            | b"END"
            | b"EXCEPT"
            | b"EXISTS"
            | b"FALSE"
            | b"FETCH"
            | b"FOR"
            | b"FOREIGN"
            | b"FROM"
            | b"FULL"
            | b"GRANT"
            | b"GROUP"
            | b"HAVING"
            | b"IN"
            | b"INITIALLY"
            | b"INNER"
            | b"INSERT"
            | b"INTERSECT"
            | b"INTO"
            | b"IS"
            | b"JOIN"
            | b"LATERAL"
            | b"LEADING"
            | b"LEFT"
            | b"LIKE"
            | b"LIMIT"
            | b"LOCALTIME"
            | b"LOCALTIMESTAMP"
            | b"NATURAL"
            | b"NOT"
            | b"NULL"
            | b"OFFSET"
            | b"ON"
            | b"ONLY"
            | b"OR"
            | b"ORDER"
            | b"OUTER"
            | b"OVERLAPS"
            | b"PLACING"
            | b"PRIMARY"
            | b"REFERENCES"
            | b"RETURNING"
            | b"RIGHT"
            | b"SELECT"
            | b"SESSION_USER"
            | b"SIMILAR"
            | b"SOME"
            | b"SYMMETRIC"
            | b"TABLE"
            | b"THEN"
            | b"TO"
            | b"TRAILING"
            | b"TRUE"
            | b"UNION"
            | b"UNIQUE"
            | b"UPDATE"
            | b"USER"
            | b"USING"
            | b"VALUES"
            | b"VARIADIC"
            | b"WHEN"
            | b"WHERE"
            | b"WINDOW"
            | b"WITH"
    )
}

fn sql_identifier_problem(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let valid = bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.len() <= 128
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if !valid {
        return Some(format!(
            "`{name}` is not a SQL identifier: use a letter, then letters, digits or `_`, at most 128 characters"
        ));
    }
    if is_reserved(name) {
        return Some(format!("`{name}` is a reserved SQL word"));
    }
    None
}

fn is_reserved(name: &str) -> bool {
    const LONGEST: usize = 17;
    if name.len() > LONGEST || name.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut upper = [0u8; LONGEST];
    for (slot, byte) in upper.iter_mut().zip(name.bytes()) {
        *slot = byte.to_ascii_uppercase();
    }
    is_reserved_upper(&upper[..name.len()])
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

/// Local: names of one datastore, its datasets and their columns.
pub(super) fn datastore_names(cx: &mut Ctx<'_>, store: &Placed<Datastore>) {
    let check = |cx: &mut Ctx<'_>, problem: Option<String>, name: &Name, path: &dyn Fn(&Ctx<'_>) -> Vec<ObjectRef>| {
        if let Some(message) = problem {
            let path = path(cx);
            cx.report(Rule::NameInvalid, store.file, name.span.value, message, path).detail = name.to_string();
        }
    };
    check(cx, sql_identifier_problem(&store.name), &store.name, &|cx| cx.paths.datastore(store));
    for dataset in &store.datasets {
        check(cx, sql_identifier_problem(&dataset.name), &dataset.name, &|cx| cx.paths.dataset(store, dataset));
        for column in dataset.schema.iter().flat_map(|s| &s.columns.value) {
            check(cx, sql_identifier_problem(&column.name), &column.name, &|cx| {
                cx.paths.column(store, dataset, column)
            });
        }
    }
    let mut texts: Vec<&str> = store.datasets.iter().map(|d| &*d.name.value).collect();
    for (second, first) in find_duplicates(&texts, true) {
        let (dataset, first) = (&store.datasets.value[second], &store.datasets.value[first]);
        let path = cx.paths.dataset(store, dataset);
        duplicate(cx, "dataset", &dataset.name, store.file, (store.file, first.name.span.value), path);
    }
    for dataset in &store.datasets {
        let Some(schema) = &dataset.schema else { continue };
        texts.clear();
        texts.extend(schema.columns.iter().map(|c| &*c.name.value));
        for (second, first) in find_duplicates(&texts, true) {
            let (column, first) = (&schema.columns.value[second], &schema.columns.value[first]);
            let path = cx.paths.column(store, dataset, column);
            duplicate(cx, "column", &column.name, store.file, (store.file, first.name.span.value), path);
        }
    }
}

/// Lists of at most this many names are searched pair by pair.
const SMALL_DUPLICATE_SCAN: usize = 24;

/// The duplicates among `names`, as `(duplicate, first)` index pairs.
///
/// Names are hashed once (folding ASCII case for SQL names) and the hashes sorted, so the
/// cost is `n log n` integer comparisons; only names with equal hashes are compared as text,
/// and those by sorting too, so no choice of names makes it quadratic.
fn find_duplicates(names: &[&str], case_insensitive: bool) -> Vec<(usize, usize)> {
    if names.len() < 2 {
        return Vec::new();
    }
    let fold = |b: u8| if case_insensitive { b.to_ascii_lowercase() } else { b };
    // A dataset's columns and a datastore's datasets are a handful: comparing every pair
    // (lengths first) is cheaper than hashing and sorting, and allocates nothing.
    if names.len() <= SMALL_DUPLICATE_SCAN {
        let same = |a: &str, b: &str| a.len() == b.len() && a.bytes().map(fold).eq(b.bytes().map(fold));
        let mut found = Vec::new();
        for (second, name) in names.iter().enumerate() {
            if let Some(first) = names[..second].iter().position(|earlier| same(earlier, name)) {
                found.push((second, first));
            }
        }
        return found;
    }
    let mut keyed: Vec<(u64, u32)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in name.bytes() {
                hash = (hash ^ u64::from(fold(byte))).wrapping_mul(0x0100_0000_01b3);
            }
            (hash, i as u32)
        })
        .collect();
    keyed.sort_unstable();
    let compare = |a: &str, b: &str| a.bytes().map(fold).cmp(b.bytes().map(fold));
    let mut found = Vec::new();
    let mut start = 0;
    while start < keyed.len() {
        let end = start + keyed[start..].iter().take_while(|(h, _)| *h == keyed[start].0).count();
        if end - start > 1 {
            let mut run: Vec<usize> = keyed[start..end].iter().map(|(_, i)| *i as usize).collect();
            run.sort_unstable_by(|a, b| compare(names[*a], names[*b]).then(a.cmp(b)));
            let mut first = run[0];
            for pair in run.windows(2) {
                if compare(names[pair[0]], names[pair[1]]).is_eq() {
                    found.push((pair[1], first));
                } else {
                    first = pair[1];
                }
            }
        }
        start = end;
    }
    found
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
            let texts: Vec<&str> = names.iter().map(|n| &*n.value).collect();
            for (second, first) in find_duplicates(&texts, false) {
                let name = names[second];
                let path = cx.paths.ecosystem_child(kind, name, name.span.value);
                duplicate(cx, what, name, file, (file, names[first].span.value), path);
            }
        }
    }
    for zone in &model.zones {
        let texts: Vec<&str> = zone.teams.iter().map(|t| &*t.name.value).collect();
        for (second, first) in find_duplicates(&texts, false) {
            let (team, first) = (&zone.teams[second], &zone.teams[first]);
            let path = cx.paths.team(&zone.scope.zone, &team.name);
            duplicate(cx, "team", &team.name, zone.file, (zone.file, first.name.span.value), path);
        }
    }
    for team in &model.teams {
        let folder = team.scope.team.as_deref().unwrap_or_default();
        let texts: Vec<&str> = team.containers.iter().map(|c| &*c.name.value).collect();
        for (second, first) in find_duplicates(&texts, false) {
            let (container, first) = (&team.containers[second], &team.containers[first]);
            let path = cx.paths.container(&team.scope.zone, folder, &container.name, team.file, container.span.value);
            duplicate(cx, "container", &container.name, team.file, (team.file, first.name.span.value), path);
        }
    }
    let texts: Vec<&str> = model.datastores.iter().map(|s| &*s.name.value).collect();
    for (second, first) in find_duplicates(&texts, true) {
        let (store, first) = (&model.datastores[second], &model.datastores[first]);
        let path = cx.paths.datastore(store);
        duplicate(cx, "datastore", &store.name, store.file, (first.file, first.name.span.value), path);
    }
    let texts: Vec<&str> = model.workspaces.iter().map(|w| &*w.name.value).collect();
    for (second, first) in find_duplicates(&texts, true) {
        let (workspace, first) = (&model.workspaces[second], &model.workspaces[first]);
        let path = cx.paths.workspace(workspace);
        duplicate(cx, "workspace", &workspace.name, workspace.file, (first.file, first.name.span.value), path);
    }
    for workspace in &model.workspaces {
        let texts: Vec<&str> = workspace.dataset_groups.iter().map(|g| &*g.name.value).collect();
        for (second, first) in find_duplicates(&texts, true) {
            let (group, first) = (&workspace.dataset_groups[second], &workspace.dataset_groups[first]);
            let path = cx.paths.group(workspace, group);
            duplicate(cx, "dataset group", &group.name, workspace.file, (workspace.file, first.name.span.value), path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_point_at_the_first_occurrence() {
        assert_eq!(find_duplicates(&["a", "b", "A", "c", "a"], true), vec![(2, 0), (4, 0)]);
        assert_eq!(find_duplicates(&["a", "b", "A", "c", "a"], false), vec![(4, 0)]);
        assert_eq!(find_duplicates(&["x"], true), vec![]);
        // Past the pairwise scan, the hashed path finds the same pairs.
        let many: Vec<String> = (0..40).map(|i| format!("n{}", i % 30)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut found = find_duplicates(&many, true);
        found.sort_unstable();
        assert_eq!(found, (30..40).map(|i| (i, i - 30)).collect::<Vec<_>>());
        assert!(is_reserved("select") && is_reserved("SeLeCt") && is_reserved("current_timestamp"));
        assert!(!is_reserved("selected") && !is_reserved("a_very_long_column_name_indeed"));
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
