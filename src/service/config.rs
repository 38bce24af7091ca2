//! The settings of `datasurface serve` (SERVICE.md §1): a TOML file and/or the environment,
//! the environment winning; a setting ending in `_file` names a file holding a secret (its
//! surrounding whitespace trimmed), the bare environment variable holds the value itself.
//! Anything missing or contradictory is one error naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the settings cannot be used: the setting, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

fn error(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { setting: setting.to_string(), message: message.into() }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: String,
    pub work_dir: PathBuf,
    pub workers: usize,
    pub public_url: Option<String>,
    pub lease_seconds: u64,
    /// How long a shutdown waits for running checks before giving their leases back.
    pub shutdown_grace_seconds: u64,
    /// The longest a check may take; a check that takes longer ends `neutral`.
    pub check_timeout_seconds: u64,
    /// How long finished jobs, deliveries and report pages are kept.
    pub retention_days: u64,
    /// Attempts of a job before it is dead.
    pub max_attempts: u32,
    pub github: Option<GitHub>,
    pub gitlab: Option<GitLab>,
    /// What this process does: take webhooks, run jobs, or both.
    pub role: Role,
    /// Whether `/reports/{id}` pages are stored and served (and linked).
    pub reports: bool,
    /// The least time between two writes to one installation or project, in milliseconds.
    pub write_interval_ms: u64,
    /// How often the leader asks GitHub for failed deliveries to redeliver (0: never).
    pub sweep_minutes: u64,
    /// How often the leader reconciles open pull requests with our check runs (0: never).
    pub reconcile_minutes: u64,
    /// How often a replica tries to become the leader, and the leader checks it still is.
    pub leader_check_seconds: u64,
}

/// `--role`: `web` takes webhooks (and serves the pages), `worker` runs jobs and the
/// leader's duties, `all` both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Web,
    Worker,
    All,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "web" => Some(Role::Web),
            "worker" => Some(Role::Worker),
            "all" => Some(Role::All),
            _ => None,
        }
    }

    pub fn takes_webhooks(self) -> bool {
        self != Role::Worker
    }

    pub fn runs_jobs(self) -> bool {
        self != Role::Web
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Worker => "worker",
            Role::All => "all",
        }
    }
}

#[derive(Clone)]
pub struct GitHub {
    pub app_id: u64,
    pub private_key: String,
    pub webhook_secret: String,
    pub api_url: String,
    /// Organizations and users whose installations are served (empty: all), lower-cased.
    pub allowed_owners: Vec<String>,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub").field("app_id", &self.app_id).field("api_url", &self.api_url).finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct GitLab {
    pub url: String,
    pub token: Option<String>,
    pub webhook_secret: Option<String>,
    pub signing_token: Option<String>,
}

impl std::fmt::Debug for GitLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLab").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Every setting of the TOML file, as `section.key`, and its environment variable.
const SETTINGS: &[(&str, &str)] = &[
    ("listen", "DATASURFACE_LISTEN"),
    ("database", "DATASURFACE_DATABASE_URL"),
    ("work_dir", "DATASURFACE_WORK_DIR"),
    ("workers", "DATASURFACE_WORKERS"),
    ("public_url", "DATASURFACE_PUBLIC_URL"),
    ("lease_seconds", "DATASURFACE_LEASE_SECONDS"),
    ("shutdown_grace_seconds", "DATASURFACE_SHUTDOWN_GRACE_SECONDS"),
    ("check_timeout_seconds", "DATASURFACE_CHECK_TIMEOUT_SECONDS"),
    ("retention_days", "DATASURFACE_RETENTION_DAYS"),
    ("max_attempts", "DATASURFACE_MAX_ATTEMPTS"),
    ("role", "DATASURFACE_ROLE"),
    ("reports", "DATASURFACE_REPORTS"),
    ("write_interval_ms", "DATASURFACE_WRITE_INTERVAL_MS"),
    ("sweep_minutes", "DATASURFACE_SWEEP_MINUTES"),
    ("reconcile_minutes", "DATASURFACE_RECONCILE_MINUTES"),
    ("leader_check_seconds", "DATASURFACE_LEADER_CHECK_SECONDS"),
    ("github.allowed_owners", "DATASURFACE_GITHUB_ALLOWED_OWNERS"),
    ("github.app_id", "DATASURFACE_GITHUB_APP_ID"),
    ("github.private_key_file", "DATASURFACE_GITHUB_PRIVATE_KEY_FILE"),
    ("github.webhook_secret_file", "DATASURFACE_GITHUB_WEBHOOK_SECRET_FILE"),
    ("github.api_url", "DATASURFACE_GITHUB_API_URL"),
    ("gitlab.url", "DATASURFACE_GITLAB_URL"),
    ("gitlab.token_file", "DATASURFACE_GITLAB_TOKEN_FILE"),
    ("gitlab.webhook_secret_file", "DATASURFACE_GITLAB_WEBHOOK_SECRET_FILE"),
    ("gitlab.signing_token_file", "DATASURFACE_GITLAB_SIGNING_TOKEN_FILE"),
];

/// Where the raw values come from: the parsed file and the environment (tests pass their own).
pub struct Sources {
    file: std::collections::BTreeMap<String, String>,
    env: std::collections::BTreeMap<String, String>,
}

impl Sources {
    /// Reads the TOML file (if any) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Sources, ConfigError> {
        let env = std::env::vars().filter(|(k, _)| k.starts_with("DATASURFACE_")).collect();
        let file = match path {
            None => Default::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| error("--config", format!("cannot read {}: {e}", path.display())))?;
                flatten_toml(&text, path)?
            }
        };
        Ok(Sources { file, env })
    }

    pub fn from_parts(toml: &str, env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
        Ok(Sources {
            file: flatten_toml(toml, Path::new("settings.toml"))?,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        })
    }

    /// Sets a setting as a command-line flag does: over the file and the environment.
    pub fn set(&mut self, setting: &str, value: &str) {
        if let Some((_, var)) = SETTINGS.iter().find(|(s, _)| *s == setting) {
            self.env.insert(var.to_string(), value.to_string());
        }
    }

    /// A setting's value: the environment first, then the file; `None` when neither has it.
    fn get(&self, setting: &str) -> Option<(String, String)> {
        let var = SETTINGS.iter().find(|(s, _)| *s == setting).map(|(_, v)| *v)?;
        if let Some(value) = self.env.get(var) {
            return Some((value.clone(), var.to_string()));
        }
        self.file.get(setting).map(|v| (v.clone(), setting.to_string()))
    }

    /// A secret: `<setting>_file` (a path, from the file or the environment) or the bare
    /// environment variable (the value). Both at once is a contradiction.
    fn secret(&self, setting: &str) -> Result<Option<String>, ConfigError> {
        let file_setting = format!("{setting}_file");
        let var = SETTINGS
            .iter()
            .find(|(s, _)| *s == file_setting)
            .map(|(_, v)| v.trim_end_matches("_FILE"))
            .unwrap_or_default();
        let bare = self.env.get(var).cloned();
        let path = self.get(&file_setting);
        match (bare, path) {
            (Some(_), Some((_, from))) => {
                Err(error(&file_setting, format!("both {var} and {from} are set; set the secret one way only")))
            }
            (Some(value), None) => {
                let value = value.trim().to_string();
                if value.is_empty() { Err(error(var, "is empty")) } else { Ok(Some(value)) }
            }
            (None, Some((path, from))) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| error(&file_setting, format!("cannot read {path} (from {from}): {e}")))?;
                let text = text.trim().to_string();
                if text.is_empty() { Err(error(&file_setting, format!("{path} is empty"))) } else { Ok(Some(text)) }
            }
            (None, None) => Ok(None),
        }
    }

    fn number<T: std::str::FromStr>(&self, setting: &str, default: T) -> Result<T, ConfigError> {
        match self.get(setting) {
            None => Ok(default),
            Some((text, from)) => {
                text.trim().parse().map_err(|_| error(setting, format!("`{text}` (from {from}) is not a whole number")))
            }
        }
    }
}

/// The TOML file as `section.key` → value, refusing keys it does not know (with a suggestion).
fn flatten_toml(text: &str, path: &Path) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let table: toml::Table =
        text.parse().map_err(|e: toml::de::Error| error("--config", format!("{}: {}", path.display(), e.message())))?;
    let mut out = std::collections::BTreeMap::new();
    let mut add = |key: String, value: &toml::Value| -> Result<(), ConfigError> {
        if !SETTINGS.iter().any(|(s, _)| *s == key) {
            let suggestion = crate::suggest::did_you_mean(&key, SETTINGS.iter().map(|(s, _)| *s));
            return Err(error(&key, format!("unknown setting in {}{suggestion}", path.display())));
        }
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            // A list of names (`allowed_owners = ["acme", "octo"]`) reads as `acme,octo`.
            toml::Value::Array(items) if items.iter().all(|i| i.is_str()) => {
                items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(",")
            }
            other => return Err(error(&key, format!("must be text or a number, not {}", other.type_str()))),
        };
        out.insert(key, value);
        Ok(())
    };
    for (key, value) in &table {
        match value {
            toml::Value::Table(section) => {
                for (inner, value) in section {
                    add(format!("{key}.{inner}"), value)?;
                }
            }
            value => add(key.clone(), value)?,
        }
    }
    Ok(out)
}

impl Settings {
    pub fn from_sources(sources: &Sources) -> Result<Settings, ConfigError> {
        let listen_text = sources.get("listen").map_or_else(|| "127.0.0.1:8080".to_string(), |(v, _)| v);
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| error("listen", format!("`{listen_text}` is not an address such as 127.0.0.1:8080")))?;
        let work_dir =
            PathBuf::from(sources.get("work_dir").map_or_else(|| "./datasurface-data".to_string(), |(v, _)| v));
        let database = match sources.get("database") {
            Some((url, _)) => url,
            None => format!("sqlite://{}", work_dir.join("datasurface.db").display()),
        };
        if !(database.starts_with("sqlite://")
            || database.starts_with("postgres://")
            || database.starts_with("postgresql://"))
        {
            return Err(error("database", format!("`{database}` is neither sqlite://PATH nor postgres://…")));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers: usize = sources.number("workers", cores)?;
        if workers == 0 {
            return Err(error("workers", "must be at least 1"));
        }
        let lease_seconds: u64 = sources.number("lease_seconds", 30)?;
        if lease_seconds == 0 {
            return Err(error("lease_seconds", "must be at least 1"));
        }
        let public_url = sources.get("public_url").map(|(v, _)| v.trim_end_matches('/').to_string());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(error("public_url", format!("`{url}` is not an http(s) URL")));
        }
        let github = match sources.get("github.app_id") {
            None => {
                for setting in ["github.private_key_file", "github.webhook_secret_file"] {
                    if sources.secret(setting.trim_end_matches("_file"))?.is_some() {
                        return Err(error(
                            setting,
                            "is set, but github.app_id is not: set the App's id too, or neither",
                        ));
                    }
                }
                None
            }
            Some((id, from)) => {
                let app_id = id
                    .trim()
                    .parse()
                    .map_err(|_| error("github.app_id", format!("`{id}` (from {from}) is not a number")))?;
                let private_key = sources.secret("github.private_key")?.ok_or_else(|| {
                    error("github.private_key_file", "is required with github.app_id (the App's PEM private key)")
                })?;
                jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|e| {
                    error("github.private_key_file", format!("not an RSA private key in PEM form: {e}"))
                })?;
                let webhook_secret = sources.secret("github.webhook_secret")?.ok_or_else(|| {
                    error("github.webhook_secret_file", "is required with github.app_id (the App's webhook secret)")
                })?;
                let api_url = sources
                    .get("github.api_url")
                    .map_or_else(|| "https://api.github.com".to_string(), |(v, _)| v.trim_end_matches('/').to_string());
                if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
                    return Err(error("github.api_url", format!("`{api_url}` is not an http(s) URL")));
                }
                let allowed_owners = sources
                    .get("github.allowed_owners")
                    .map(|(v, _)| {
                        v.split([',', ' ']).map(|o| o.trim().to_ascii_lowercase()).filter(|o| !o.is_empty()).collect()
                    })
                    .unwrap_or_default();
                Some(GitHub { app_id, private_key, webhook_secret, api_url, allowed_owners })
            }
        };
        let gitlab = match sources.get("gitlab.url") {
            None => None,
            Some((url, _)) => {
                let url = url.trim_end_matches('/').to_string();
                let webhook_secret = sources.secret("gitlab.webhook_secret")?;
                let signing_token = sources.secret("gitlab.signing_token")?;
                if webhook_secret.is_none() && signing_token.is_none() {
                    return Err(error(
                        "gitlab.webhook_secret_file",
                        "gitlab.url is set, but neither gitlab.webhook_secret_file nor gitlab.signing_token_file: webhooks could not be verified",
                    ));
                }
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(error("gitlab.url", format!("`{url}` is not an http(s) URL")));
                }
                if let Some(token) = &signing_token
                    && crate::service::webhook::signing_key(token).is_none()
                {
                    return Err(error(
                        "gitlab.signing_token_file",
                        "the signing token is not `whsec_` followed by base64, as GitLab shows it",
                    ));
                }
                let Some(token) = sources.secret("gitlab.token")? else {
                    return Err(error(
                        "gitlab.token_file",
                        "gitlab.url is set, but no access token (gitlab.token_file): the bot could not read merge requests or post statuses",
                    ));
                };
                Some(GitLab { url, token: Some(token), webhook_secret, signing_token })
            }
        };
        let role = match sources.get("role") {
            None => Role::All,
            Some((text, from)) => Role::parse(&text)
                .ok_or_else(|| error("role", format!("`{text}` (from {from}) is not web, worker or all")))?,
        };
        if role != Role::All && database.starts_with("sqlite://") {
            return Err(error(
                "role",
                format!(
                    "`{}` needs PostgreSQL (database = \"postgres://…\"): with SQLite one process does everything (role all)",
                    role.as_str()
                ),
            ));
        }
        let reports = match sources.get("reports").map(|(v, from)| (v.trim().to_ascii_lowercase(), from)) {
            None => true,
            Some((v, _)) if matches!(v.as_str(), "on" | "true" | "yes") => true,
            Some((v, _)) if matches!(v.as_str(), "off" | "false" | "no") => false,
            Some((v, from)) => return Err(error("reports", format!("`{v}` (from {from}) is not on or off"))),
        };
        if github.is_none() && gitlab.is_none() {
            return Err(error("github.app_id", "neither GitHub (github.app_id) nor GitLab (gitlab.url) is configured"));
        }
        Ok(Settings {
            listen,
            database,
            work_dir,
            workers,
            public_url,
            lease_seconds,
            shutdown_grace_seconds: sources.number("shutdown_grace_seconds", 25)?,
            check_timeout_seconds: sources.number("check_timeout_seconds", 600)?,
            retention_days: sources.number("retention_days", 14)?,
            max_attempts: sources.number("max_attempts", 5)?.max(1),
            github,
            gitlab,
            role,
            reports,
            write_interval_ms: sources.number("write_interval_ms", 1000)?,
            sweep_minutes: sources.number("sweep_minutes", 5)?,
            reconcile_minutes: sources.number("reconcile_minutes", 30)?,
            leader_check_seconds: sources.number("leader_check_seconds", 15)?.max(1),
        })
    }

    /// A summary for `--check-config` and the start-up log line (no secrets).
    pub fn describe(&self) -> String {
        let database = match self.database.split_once('@') {
            // Keep a password in the URL out of logs.
            Some((_, host)) if self.database.starts_with("postgres") => format!("postgres://…@{host}"),
            _ => self.database.clone(),
        };
        let mut forges = Vec::new();
        if let Some(github) = &self.github {
            forges.push(format!("GitHub App {} at {}", github.app_id, github.api_url));
        }
        if let Some(gitlab) = &self.gitlab {
            forges.push(format!("GitLab at {}", gitlab.url));
        }
        format!(
            "role {}, listen {}, database {database}, work dir {}, {} workers, lease {} s; {}",
            self.role.as_str(),
            self.listen,
            self.work_dir.display(),
            self.workers,
            self.lease_seconds,
            forges.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../tests/data/test-app-key.pem");

    fn settings(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_sources(&Sources::from_parts(toml, env)?)
    }

    #[test]
    fn defaults_files_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, KEY).unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let toml = format!(
            "work_dir = \"/tmp/ds\"\n[github]\napp_id = 42\nprivate_key_file = \"{}\"\nwebhook_secret_file = \"{}\"\n",
            key.display(),
            secret.display()
        );
        let s = settings(&toml, &[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database, "sqlite:///tmp/ds/datasurface.db");
        assert_eq!(s.lease_seconds, 30);
        let github = s.github.unwrap();
        assert_eq!((github.app_id, github.webhook_secret.as_str()), (42, "s3cret"), "trailing newline trimmed");
        assert_eq!(github.api_url, "https://api.github.com");
        // The environment wins, and the bare variable holds the value.
        let s = settings(
            &toml.replace(&format!("webhook_secret_file = \"{}\"\n", secret.display()), ""),
            &[("DATASURFACE_GITHUB_WEBHOOK_SECRET", "from-env"), ("DATASURFACE_LISTEN", "0.0.0.0:9000")],
        )
        .unwrap();
        assert_eq!(s.github.unwrap().webhook_secret, "from-env");
        assert_eq!(s.listen.port(), 9000);
    }

    #[test]
    fn every_mistake_names_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, KEY).unwrap();
        let key_env = ("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", key.to_str().unwrap());
        for (toml, env, setting, says) in [
            ("", vec![], "github.app_id", "neither GitHub"),
            ("[github]\napp_id = 1\n", vec![], "github.private_key_file", "is required"),
            ("[github]\napp_id = 1\n", vec![key_env], "github.webhook_secret_file", "is required"),
            ("[github]\napp_id = \"x\"\n", vec![], "github.app_id", "not a number"),
            (
                "[github]\nwebhook_secret_file = \"/etc/hostname\"\n",
                vec![],
                "github.webhook_secret_file",
                "github.app_id is not",
            ),
            ("listen = \"nowhere\"\n[github]\napp_id = 1\n", vec![], "listen", "not an address"),
            ("database = \"mysql://x\"\n", vec![], "database", "neither sqlite"),
            ("workers = 0\n", vec![], "workers", "at least 1"),
            ("[github]\napp_idd = 1\n", vec![], "github.app_idd", "did you mean `github.app_id`"),
            (
                "[github]\napp_id = 1\nprivate_key_file = \"/nonexistent/key.pem\"\n",
                vec![],
                "github.private_key_file",
                "cannot read /nonexistent/key.pem",
            ),
            (
                "[github]\napp_id = 1\n",
                vec![key_env, ("DATASURFACE_GITHUB_PRIVATE_KEY", "pem")],
                "github.private_key_file",
                "set the secret one way only",
            ),
            ("[gitlab]\nurl = \"https://gitlab.com\"\n", vec![], "gitlab.webhook_secret_file", "could not be verified"),
        ] {
            let error = settings(toml, &env).unwrap_err();
            assert_eq!(error.setting, setting, "{toml}: {error}");
            assert!(error.to_string().contains(says), "{toml}: {error}");
        }
        // A key that is not a key.
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "-----BEGIN NONSENSE-----\n").unwrap();
        let error = settings(
            "[github]\napp_id = 1\n",
            &[
                ("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", bad.to_str().unwrap()),
                ("DATASURFACE_GITHUB_WEBHOOK_SECRET", "s"),
            ],
        )
        .unwrap_err();
        assert!(error.to_string().contains("not an RSA private key"), "{error}");
    }
}
