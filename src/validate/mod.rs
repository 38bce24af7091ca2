//! Lint: every rule that a single model implies, producing problems with spans.
//!
//! `lint` builds an `Index` of names once (hash maps, no scans), then runs each rule family
//! over the model. Rules report facts; severities come from the policy pack.
//! Architecture Invariant: validate reads one model and knows nothing of git, base revisions
//! or change sources.

mod index;
mod paths;
mod rules;

pub use index::Index;
pub use paths::Paths;

use crate::model::{FileId, Model, Pos};
use crate::problem::{Location, ObjectRef, Problem};
use crate::rules::Rule;

/// Lints a model: the problems found while reading its files, then every lint rule.
pub fn lint(model: &Model) -> Vec<Problem> {
    lint_detailed(model).problems
}

/// What lint found, and the local problems it computed itself (for the folder cache).
pub struct Lint {
    /// Every problem, with owners, sorted.
    pub problems: Vec<Problem>,
    /// The local problems of datastores that were not summarized, with full object paths.
    pub fresh_local: Vec<Problem>,
}

pub fn lint_detailed(model: &Model) -> Lint {
    crate::progress::phase("linting", 0);
    let mut timer = crate::timing::Timer::new();
    let index = Index::new(model);
    timer.mark("index");
    let (mut problems, fresh_local) = rules::run(model, &index);
    timer.mark("rules");
    problems.extend(cached_local(model));
    problems.extend(fresh_local.iter().cloned());
    assign_owners(model, &mut problems);
    sort(&mut problems);
    Lint { problems, fresh_local }
}

/// The local problems that summarized files carry, placed under their zone and team again.
fn cached_local(model: &Model) -> Vec<Problem> {
    let paths = Paths::new(model);
    let mut out = Vec::new();
    for file in &model.files {
        let Some(cached) = file.parsed.cached_local.as_ref().filter(|c| !c.is_empty()) else { continue };
        let rel = if model.root.is_empty() {
            &*file.path
        } else {
            file.path.strip_prefix(&format!("{}/", model.root)).unwrap_or(&file.path)
        };
        let prefix = match crate::model::layout::classify(rel) {
            crate::model::layout::Classified::Model { zone: Some(zone), team, .. } => {
                paths.scope(&crate::model::Scope { zone, team })
            }
            _ => paths.ecosystem(),
        };
        for problem in cached.iter() {
            let mut problem = problem.clone();
            problem.path = prefix.iter().cloned().chain(problem.path).collect();
            out.push(problem);
        }
    }
    out
}

/// The local problems of `stores` (datastores of `model`), with object paths from the
/// datastore down, as a folder summary keeps them. `index` may be of another model that
/// holds the same ecosystem, zones and teams (a loader's frame).
pub fn local_problems(
    model: &Model,
    index: &Index<'_>,
    stores: &[&crate::model::Placed<crate::model::Datastore>],
) -> Vec<Problem> {
    rules::local(model, index, stores).into_iter().map(relative_to_datastore).collect()
}

/// Strips a local problem's path down to the datastore and below, so that it can be cached
/// without the ecosystem, zone and team objects above it (which may change independently).
pub fn relative_to_datastore(mut problem: Problem) -> Problem {
    use crate::problem::ObjectKind;
    if let Some(at) = problem.path.iter().position(|o| o.kind == ObjectKind::Datastore) {
        problem.path.drain(..at);
    }
    problem.owner = None;
    problem
}

/// Names, on each problem without one, the owner of its object as `model` declares it: the
/// team's owner for anything in a team folder, the zone's for a zone, else the ecosystem's.
pub fn assign_owners(model: &Model, problems: &mut [Problem]) {
    use crate::problem::ObjectKind;
    let zone_declaration = |zone: &str| model.ecosystem().and_then(|e| e.zones.iter().find(|d| &*d.name.value == zone));
    let team_declaration =
        |zone: &str, team: &str| model.zone(zone).and_then(|z| z.value.teams.iter().find(|d| &*d.name.value == team));
    for problem in problems.iter_mut().filter(|p| p.owner.is_none()) {
        let team = problem.path.iter().find(|o| o.kind == ObjectKind::Team);
        let zone = problem.path.iter().find(|o| o.kind == ObjectKind::Zone);
        let owner = match (team, zone) {
            (Some(team), _) => {
                team.name.split_once('/').and_then(|(z, t)| team_declaration(z, t)).and_then(|d| d.owner.as_ref())
            }
            (None, Some(zone)) => zone_declaration(&zone.name).and_then(|d| d.owner.as_ref()),
            (None, None) => model.ecosystem().and_then(|e| e.owner.as_ref()),
        };
        problem.owner = owner.map(ToString::to_string);
    }
}

/// Orders problems by file and position, then rule: the order every report uses.
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        let key = |p: &Problem| p.location.as_ref().map(|l| (l.revision, l.file.clone(), l.pos));
        // Problems without a location (about the change as a whole) come first.
        key(a).cmp(&key(b)).then_with(|| a.rule.cmp(&b.rule)).then_with(|| a.message.cmp(&b.message))
    });
}

/// What every lint rule works with.
pub(crate) struct Ctx<'m> {
    pub model: &'m Model,
    pub index: &'m Index<'m>,
    pub paths: Paths<'m>,
    pub problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub fn at(&self, file: FileId, pos: Pos) -> Option<Location> {
        self.paths.at(file, pos)
    }

    pub fn report(
        &mut self,
        rule: Rule,
        file: FileId,
        pos: Pos,
        message: String,
        path: Vec<ObjectRef>,
    ) -> &mut Problem {
        let location = self.at(file, pos);
        self.problems.push(Problem::new(rule, message, location, path));
        let last = self.problems.len() - 1;
        &mut self.problems[last]
    }
}
