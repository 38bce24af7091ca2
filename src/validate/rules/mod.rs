//! The lint rules, one file per family. Each is a plain function over the context.

mod containers;
mod datastores;
mod files;
mod names;
mod owners;
mod policies;
mod references;
mod sinks;

use super::Ctx;

/// Runs every family; the per-dataset families on a second thread, since lint of a big
/// model is dominated by walking millions of columns.
pub(super) fn run(cx: &mut Ctx<'_>) {
    let (model, index) = (cx.model, cx.index);
    let datasets = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let mut other = Ctx { model, index, paths: crate::validate::Paths::new(model), problems: Vec::new() };
            datastores::datastores(&mut other);
            policies::policies(&mut other);
            sinks::sinks(&mut other);
            other.problems
        });
        files::file_problems(cx);
        files::layout(cx);
        names::invalid(cx);
        names::duplicates(cx);
        owners::owners(cx);
        references::references(cx);
        references::locations(cx);
        containers::containers(cx);
        worker.join()
    });
    // A panic in a rule is a bug: let it reach the binary's handler as if it happened here.
    cx.problems.extend(datasets.unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
}
