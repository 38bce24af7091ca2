//! Containers and credential stores: the fields each kind needs (`field.missing`) and valid
//! network addresses (`container.address-invalid`).

use crate::model::{ContainerKind, CredentialStoreKind, Pos};
use crate::problem::ObjectKind;
use crate::rules::Rule;
use crate::validate::Ctx;

pub(super) fn containers(cx: &mut Ctx<'_>) {
    let model = cx.model;
    if let Some((file, eco)) = &model.ecosystem {
        for store in &eco.credential_stores {
            let missing = match store.kind.value {
                CredentialStoreKind::Files if store.path.is_none() => Some("path"),
                CredentialStoreKind::Vault if store.address.is_none() => Some("address"),
                _ => None,
            };
            if let Some(field) = missing {
                let path = cx.paths.ecosystem_child(ObjectKind::CredentialStore, &store.name, store.span.value);
                let kind = format!("{:?}", store.kind.value).to_lowercase();
                let message = format!("a `{kind}` credential store needs `{field}`");
                cx.report(Rule::FieldMissing, *file, store.span.value, message, path).detail =
                    format!("{} {field}", store.name);
            }
        }
    }
    for team in &model.teams {
        let folder = team.scope.team.as_deref().unwrap_or_default();
        for container in &team.containers {
            let mut problems: Vec<(Rule, Pos, String)> = Vec::new();
            let kind = container.kind.value;
            if kind == ContainerKind::Kafka {
                match &container.bootstrap {
                    None => problems.push((
                        Rule::FieldMissing,
                        container.span.value,
                        "a kafka container needs `bootstrap: [\"host:port\"]`".into(),
                    )),
                    Some(list) if list.value.is_empty() => {
                        problems.push((Rule::FieldMissing, list.span.value, "`bootstrap` lists no broker".into()))
                    }
                    Some(list) => {
                        for broker in &list.value {
                            if let Some(problem) = host_port_problem(&broker.value) {
                                problems.push((Rule::ContainerAddressInvalid, broker.span.value, problem));
                            }
                        }
                    }
                }
            } else {
                let kind_name = format!("{kind:?}").to_lowercase();
                match &container.host {
                    None => problems.push((
                        Rule::FieldMissing,
                        container.span.value,
                        format!("a {kind_name} container needs `host`"),
                    )),
                    Some(host) => {
                        if let Some(problem) = host_problem(&host.value) {
                            problems.push((Rule::ContainerAddressInvalid, host.span.value, problem));
                        }
                    }
                }
                if container.database.is_none() {
                    problems.push((
                        Rule::FieldMissing,
                        container.span.value,
                        format!("a {kind_name} container needs `database`"),
                    ));
                }
            }
            if let Some(port) = &container.port
                && !(1..=65535).contains(&port.value)
            {
                problems.push((
                    Rule::ContainerAddressInvalid,
                    port.span.value,
                    format!("port {} is not between 1 and 65535", port.value),
                ));
            }
            for (rule, pos, message) in problems {
                let path =
                    cx.paths.container(&team.scope.zone, folder, &container.name, team.file, container.span.value);
                let detail = message.clone();
                cx.report(rule, team.file, pos, message, path).detail = detail;
            }
        }
    }
}

/// A problem with `host:port`, or `None` when it is valid.
pub fn host_port_problem(address: &str) -> Option<String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Some(format!("`{address}` is not `host:port`"));
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Some(problem) = host_problem(host) {
        return Some(problem);
    }
    match port.parse::<u32>() {
        Ok(1..=65535) => None,
        _ => Some(format!("`{port}` in `{address}` is not a port between 1 and 65535")),
    }
}

/// A problem with a host name or IP address, or `None` when it is valid.
pub fn host_problem(host: &str) -> Option<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() || host.len() > 253 || !trimmed.split('.').all(valid_label) {
        return Some(format!("`{host}` is not a valid host name or IP address"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(host_port_problem("kafka1:9092"), None);
        assert_eq!(host_port_problem("10.0.0.1:9092"), None);
        assert_eq!(host_port_problem("[::1]:9092"), None);
        assert!(host_port_problem("kafka1").is_some());
        assert!(host_port_problem("kafka1:0").is_some());
        assert!(host_port_problem("kafka1:70000").is_some());
        assert!(host_port_problem("bad host:1").is_some());
        assert_eq!(host_problem("pg.internal"), None);
        assert!(host_problem("-pg").is_some());
        assert!(host_problem("pg_internal").is_some());
        assert!(host_problem("").is_some());
    }
}
