//! The command line: `datasurface lint`, `datasurface schema`.
//!
//! Exit codes: 0 no errors, 1 errors found, 2 could not run (bad arguments, unreadable
//! repository, internal error), with a one-line reason on stderr.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::load::{self, Snapshot};
use crate::problem::Revision;
use crate::report::{self, Report};

#[derive(Debug, Parser)]
#[command(
    name = "datasurface",
    version,
    about = "Governs a data ecosystem described as YAML in git: lint, team-scope authorization and backward-compatible schema evolution",
    after_help = "Exit codes: 0 no errors, 1 errors found, 2 could not run.\nDocs: README.md and docs/ in the datasurface repository."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate one model: a folder, or a folder at a git revision.
    Lint(LintArgs),
    /// Check a change: lint the head, then who may make it and whom it breaks, from base to head.
    Check(Box<CheckArgs>),
    /// Print the JSON Schema of model files (for editors and yaml-language-server).
    Schema,
    /// Write a synthetic, lint-clean model for benchmarks: a folder, or a git repository (--git)
    /// with tags `base` and `head` where head makes --change.
    Generate(GenerateArgs),
    /// Run the GitHub App (and GitLab webhook) service: webhooks in, check runs and one sticky
    /// comment out (docs/service.md). Settings from --config and DATASURFACE_* variables.
    Serve(ServeArgs),
    /// Print the whole resolved model as one document (JSON or YAML): every object with its
    /// owner, zone, team and file, and the consumers of every dataset.
    Export(ExportArgs),
    /// Git hooks: `install` writes a pre-push (default) or pre-commit hook; `run` is what the
    /// hook calls (docs/ci.md).
    #[command(subcommand)]
    Hook(HookCommand),
    /// Print the documentation of a rule (`datasurface explain compat.column-removed`).
    Explain {
        /// The rule id.
        rule: String,
    },
    /// List every rule with its family, default severity and summary.
    Rules {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Print a completion script for a shell (`datasurface completions bash > ~/.local/share/bash-completion/completions/datasurface`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model root, as for `lint`.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Read the model from this git revision.
    #[arg(long)]
    pub rev: Option<String>,
    /// The model root inside PATH (with --rev: inside the repository).
    #[arg(long, value_name = "DIR")]
    pub root: Option<String>,
    /// `json` (default) or `yaml`.
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    pub format: ExportFormat,
    /// Print the JSON Schema of the export instead.
    #[arg(long)]
    pub schema: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write the hook into this repository (where `core.hooksPath` says, else .git/hooks).
    Install {
        /// A pre-push hook: checks each pushed ref against the remote's tip (the default).
        #[arg(long, conflicts_with = "pre_commit")]
        pre_push: bool,
        /// A pre-commit hook: lints the staged model.
        #[arg(long)]
        pre_commit: bool,
        /// Replace a hook of that name that is not datasurface's.
        #[arg(long)]
        force: bool,
    },
    /// What the installed hook runs (git's hook arguments follow; pre-push reads its refs on stdin).
    Run {
        #[arg(value_enum)]
        hook: crate::hook::Kind,
        /// What git passed the hook.
        args: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML file of settings (see docs/service.md); DATASURFACE_* variables win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the settings, print what they say, and exit (0 when they are usable).
    #[arg(long)]
    pub check_config: bool,
    /// What this process does: web (webhooks and report pages), worker (jobs and the leader's
    /// duties) or all [default: all; or DATASURFACE_ROLE]. web and worker need PostgreSQL.
    #[arg(long, value_name = "ROLE", value_parser = ["web", "worker", "all"])]
    pub role: Option<String>,
    #[command(subcommand)]
    pub action: Option<ServeAction>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ServeAction {
    /// Queue checks of a repository's open pull requests (or of one) in the service's
    /// database now, whatever their check runs say; the running service's workers take them.
    Resync {
        /// The repository, OWNER/NAME (GitHub).
        #[arg(long, value_name = "OWNER/NAME")]
        repo: String,
        /// Only this pull request.
        #[arg(long, value_name = "N")]
        pr: Option<u64>,
        /// The settings file of the service (as `serve --config`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Exit 0 when the service on this machine answers `/healthz` (a container's health
    /// check; the address is DATASURFACE_LISTEN's, 0.0.0.0 read as 127.0.0.1).
    Healthcheck {
        /// Ask this URL instead.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The folder to create (it must not exist, or be empty).
    pub out: PathBuf,
    /// Start from a preset: small (100 datasets), medium (5,000 x 51 columns), large (100,000 x 20), huge (1,000,000 x 10), giant (12,000,000 x 10; use --git).
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Governance zones (overrides the preset).
    #[arg(long)]
    pub zones: Option<usize>,
    /// Teams, spread over the zones.
    #[arg(long)]
    pub teams: Option<usize>,
    /// Datastore files, spread over the teams.
    #[arg(long)]
    pub datastores: Option<usize>,
    /// Datasets in all, spread over the datastores.
    #[arg(long)]
    pub datasets: Option<usize>,
    /// Columns per dataset.
    #[arg(long)]
    pub columns: Option<usize>,
    /// Workspaces, each sinking up to ten datasets.
    #[arg(long)]
    pub workspaces: Option<usize>,
    /// Seed of the generator: the same seed gives the same bytes.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write a git repository (through `git fast-import`) instead of a plain folder.
    #[arg(long)]
    pub git: bool,
    /// What the head commit changes (with --git).
    #[arg(long, value_enum, default_value_t = GenerateChange::OneFile)]
    pub change: GenerateChange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenerateChange {
    /// One datastore file gains a nullable column.
    OneFile,
    /// 1% of datasets gain a nullable column.
    AddNullable,
    /// One consumed dataset loses a column.
    Break,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// The model root: the folder that holds ecosystem.yaml, or that file. With --rev, a folder inside the
    /// repository.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Read the model from this git revision (branch, tag, SHA, HEAD~1) instead of the files on disk.
    #[arg(long)]
    pub rev: Option<String>,
    /// The model root inside PATH (with --rev: inside the repository), as for `check --root`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The revision the change starts from; ownership is read from here.
    #[arg(long, required_unless_present_any = ["base_dir", "github_event"], conflicts_with = "base_dir")]
    pub base: Option<String>,
    /// A GitHub Actions event payload (`$GITHUB_EVENT_PATH`) of a pull request: base and head
    /// SHAs, the head repository and branch, and the author come from it (flags given win).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["base_dir", "head_dir"])]
    pub github_event: Option<PathBuf>,
    /// The revision with the change [default: HEAD].
    #[arg(long, conflicts_with = "head_dir")]
    pub head: Option<String>,
    /// Instead of revisions: the model root as it was, a folder (a checkout of the base, say).
    #[arg(long, value_name = "DIR", requires = "head_dir")]
    pub base_dir: Option<PathBuf>,
    /// With --base-dir: the model root with the change, a folder.
    #[arg(long, value_name = "DIR", requires = "base_dir")]
    pub head_dir: Option<PathBuf>,
    /// The git repository (a work tree folder or a bare repository).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The model root inside the repository (default: where --repo points, usually the repository root).
    #[arg(long)]
    pub root: Option<String>,
    /// The head repository of the change, and its branch when known: OWNER/NAME[@BRANCH].
    #[arg(long, value_name = "OWNER/NAME[@BRANCH]")]
    pub as_repo: Option<String>,
    /// A forge login that makes or approves the change (repeatable).
    #[arg(long, value_name = "LOGIN", value_parser = crate::authz::ChangeSource::parse_user)]
    pub as_user: Vec<String>,
    /// The author of the change; counts like --as-user and is named in reports.
    #[arg(long, value_name = "LOGIN", value_parser = crate::authz::ChangeSource::parse_user)]
    pub author: Option<String>,
    /// An approver of the change (repeatable); counts like --as-user and is named in reports.
    #[arg(long, value_name = "LOGIN", value_parser = crate::authz::ChangeSource::parse_user)]
    pub approver: Vec<String>,
    /// A forge team of the author or an approver: ORG/SLUG on GitHub, a group path on GitLab (repeatable).
    #[arg(long, value_name = "ORG/SLUG", value_parser = crate::authz::ChangeSource::parse_team)]
    pub as_team: Vec<String>,
    /// Approves the breaking changes to one dataset for one workspace only, as `/datasurface
    /// approve` does in a pull request: WORKSPACE:DATASTORE/DATASET[:FINGERPRINT], where the
    /// fingerprint (the JSON report's `impact[].consumers[].fingerprint`) pins the dataset's head
    /// schema. Never an authorization (repeatable).
    #[arg(long, value_name = "WORKSPACE:DATASTORE/DATASET[:FINGERPRINT]", value_parser = crate::authz::Approval::parse)]
    pub approval: Vec<crate::authz::Approval>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of stdout (whole or not at all: written beside, then renamed).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The least severity that fails the run (exit 1).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Text format: print only the problems (no notes, no change summary, no last line).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also write the report in another format to a file, e.g. `sarif=datasurface.sarif`
    /// (repeatable; each file written whole or not at all).
    #[arg(long, value_name = "FORMAT=FILE", value_parser = parse_report_file)]
    pub report_file: Vec<(Format, PathBuf)>,
}

/// `FORMAT=FILE` for `--report-file`.
fn parse_report_file(text: &str) -> Result<(Format, PathBuf), String> {
    let (format, file) = text.split_once('=').ok_or_else(|| format!("`{text}` is not FORMAT=FILE"))?;
    let format = Format::from_str(format, true)
        .map_err(|_| format!("`{format}` is not a format (text, json, sarif, github, gitlab, markdown)"))?;
    if file.is_empty() {
        return Err(format!("`{text}` names no file"));
    }
    Ok((format, PathBuf::from(file)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Errors fail the run; warnings are reported.
    Error,
    /// Errors and warnings fail the run.
    Warning,
}

impl FailOn {
    fn severity(self) -> crate::problem::Severity {
        match self {
            FailOn::Error => crate::problem::Severity::Error,
            FailOn::Warning => crate::problem::Severity::Warning,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Largest model file read, in bytes (suffixes KiB, MiB, GiB accepted).
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Most problems listed for one file while reading it; the rest are counted in one
    /// `file.too-many-problems`.
    #[arg(long, default_value_t = load::DEFAULT_MAX_FILE_PROBLEMS, value_parser = parse_positive)]
    pub max_file_problems: usize,
    /// Most bytes of all model files together, per revision; a bigger model is not read (exit 2).
    #[arg(long, default_value = "4GiB", value_parser = parse_size)]
    pub max_model_size: u64,
    /// Most model files (YAML files and links under the model root), per revision; a model with
    /// more is not read (exit 2).
    #[arg(long, default_value_t = load::DEFAULT_MAX_MODEL_FILES, value_parser = parse_positive)]
    pub max_model_files: usize,
    /// Keep parsed files, team-folder summaries and the global index of git revisions here
    /// (keyed by content ids), so that the next run reads and lints only what its change can
    /// reach, with the same report as a full run. Safe to delete.
    #[arg(long, env = "DATASURFACE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Size limit of --cache-dir; the oldest entries are deleted beyond it.
    #[arg(long, default_value = "4GiB", value_parser = parse_size)]
    pub cache_max_size: u64,
}

impl LoadArgs {
    fn parse_cache(&self) -> anyhow::Result<load::ParseCache> {
        Ok(match &self.cache_dir {
            None => load::ParseCache::default(),
            Some(dir) => {
                let options = load_options(self);
                let disk = load::DiskCache::open(dir, self.cache_max_size, &options)
                    .with_context(|| format!("opening the cache folder {}", dir.display()))?;
                load::ParseCache::with_disk(disk)
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Problems like a compiler prints them, with source snippets.
    Text,
    /// The JSON report (stable; see docs/report-format.md).
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
    /// A GitLab Code Quality report.
    Gitlab,
    /// A pull-request comment.
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// A whole number of at least 1.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) =
        [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
            .iter()
            .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|d| (d.trim(), *factor)))
            .unwrap_or((text, 1));
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size such as 8388608, 512KiB or 8MiB"))
}

/// Runs the binary: parses arguments, runs the command, prints, and returns the exit code.
pub fn main() -> ExitCode {
    // A panic is a bug in datasurface, never the user's fault: one line and exit code 2, not
    // a stack trace (set DATASURFACE_BACKTRACE=1 to get Rust's usual report).
    if std::env::var_os("DATASURFACE_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("datasurface: internal error{location}: {message}; please report this");
        }));
    }
    match std::panic::catch_unwind(main_inner) {
        Ok(code) => code,
        Err(_) => ExitCode::from(2),
    }
}

fn main_inner() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("datasurface: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Shows what a long run is doing on stderr, when stderr is a terminal and the run takes more
/// than a second (`DATASURFACE_PROGRESS_AFTER_MS` changes that); nothing otherwise, so CI logs
/// and pipes stay clean. The line is cleared when the run is over.
struct Progress {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The progress line of this run, if one is shown.
static PROGRESS: std::sync::Mutex<Option<Progress>> = std::sync::Mutex::new(None);

impl Progress {
    fn start() {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let after = std::env::var("DATASURFACE_PROGRESS_AFTER_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut shown = false;
            loop {
                if started.elapsed() >= std::time::Duration::from_millis(after) {
                    let (phase, done, total) = crate::progress::now();
                    let counts = if total > 0 { format!(" {done}/{total}") } else { String::new() };
                    eprint!("\r\x1b[Kdatasurface: {phase}{counts} ({:.0} s)", started.elapsed().as_secs_f64());
                    shown = true;
                }
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if shown {
                eprint!("\r\x1b[K");
            }
        });
        if let Ok(mut progress) = PROGRESS.lock() {
            *progress = Some(Progress { stop, thread: Some(thread) });
        }
    }

    /// Clears the line before the report is written (and at the end of the run).
    fn stop() {
        let progress = PROGRESS.lock().ok().and_then(|mut p| p.take());
        drop(progress);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match &args.command {
        Command::Schema => {
            unless_pipe_closed(print(&crate::schema::render()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint(lint) => {
            Progress::start();
            let code = run_lint(lint, color);
            Progress::stop();
            code
        }
        Command::Check(check) => {
            Progress::start();
            let code = run_check(check, color);
            Progress::stop();
            code
        }
        Command::Generate(generate) => run_generate(generate),
        Command::Serve(serve) => run_serve(serve),
        Command::Export(export) => run_export(export),
        Command::Hook(HookCommand::Install { pre_commit, force, .. }) => {
            let kind = if *pre_commit { crate::hook::Kind::PreCommit } else { crate::hook::Kind::PrePush };
            let path = crate::hook::install(&std::env::current_dir()?, kind, *force)?;
            println!("datasurface: installed {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Hook(HookCommand::Run { hook, args }) => crate::hook::run(*hook, args),
        Command::Explain { rule } => {
            let Some(found) = crate::rules::Rule::from_id(rule.trim()) else {
                let ids = crate::rules::Rule::ALL.iter().map(|r| r.id());
                anyhow::bail!(
                    "unknown rule `{rule}`{} (`datasurface rules` lists them)",
                    crate::suggest::did_you_mean(rule, ids)
                );
            };
            unless_pipe_closed(print(found.docs()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { format } => {
            let text = match format {
                ListFormat::Json => {
                    let rules: Vec<serde_json::Value> = crate::rules::Rule::ALL
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "id": r.id(),
                                "family": r.family(),
                                "severity": r.default_severity().as_str(),
                                "summary": r.summary(),
                                "docs": r.docs_url(),
                            })
                        })
                        .collect();
                    serde_json::to_string_pretty(&rules)? + "\n"
                }
                ListFormat::Text => {
                    let width = crate::rules::Rule::ALL.iter().map(|r| r.id().len()).max().unwrap_or(0);
                    let mut out = String::new();
                    for rule in crate::rules::Rule::ALL {
                        let (id, family, severity) = (rule.id(), rule.family(), rule.default_severity().as_str());
                        out.push_str(&format!("{id:<width$}  {family:<14}  {severity:<7}  {}\n", rule.summary()));
                    }
                    out
                }
            };
            unless_pipe_closed(print(&text))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Args::command(), "datasurface", &mut out);
            unless_pipe_closed(std::io::stdout().lock().write_all(&out))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The model root for a path on disk: the folder itself, or the folder of an `ecosystem.yaml`
/// given by its file name. A folder without `ecosystem.yaml` is refused before anything is
/// read, with a hint where the model root is when one is near (above, or one or two folders
/// down).
fn model_folder(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        if path.file_name().is_some_and(|n| n == "ecosystem.yaml") {
            return Ok(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf());
        }
        anyhow::bail!("{} is a file: give the model root, the folder that holds ecosystem.yaml", path.display());
    }
    if !path.is_dir() || path.join("ecosystem.yaml").exists() {
        // A missing folder gets the loader's message.
        return Ok(path.to_path_buf());
    }
    let is_root = |dir: &Path| dir.join("ecosystem.yaml").is_file();
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let above = absolute.ancestors().skip(1).find(|a| is_root(a)).map(Path::to_path_buf);
    let below = || {
        let children = subfolders(path);
        let grandchildren = children.iter().flat_map(|d| subfolders(d));
        children.iter().cloned().chain(grandchildren).find(|d| is_root(d))
    };
    let hint = match above.or_else(below) {
        Some(root) => format!("; the model root seems to be {}", root.display()),
        None => String::new(),
    };
    anyhow::bail!("no ecosystem.yaml in {}: not a datasurface model root{hint}", path.display())
}

/// The visible subfolders of `dir` (at most 1,000), sorted.
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .take(1000)
        .collect();
    dirs.sort();
    dirs
}

fn load_options(args: &LoadArgs) -> load::Options {
    load::Options {
        max_file_size: args.max_file_size,
        max_file_problems: args.max_file_problems,
        max_model_size: args.max_model_size,
        max_model_files: args.max_model_files,
        ..load::Options::default()
    }
}

/// The model `lint` and `export` read: PATH (or `--root` inside it) on disk, or at `--rev`.
fn model_snapshot(path: &Path, rev: Option<&str>, root: Option<&str>) -> anyhow::Result<Snapshot> {
    let root = root.map(|r| r.trim_matches('/')).filter(|r| !r.is_empty());
    Ok(match rev {
        Some(rev) => {
            let repo = load::GitRepo::discover(path)?;
            let prefix = match root {
                Some(root) => join_prefix(&repo.cwd_prefix, root),
                None => repo.cwd_prefix.clone(),
            };
            repo.snapshot(rev, &prefix)?
        }
        None => {
            if is_bare_repository(path) {
                anyhow::bail!(
                    "{} is a bare git repository, which has no files to read: pass --rev REV (for example --rev HEAD)",
                    path.display()
                );
            }
            let path = root.map_or_else(|| path.to_path_buf(), |root| path.join(root));
            Snapshot::folder(&model_folder(&path)?)?
        }
    })
}

fn run_export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    if args.schema {
        unless_pipe_closed(print(&crate::export::schema()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let snapshot = model_snapshot(&args.path, args.rev.as_deref(), args.root.as_deref())?;
    let model = load::load(&snapshot, &load_options(&args.load))?;
    if model.files.is_empty() {
        anyhow::bail!("no model files in {}", snapshot.describe());
    }
    let value = serde_json::to_value(crate::export::export(&model))?;
    let text = match args.format {
        ExportFormat::Json => serde_json::to_string_pretty(&value)? + "\n",
        ExportFormat::Yaml => crate::export::to_yaml(&value),
    };
    unless_pipe_closed(print(&text))?;
    std::mem::forget(model);
    Ok(ExitCode::SUCCESS)
}

fn run_lint(args: &LintArgs, color: bool) -> anyhow::Result<ExitCode> {
    let mut timer = crate::timing::Timer::new();
    let snapshot = model_snapshot(&args.path, args.rev.as_deref(), args.root.as_deref())?;
    let cache = args.load.parse_cache()?;
    // Lint reads whole documents only to lint them: each datastore file is condensed once
    // its local rules have run.
    let model = load::load_planned(
        &snapshot,
        &load_options(&args.load),
        &cache,
        &Default::default(),
        Some(&crate::warm::Condenser),
    )?;
    timer.mark("load");
    let ecosystem_path =
        if model.root.is_empty() { "ecosystem.yaml".to_string() } else { format!("{}/ecosystem.yaml", model.root) };
    if !model.files.iter().any(|f| *f.path == *ecosystem_path) {
        anyhow::bail!("no ecosystem.yaml in {}: not a datasurface model root", snapshot.describe());
    }
    let lint = crate::validate::lint_detailed(&model);
    timer.mark("lint");
    crate::warm::remember_folders(&cache, &model, &lint.fresh_local);
    let problems = lint.problems;
    let root = crate::validate::Paths::new(&model).ecosystem().remove(0);
    let report = Report {
        command: "lint",
        root,
        problems,
        files: model.files.len(),
        notes: Vec::new(),
        check: None,
        fail_on: args.output.fail_on.severity(),
    };
    let max = args.load.max_file_size;
    let sources = |_: Revision, path: &str| snapshot.excerpt(&model, path, max);
    let code = emit(&report, &args.output, &sources, color);
    timer.mark("report");
    cache.prune();
    // The process ends here: freeing millions of model objects one by one would only cost time.
    std::mem::forget(model);
    code
}

fn run_generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    use crate::generate::{Change, Model, Shape};
    let preset = Shape::preset(&args.preset)
        .ok_or_else(|| anyhow::anyhow!("unknown preset `{}`: use small, medium, large, huge or giant", args.preset))?;
    let shape = Shape {
        zones: args.zones.unwrap_or(preset.zones).max(1),
        teams: args.teams.unwrap_or(preset.teams).max(1),
        datastores: args.datastores.unwrap_or(preset.datastores).max(1),
        datasets: args.datasets.unwrap_or(preset.datasets),
        columns: args.columns.unwrap_or(preset.columns).max(1),
        workspaces: args.workspaces.unwrap_or(preset.workspaces),
        seed: args.seed.unwrap_or(preset.seed),
    };
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", args.out.display());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let model = Model::new(shape);
    let files = if args.git {
        let change = match args.change {
            GenerateChange::OneFile => Change::OneFile,
            GenerateChange::AddNullable => Change::AddNullable,
            GenerateChange::Break => Change::Break,
        };
        let git = |args_: &[&str]| std::process::Command::new("git").args(args_).current_dir(&args.out).status();
        anyhow::ensure!(git(&["init", "-q", "-b", "main"])?.success(), "git init failed");
        let mut import = std::process::Command::new("git")
            .args(["fast-import", "--quiet"])
            .current_dir(&args.out)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .context("running git fast-import (is git installed?)")?;
        let stdin = import.stdin.take().context("git fast-import has no stdin")?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, stdin);
        let n = crate::generate::write_fast_import(&model, change, &mut writer)?;
        drop(writer);
        anyhow::ensure!(import.wait()?.success(), "git fast-import failed");
        n
    } else {
        crate::generate::write_folder(&model, &args.out)?
    };
    eprintln!(
        "datasurface generate: {files} files, {} datasets x {} columns in {}",
        shape.datasets,
        shape.columns,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What a GitHub Actions pull-request event says about the change.
#[derive(Default)]
struct GitHubEvent {
    base: Option<String>,
    head: Option<String>,
    repo: Option<String>,
    author: Option<String>,
}

fn github_event(path: &Path) -> anyhow::Result<GitHubEvent> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--github-event: cannot read {}", path.display()))?;
    let event: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("--github-event: {} is not JSON", path.display()))?;
    let pull = &event["pull_request"];
    if !pull.is_object() {
        anyhow::bail!("--github-event: {} is not a pull_request event (it has no `pull_request`)", path.display());
    }
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let repo = match (text(&pull["head"]["repo"]["full_name"]), text(&pull["head"]["ref"])) {
        (Some(repo), Some(branch)) => Some(format!("{repo}@{branch}")),
        (repo, _) => repo,
    };
    Ok(GitHubEvent {
        base: text(&pull["base"]["sha"]),
        head: text(&pull["head"]["sha"]),
        repo,
        author: text(&pull["user"]["login"]),
    })
}

fn change_source(args: &CheckArgs, event: &GitHubEvent) -> anyhow::Result<crate::authz::ChangeSource> {
    let mut source = crate::authz::ChangeSource::default();
    if let Some(repo) = args.as_repo.as_ref().or(event.repo.as_ref()) {
        let (repo, branch) =
            crate::authz::ChangeSource::parse_repo(repo).map_err(|e| anyhow::anyhow!("--as-repo: {e}"))?;
        source.repo = Some(repo);
        source.branch = branch;
    }
    source.users.extend(args.as_user.iter().cloned());
    if let Some(author) = args.author.as_ref().or(event.author.as_ref()) {
        source.author = Some(author.clone());
        source.users.push(author.clone());
    }
    source.approvers = args.approver.clone();
    source.users.extend(args.approver.iter().cloned());
    source.teams = args.as_team.clone();
    source.approvals = args.approval.clone();
    Ok(source)
}

fn run_check(args: &CheckArgs, color: bool) -> anyhow::Result<ExitCode> {
    let event = match &args.github_event {
        Some(path) => github_event(path)?,
        None => GitHubEvent::default(),
    };
    // The change source is checked before the repository is opened.
    let source = change_source(args, &event)?;
    let options = load_options(&args.load);
    let config = match (&args.base_dir, &args.head_dir) {
        (Some(base_dir), Some(head_dir)) => {
            // Paths in reports are the head's, from its git work tree when it has one; the base
            // folder is read as if it sat at the same place.
            let prefix = Snapshot::folder(head_dir)?.prefix().to_string();
            crate::check::CheckConfig {
                base: crate::check::Side::folder(base_dir, &prefix)?,
                head: crate::check::Side::folder(head_dir, &prefix)?,
                source,
                load: options,
            }
        }
        _ => {
            if args.root.is_none() && is_bare_repository(&args.repo) && args.base.is_none() {
                anyhow::bail!("{} is a bare git repository: pass --base REV", args.repo.display());
            }
            let repo = load::GitRepo::discover(&args.repo)?;
            let base =
                args.base.as_deref().or(event.base.as_deref()).context("--base REV or --base-dir DIR is required")?;
            // The model root: --root, else where --repo points inside the work tree, else what
            // .datasurface.yaml says in the base (a change cannot move its own root).
            let root = match (&args.root, repo.cwd_prefix.is_empty()) {
                (Some(root), _) => root.clone(),
                (None, false) => repo.cwd_prefix.clone(),
                (None, true) => load::configured_root(&repo, base).map_err(|e| anyhow::anyhow!(e))?.unwrap_or_default(),
            };
            let head = args.head.as_deref().or(event.head.as_deref()).unwrap_or("HEAD");
            crate::check::CheckConfig::revisions(&repo, (base, head), root.trim_matches('/'), source, options)?
        }
    };
    let cache = args.load.parse_cache()?;
    let mut output = crate::check::check(config, &cache)?;
    output.report.fail_on = args.output.fail_on.severity();
    // Neither side holding a model file means the model root is wrong, not that nothing
    // changed. A head that lost its ecosystem.yaml, or every file, is reported like any other
    // change: authorization and lint say what is wrong with it.
    if output.head_model.files.is_empty() && output.base_model.files.is_empty() {
        anyhow::bail!(
            "no model files in {} nor in {}: not a datasurface model root (see --root)",
            output.base.describe(),
            output.head.describe()
        );
    }
    let max = args.load.max_file_size;
    let sources = |revision: Revision, path: &str| match revision {
        Revision::Base => output.base.excerpt(&output.base_model, path, max),
        Revision::Head => output.head.excerpt(&output.head_model, path, max),
    };
    let code = emit(&output.report, &args.output, &sources, color);
    cache.prune();
    // The process ends here: freeing millions of model objects one by one would only cost time.
    std::mem::forget(output);
    code
}

fn run_serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    use crate::service::config::{Settings, Sources};
    // A setting that is wrong stops start-up with one line naming it (exit 2).
    if let Some(ServeAction::Healthcheck { url }) = &args.action {
        let url = url.clone().unwrap_or_else(|| {
            let listen = std::env::var("DATASURFACE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
            let listen = listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
            format!("http://{listen}/healthz")
        });
        crate::forge::install_tls();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
        let answer = runtime.block_on(async {
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(4)).build()?;
            client.get(&url).send().await
        });
        return match answer {
            Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
            Ok(response) => {
                eprintln!("datasurface serve healthcheck: {url} answered {}", response.status());
                Ok(ExitCode::from(1))
            }
            Err(error) => {
                eprintln!("datasurface serve healthcheck: {url}: {error}");
                Ok(ExitCode::from(1))
            }
        };
    }
    let config = match &args.action {
        Some(ServeAction::Resync { config: Some(config), .. }) => Some(config.as_path()),
        _ => args.config.as_deref(),
    };
    let sources = Sources::load(config).map(|mut s| {
        if let Some(role) = &args.role {
            s.set("role", role);
        }
        s
    });
    let settings = sources.and_then(|s| Settings::from_sources(&s))?;
    if let Some(ServeAction::Resync { repo, pr, .. }) = &args.action {
        crate::authz::ChangeSource::parse_repo(repo).map_err(|e| anyhow::anyhow!("--repo: {e}"))?;
        let runtime =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
        let queued = runtime.block_on(crate::service::resync(settings, repo, *pr))?;
        println!("datasurface serve resync: queued {queued} check{} of {repo}", if queued == 1 { "" } else { "s" });
        return Ok(ExitCode::SUCCESS);
    }
    if args.check_config {
        println!("datasurface serve: the settings are usable: {}", settings.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("DATASURFACE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("datasurface=info,warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(crate::service::serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// `prefix/rel`, or `rel` when the prefix is empty.
fn join_prefix(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() { rel.to_string() } else { format!("{prefix}/{rel}") }
}

/// Whether `path` is a bare git repository (no work tree to read files from).
fn is_bare_repository(path: &Path) -> bool {
    path.join("HEAD").is_file() && path.join("objects").is_dir() && path.join("refs").is_dir()
}

/// Writes the report in the chosen format to stdout or `--output`, and returns the exit code
/// of its outcome.
fn emit(
    report: &Report,
    output: &OutputArgs,
    sources: &report::text::Sources<'_>,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        match output.format {
            Format::Text => {
                let options = report::text::Options { color, quiet: output.quiet };
                out.write_all(report::text::render(report, sources, options).as_bytes())
            }
            // The JSON formats are written as they are made: a report may hold a million problems.
            Format::Json => report::json::write(report, out),
            Format::Sarif => report::sarif::write(report, out),
            Format::Gitlab => report::gitlab::write(report, out),
            Format::Github => out.write_all(report::github::render(report).as_bytes()),
            Format::Markdown => out.write_all(report::markdown::render(report).as_bytes()),
        }
    };
    Progress::stop();
    for (format, path) in &output.report_file {
        let extra = OutputArgs { format: *format, output: Some(path.clone()), report_file: Vec::new(), ..*output };
        emit(report, &extra, sources, false)?;
    }
    match &output.output {
        None => {
            let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            unless_pipe_closed(write(&mut stdout).and_then(|()| stdout.flush()))?;
        }
        Some(path) => write_file(path, write)?,
    }
    Ok(match report.outcome() {
        report::Outcome::Pass => ExitCode::SUCCESS,
        report::Outcome::Fail => ExitCode::from(1),
    })
}

/// Writes a file whole or not at all: into a temporary file beside it, then renamed over it.
fn write_file(path: &Path, write: impl Fn(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("--output {}: not a file name", path.display()))?;
    let temporary = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
        write(&mut file)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(anyhow::anyhow!("writing {}: {error}", path.display()));
    }
    Ok(())
}

/// `Ok` also when the reader of stdout went away (`| head`).
fn unless_pipe_closed(written: std::io::Result<()>) -> anyhow::Result<()> {
    match written {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Writes to stdout.
fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn arguments_are_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
