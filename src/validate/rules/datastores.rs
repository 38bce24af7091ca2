//! Datastores and their schemas: capture, cron, keys, column types and classifications.

use crate::model::{CaptureKind, ContainerKind, Dataset, Datastore, Placed, Trigger};
use crate::rules::Rule;
use crate::validate::Ctx;

/// Local: the rules of one datastore.
pub(super) fn datastore(cx: &mut Ctx<'_>, store: &Placed<Datastore>) {
    capture(cx, store);
    for dataset in &store.datasets {
        schema(cx, store, dataset);
        classifications(cx, store, dataset);
    }
}

fn capture(cx: &mut Ctx<'_>, store: &Placed<Datastore>) {
    let Some(capture) = &store.capture else { return };
    let team = store.scope.team.as_deref().unwrap_or_default();
    if let Some(container) = cx.index.container(&store.scope.zone, team, &capture.container) {
        let fits = match capture.kind.value {
            CaptureKind::Kafka => container.kind.value == ContainerKind::Kafka,
            CaptureKind::SqlSnapshot | CaptureKind::Cdc => container.kind.value.is_database(),
            CaptureKind::Transformer => true,
        };
        if !fits {
            let capture_kind = match capture.kind.value {
                CaptureKind::Kafka => "a kafka capture reads a kafka container",
                _ => "a sql-snapshot or cdc capture reads a database container",
            };
            let message = format!(
                "container `{}` is a {} container, but {capture_kind}",
                capture.container,
                format!("{:?}", container.kind.value).to_lowercase()
            );
            let path = cx.paths.datastore(store);
            cx.report(Rule::CaptureContainerKind, store.file, capture.container.span.value, message, path).detail =
                capture.container.to_string();
        }
    }
    // Topics name Kafka topics; a mapping says how change events are shaped, which a kafka
    // capture and a cdc capture (Debezium is a CDC format) both read.
    let ignored = [
        (capture.kind.value != CaptureKind::Kafka)
            .then_some(())
            .and(capture.topics.as_ref().map(|t| ("topics", "kafka", t.span.key))),
        (!matches!(capture.kind.value, CaptureKind::Kafka | CaptureKind::Cdc))
            .then_some(())
            .and(capture.mapping.as_ref().map(|m| ("mapping", "kafka and cdc", m.span.key))),
    ];
    for (field, kinds, pos) in ignored.into_iter().flatten() {
        let message = format!("`{field}` only applies to {kinds} captures and is ignored here");
        let path = cx.paths.datastore(store);
        cx.report(Rule::CaptureKafkaOnly, store.file, pos, message, path).detail = field.to_string();
    }
    if let Some(Trigger::Cron { cron, .. }) = &capture.trigger
        && let Err(message) = check_cron(&cron.value)
    {
        let path = cx.paths.datastore(store);
        let problem = cx.report(Rule::CronInvalid, store.file, cron.span.value, message, path);
        problem.detail = cron.to_string();
        problem.help =
            Some("Write five fields: minute hour day-of-month month day-of-week, e.g. `*/5 * * * *`.".into());
    }
}

fn schema(cx: &mut Ctx<'_>, store: &Placed<Datastore>, dataset: &Dataset) {
    let Some(schema) = &dataset.schema else { return };
    let columns = &schema.columns.value;
    let find = |name: &str| columns.iter().find(|c| crate::model::same_ident(&c.name.value, name));
    for (list, what) in [(&schema.primary_key, "primary-key"), (&schema.partition_by, "partition")] {
        for key in list.iter().flat_map(|l| &l.value) {
            match find(&key.value) {
                None => {
                    let suggestion = crate::suggest::did_you_mean(&key.value, columns.iter().map(|c| &*c.name.value));
                    let message =
                        format!("{what} column `{key}` is not a column of dataset `{}`{suggestion}", dataset.name);
                    let path = cx.paths.dataset(store, dataset);
                    cx.report(Rule::SchemaUnknownColumn, store.file, key.span.value, message, path).detail =
                        format!("{what} {key}");
                }
                Some(column) if what == "primary-key" && column.is_nullable() => {
                    let message = format!("primary-key column `{}` is nullable", column.name);
                    let pos = column.nullable.as_ref().map_or(column.name.span.value, |n| n.span.value);
                    let path = cx.paths.column(store, dataset, column);
                    let problem = cx.report(Rule::SchemaNullableKey, store.file, pos, message, path);
                    problem.help =
                        Some("Add `nullable: false` to the column (columns are nullable by default).".into());
                }
                Some(_) => {}
            }
        }
    }
    for column in columns {
        let problem = match &column.ty.value {
            Err(error) => Some(match &error.suggestion {
                Some(suggestion) => {
                    format!("`{}` is not a column type: {}; did you mean `{suggestion}`?", error.text, error.reason)
                }
                None => format!("`{}` is not a column type: {}", error.text, error.reason),
            }),
            Ok(ty) => ty.sanity_problems(),
        };
        if let Some(message) = problem {
            let path = cx.paths.column(store, dataset, column);
            let problem = cx.report(Rule::ColumnTypeInvalid, store.file, column.ty.span.value, message, path);
            problem.help = Some(format!("Column types are: {}.", crate::model::TYPE_NAMES.join(", ")));
        }
    }
}

fn classifications(cx: &mut Ctx<'_>, store: &Placed<Datastore>, dataset: &Dataset) {
    let columns = dataset.schema.as_ref().map(|s| &s.columns.value[..]).unwrap_or_default();
    let dataset_level = dataset.classifications.as_ref().filter(|c| !c.value.is_empty());
    let classified_column = |c: &&crate::model::Column| c.classifications.as_ref().is_some_and(|l| !l.value.is_empty());
    if let Some(level) = dataset_level {
        if let Some(column) = columns.iter().find(classified_column) {
            let message = format!(
                "dataset `{}` is classified at dataset level (line {}) and per column (`{}`)",
                dataset.name, level.span.key.line, column.name
            );
            let pos = column.classifications.as_ref().map_or(column.span.value, |c| c.span.key);
            let path = cx.paths.dataset(store, dataset);
            cx.report(Rule::ClassificationBothLevels, store.file, pos, message, path).help =
                Some("Classify the whole dataset, or each column, not both.".into());
        }
        return;
    }
    let n_classified = columns.iter().filter(classified_column).count();
    if !columns.is_empty() && n_classified == columns.len() {
        return;
    }
    let production = store.is_production();
    let rule = if production { Rule::ClassificationMissing } else { Rule::ClassificationNone };
    if n_classified == 0 {
        let message = if production {
            format!("dataset `{}` of production datastore `{}` is not classified", dataset.name, store.name)
        } else {
            format!("dataset `{}` is not classified", dataset.name)
        };
        let path = cx.paths.dataset(store, dataset);
        cx.report(rule, store.file, dataset.name.span.value, message, path).help =
            Some("Add `classifications: [...]` to the dataset, or to every column.".into());
        return;
    }
    for column in columns.iter().filter(|c| !classified_column(c)) {
        let message = format!(
            "column `{}` is not classified, though other columns of dataset `{}` are",
            column.name, dataset.name
        );
        let path = cx.paths.column(store, dataset, column);
        cx.report(rule, store.file, column.name.span.value, message, path).help =
            Some("Add `classifications: [...]` to the column.".into());
    }
}

/// Checks a five-field cron expression; the error names the field at fault.
pub fn check_cron(cron: &str) -> Result<(), String> {
    const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        ("day-of-week", 0, 7, &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ];
    let parts: Vec<&str> = cron.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!("cron `{cron}` has {} fields, not 5", parts.len()));
    }
    for (part, (field, min, max, names)) in parts.iter().zip(FIELDS) {
        let first = if field == "month" { 1 } else { 0 };
        let value = |text: &str| -> Option<u32> {
            if let Ok(n) = text.parse::<u32>() {
                return (min..=max).contains(&n).then_some(n);
            }
            let upper = text.to_ascii_uppercase();
            names.iter().position(|n| *n == upper).map(|i| i as u32 + first)
        };
        let bad =
            || format!("cron field {field} `{part}` is not valid (allowed {min}-{max}, `*`, ranges, lists and steps)");
        for item in part.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            if let Some(step) = step
                && !step.parse::<u32>().is_ok_and(|s| s >= 1 && s <= max.max(1))
            {
                return Err(bad());
            }
            if range == "*" {
                continue;
            }
            match range.split_once('-') {
                Some((low, high)) => match (value(low), value(high)) {
                    (Some(low), Some(high)) if low <= high => {}
                    _ => return Err(bad()),
                },
                None => {
                    if value(range).is_none() {
                        return Err(bad());
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_cron;

    #[test]
    fn cron() {
        for ok in
            ["*/5 * * * *", "0 0 * * *", "0,30 8-18 * JAN-MAR MON-FRI", "15 2 1 */2 0", "0 0 * * 7", "5/15 * * * *"]
        {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
        assert!(check_cron("* * * *").unwrap_err().contains("4 fields"));
        assert!(check_cron("60 * * * *").unwrap_err().contains("minute"));
        assert!(check_cron("* 24 * * *").unwrap_err().contains("hour"));
        assert!(check_cron("* * 0 * *").unwrap_err().contains("day-of-month"));
        assert!(check_cron("* * * 13 *").unwrap_err().contains("month"));
        assert!(check_cron("* * * * 8").unwrap_err().contains("day-of-week"));
        assert!(check_cron("*/0 * * * *").is_err());
        assert!(check_cron("5-1 * * * *").is_err());
        assert!(check_cron("@daily").is_err());
    }
}
