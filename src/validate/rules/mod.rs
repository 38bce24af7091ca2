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
    let mut t = crate::timing::Timer::new();
    files::file_problems(cx);
    files::layout(cx);
    t.mark("files");
    names::invalid(cx);
    t.mark("names.inv");
    names::duplicates(cx);
    t.mark("names.dup");
    owners::owners(cx);
    references::references(cx);
    t.mark("refs");
    references::locations(cx);
    containers::containers(cx);
    datastores::datastores(cx);
    t.mark("datastores");
    policies::policies(cx);
    t.mark("policies");
    sinks::sinks(cx);
    t.mark("sinks");
}
