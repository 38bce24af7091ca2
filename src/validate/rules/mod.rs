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

pub(super) fn run(cx: &mut Ctx<'_>) {
    files::file_problems(cx);
    files::layout(cx);
    names::invalid(cx);
    names::duplicates(cx);
    owners::owners(cx);
    references::references(cx);
    references::locations(cx);
    containers::containers(cx);
    datastores::datastores(cx);
    policies::policies(cx);
    sinks::sinks(cx);
}
