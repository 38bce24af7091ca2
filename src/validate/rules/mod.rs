//! The lint rules, one file per family. Each is a plain function over the context.
//!
//! Rules are either *local*, about one datastore and computable from its file, its team and
//! its zone alone (names, schema, types, classifications, capture), or *global*, needing the
//! whole model (references between folders, uniqueness, policies of data flow, sinks). Local
//! problems can be cached per team folder; a summarized datastore (see `load`) brings its local
//! problems along and only takes part in the global rules.

mod containers;
mod datastores;
mod files;
mod names;
mod owners;
mod policies;
mod references;
mod sinks;

use super::{Ctx, Index, Paths};
use crate::model::{Datastore, Model, Placed};
use crate::problem::Problem;

/// Runs every rule: returns the global problems and the local problems of the datastores
/// that are not summarized. The global families run in two halves on two threads, and the
/// local rules on every core beside them.
pub(super) fn run(model: &Model, index: &Index<'_>) -> (Vec<Problem>, Vec<Problem>) {
    let full: Vec<&Placed<Datastore>> =
        model.datastores.iter().filter(|s| model.files[s.file.0 as usize].parsed.cached_local.is_none()).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(2, 8);
    let chunk = full.len().div_ceil(threads).max(1);
    let mut chunks = full.chunks(chunk);
    let own = chunks.next().unwrap_or_default();
    let second = chunks.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let helper = scope.spawn(move || {
            let mut cx = Ctx { model, index, paths: Paths::new(model), problems: Vec::new() };
            global_second_half(&mut cx);
            (cx.problems, local(model, index, second))
        });
        let workers: Vec<_> = chunks.map(|part| scope.spawn(move || local(model, index, part))).collect();
        let mut cx = Ctx { model, index, paths: Paths::new(model), problems: Vec::new() };
        global_first_half(&mut cx);
        let mut local_problems = local(model, index, own);
        // A panic in a rule is a bug: let it reach the binary's handler as if it happened here.
        let (global_problems, helper_local) = helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        cx.problems.extend(global_problems);
        local_problems.extend(helper_local);
        for worker in workers {
            local_problems.extend(worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        (cx.problems, local_problems)
    })
}

pub(super) fn local(model: &Model, index: &Index<'_>, stores: &[&Placed<Datastore>]) -> Vec<Problem> {
    let mut cx = Ctx { model, index, paths: Paths::new(model), problems: Vec::new() };
    for store in stores {
        names::datastore_names(&mut cx, store);
        references::capture(&mut cx, store);
        datastores::datastore(&mut cx, store);
        policies::datastore_classifications(&mut cx, store);
    }
    cx.problems
}

fn global_first_half(cx: &mut Ctx<'_>) {
    files::file_problems(cx);
    files::layout(cx);
    names::invalid(cx);
    names::duplicates(cx);
    owners::owners(cx);
    references::references(cx);
    references::credentials(cx);
    references::locations(cx);
    containers::containers(cx);
}

fn global_second_half(cx: &mut Ctx<'_>) {
    policies::policies(cx);
    sinks::sinks(cx);
}
