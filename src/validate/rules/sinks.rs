//! Sinks: consuming deprecated datasets (`sink.deprecated`, `sink.deprecated-allowed`) and
//! production workspaces on non-production data (`sink.not-production`).

use crate::rules::Rule;
use crate::validate::Ctx;

pub(super) fn sinks(cx: &mut Ctx<'_>) {
    let model = cx.model;
    let index = cx.index;
    for (w, workspace) in model.workspaces.iter().enumerate() {
        let mut targets = index.sink_targets(w).iter();
        for group in &workspace.dataset_groups {
            for (sink, target) in group.sinks.iter().zip(&mut targets) {
                let (Some(store), Some(dataset)) = (target.store, target.dataset) else { continue };
                let deprecated = match (&store.deprecated, &dataset.deprecated) {
                    (Some(d), _) => Some((format!("datastore `{}`", store.name), d)),
                    (None, Some(d)) => Some((format!("dataset `{}/{}`", store.name, dataset.name), d)),
                    (None, None) => None,
                };
                if let Some((what, deprecation)) = deprecated {
                    let reason = deprecation.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
                    let (rule, message, help) = if sink.allows_deprecations() {
                        (
                            Rule::SinkDeprecatedAllowed,
                            format!("workspace `{}` consumes {what}, which is deprecated{reason}", workspace.name),
                            "Plan a move to its replacement before it is removed.",
                        )
                    } else {
                        (
                            Rule::SinkDeprecated,
                            format!(
                                "workspace `{}` consumes {what}, which is deprecated{reason}, and its sink does not allow deprecations",
                                workspace.name
                            ),
                            "Move to a replacement dataset, or accept the deprecation with `deprecationsAllowed: allowed`.",
                        )
                    };
                    let path = cx.paths.sink(workspace, group, sink);
                    cx.report(rule, workspace.file, sink.span.value, message, path).help = Some(help.into());
                }
                // A datastore whose file has errors may have meant `production` (a mistyped
                // `productionStatus` reads as not production): its file's problem says enough.
                let store_unclear = cx.model.files[store.file.0 as usize]
                    .parsed
                    .problems
                    .iter()
                    .any(|p| p.rule.default_severity() == crate::problem::Severity::Error);
                if workspace.is_production() && !store.is_production() && !store_unclear {
                    let message = format!(
                        "production workspace `{}` consumes datastore `{}`, which is not production",
                        workspace.name, store.name
                    );
                    let path = cx.paths.sink(workspace, group, sink);
                    cx.report(Rule::SinkNotProduction, workspace.file, sink.span.value, message, path).help = Some(
                        "Consume a production datastore, or mark this workspace `productionStatus: not-production`."
                            .into(),
                    );
                }
            }
        }
    }
}
