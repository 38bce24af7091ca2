//! Problems met while reading files, and the layout rules that need the whole model:
//! `layout.name-mismatch` and `authz.undeclared`.

use std::collections::BTreeMap;

use crate::model::layout::{Classified, classify};
use crate::model::{FileId, Pos, Scope};
use crate::problem::Problem;
use crate::rules::Rule;
use crate::validate::Ctx;

/// Turns every `FileProblem` into a `Problem` located in its file.
pub(super) fn file_problems(cx: &mut Ctx<'_>) {
    for (index, file) in cx.model.files.iter().enumerate() {
        if file.parsed.problems.is_empty() {
            continue;
        }
        let id = FileId(index as u32);
        let scope = scope_of(cx, id);
        let path = cx.paths.file(scope.as_ref(), id);
        for problem in &file.parsed.problems {
            // File problems have no object of their own to anchor a fingerprint; the message is
            // the most stable detail there is.
            let mut reported =
                Problem::new(problem.rule, problem.message.clone(), cx.at(id, problem.pos), path.clone())
                    .detail(problem.message.clone());
            reported.help = problem.help.clone();
            cx.problems.push(reported);
        }
    }
}

fn scope_of(cx: &Ctx<'_>, file: FileId) -> Option<Scope> {
    let path = cx.model.path(file);
    let rel =
        if cx.model.root.is_empty() { path } else { path.strip_prefix(cx.model.root.as_str())?.strip_prefix('/')? };
    match classify(rel) {
        Classified::Model { zone: Some(zone), team, .. } => Some(Scope { zone, team }),
        _ => None,
    }
}

pub(super) fn layout(cx: &mut Ctx<'_>) {
    let model = cx.model;
    // `lint` refuses a folder without ecosystem.yaml before reading it; a check's head may
    // have lost it, which leaves the model's other files without their root.
    let ecosystem =
        if model.root.is_empty() { "ecosystem.yaml".to_string() } else { format!("{}/ecosystem.yaml", model.root) };
    if !model.files.is_empty() && !model.files.iter().any(|f| *f.path == *ecosystem) {
        let message =
            format!("the model has {} files but no {ecosystem}, which declares its owner and zones", model.files.len());
        let mut problem = Problem::new(Rule::LayoutEcosystemMissing, message, None, cx.paths.ecosystem())
            .help("Restore ecosystem.yaml at the model root, or remove the whole model.");
        problem.detail = "ecosystem.yaml".into();
        cx.problems.push(problem);
    }
    for zone in &model.zones {
        if *zone.name.value != *zone.scope.zone {
            let message = format!("zone `{}` is defined in folder `zones/{}/`", zone.name, zone.scope.zone);
            let path = cx.paths.zone(&zone.scope.zone);
            cx.report(Rule::LayoutNameMismatch, zone.file, zone.name.span.value, message, path).help =
                Some(format!("Rename the folder to `zones/{}/`, or the zone to `{}`.", zone.name, zone.scope.zone));
        }
    }
    for team in &model.teams {
        let folder = team.scope.team.as_deref().unwrap_or_default();
        if *team.name.value != *folder {
            let message = format!("team `{}` is defined in folder `teams/{folder}/`", team.name);
            let path = cx.paths.team(&team.scope.zone, folder);
            cx.report(Rule::LayoutNameMismatch, team.file, team.name.span.value, message, path).help =
                Some(format!("Rename the folder to `teams/{}/`, or the team to `{folder}`.", team.name));
        }
    }
    undeclared(cx);
}

/// Every zone and team folder that holds a file must be declared by its parent.
fn undeclared(cx: &mut Ctx<'_>) {
    let model = cx.model;
    // The first file of each zone folder and of each team folder, preferring the definition.
    let mut zones: BTreeMap<&str, (FileId, Pos)> = BTreeMap::new();
    let mut teams: BTreeMap<(&str, &str), (FileId, Pos)> = BTreeMap::new();
    for zone in &model.zones {
        zones.insert(&zone.scope.zone, (zone.file, zone.name.span.value));
    }
    for team in &model.teams {
        if let Some(name) = &team.scope.team {
            teams.insert((&team.scope.zone, name), (team.file, team.name.span.value));
        }
    }
    let objects = model.datastores.iter().map(|s| (&s.scope, s.file, s.span.value));
    let objects = objects.chain(model.workspaces.iter().map(|w| (&w.scope, w.file, w.span.value)));
    for (scope, file, pos) in objects {
        zones.entry(&scope.zone).or_insert((file, pos));
        if let Some(team) = &scope.team {
            teams.entry((&scope.zone, team)).or_insert((file, pos));
        }
    }
    let has_ecosystem = model.ecosystem.is_some();
    for (zone, (file, pos)) in zones {
        if has_ecosystem && !cx.index.zone_declarations.contains_key(zone) {
            let message = format!("zone `{zone}` is not declared in ecosystem.yaml");
            let path = cx.paths.zone(zone);
            cx.report(Rule::AuthzUndeclared, file, pos, message, path).help = Some(format!(
                "The ecosystem owner declares the zone first: add `{{name: {zone}, owner: ...}}` to `zones:` in ecosystem.yaml."
            ));
        }
    }
    for ((zone, team), (file, pos)) in teams {
        // Without a zone definition the zone's own problem says enough.
        if cx.index.zones.contains_key(zone) && cx.index.team_declaration(zone, team).is_none() {
            let message = format!("team `{team}` is not declared in zones/{zone}/zone.yaml");
            let path = cx.paths.team(zone, team);
            cx.report(Rule::AuthzUndeclared, file, pos, message, path).help = Some(format!(
                "The zone owner declares the team first: add `{{name: {team}, owner: ...}}` to `teams:` in zone.yaml."
            ));
        }
    }
}
