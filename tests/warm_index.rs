//! The persisted global index (`warm::index`) never changes a verdict: on a series of random
//! changes to a generated model, a warm check with one shared `--cache-dir` prints exactly
//! the JSON report of a cold check without a cache, byte for byte, and most of the warm
//! checks really take the index's path.

use std::path::{Path, PathBuf};

use crate::support::{commit_all, datasurface, git, new_repo};

use datasurface::generate::Rng;

fn files_named(root: &Path, part: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(part) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

/// One random change to the model in `dir`, described in words.
fn mutate(dir: &Path, rng: &mut Rng, step: usize) -> String {
    let stores = files_named(dir, "/datastores/");
    let workspaces = files_named(dir, "/workspaces/");
    let teams: Vec<PathBuf> =
        files_named(dir, "/team.yaml").iter().map(|p| p.parent().unwrap().to_path_buf()).collect();
    let store_names: Vec<String> = stores
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            text.lines().find_map(|l| l.strip_prefix("name: ").map(str::to_string))
        })
        .collect();
    match rng.below(16) {
        0 => {
            // A new datastore in another team, copied from one that exists.
            let from = rng.pick(&stores).clone();
            let team = rng.pick(&teams).clone();
            let name = format!("store_new_{step}");
            let to = team.join("datastores").join(format!("{name}.yaml"));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            let text = std::fs::read_to_string(&from).unwrap();
            let old = text.lines().find_map(|l| l.strip_prefix("name: ")).unwrap().to_string();
            std::fs::write(&to, text.replacen(&format!("name: {old}"), &format!("name: {name}"), 1)).unwrap();
            format!("added {name}")
        }
        1 if stores.len() > 4 => {
            let gone = rng.pick(&stores).clone();
            let text = std::fs::read_to_string(&gone).unwrap();
            let name = text.lines().find_map(|l| l.strip_prefix("name: ")).unwrap().to_string();
            std::fs::remove_file(&gone).unwrap();
            // Mostly with its consumers' sinks, sometimes leaving them dangling.
            if rng.below(4) != 0 {
                retarget(&workspaces, &name, None);
            }
            format!("removed {name}")
        }
        2 => {
            let path = rng.pick(&stores).clone();
            let name = format!("store_renamed_{step}");
            let text = std::fs::read_to_string(&path).unwrap();
            let old = text.lines().find_map(|l| l.strip_prefix("name: ")).unwrap().to_string();
            std::fs::write(&path, text.replacen(&format!("name: {old}"), &format!("name: {name}"), 1)).unwrap();
            if rng.below(4) != 0 {
                retarget(&workspaces, &old, Some(&name));
            }
            format!("renamed {old} to {name}")
        }
        3 => {
            // A sink on some dataset (it may not exist: a ref.unknown then).
            let path = rng.pick(&workspaces).clone();
            let store = rng.pick(&store_names).clone();
            let dataset = format!("ds_{:03}", if rng.below(8) == 0 { 7 } else { 0 });
            edit(&path, |t| {
                t.replacen(
                    "    sinks:\n",
                    &format!("    sinks:\n      - {{datastore: {store}, dataset: {dataset}}}\n"),
                    1,
                )
            });
            format!("sink {store}/{dataset} added")
        }
        4 => {
            let path = rng.pick(&workspaces).clone();
            edit(&path, |t| {
                let mut lines: Vec<&str> = t.lines().collect();
                if let Some(at) = lines.iter().position(|l| l.trim_start().starts_with("- {datastore:")) {
                    lines.remove(at);
                }
                lines.join("\n") + "\n"
            });
            "a sink removed".into()
        }
        5 => {
            // A zone policy change: the zone refuses a classification.
            let zone = rng.pick(&files_named(dir, "zone.yaml")).clone();
            let refused = *rng.pick(&["PC1", "PC2", "PC3"]);
            edit(&zone, |t| {
                t.lines()
                    .map(|l| {
                        if l.trim_start().starts_with("classifications:") {
                            format!("  classifications: {{notAllowed: [MNPI, {refused}]}}")
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            });
            format!("a zone refuses {refused}")
        }
        6 if rng.below(3) == 0 => {
            // A declaration: a new team folder, declared or not.
            let zone = rng.pick(&files_named(dir, "zone.yaml")).clone();
            let name = format!("tnew{step}");
            let folder = zone.parent().unwrap().join("teams").join(&name);
            std::fs::create_dir_all(&folder).unwrap();
            let team = std::fs::read_to_string(rng.pick(&teams).join("team.yaml")).unwrap();
            let old = team.lines().find_map(|l| l.strip_prefix("name: ")).unwrap().to_string();
            std::fs::write(
                folder.join("team.yaml"),
                team.replacen(&format!("name: {old}"), &format!("name: {name}"), 1),
            )
            .unwrap();
            if rng.below(2) == 0 {
                edit(&zone, |t| {
                    t.replacen("teams:\n", &format!("teams:\n  - {{name: {name}, owner: {{users: [u{step}]}}}}\n"), 1)
                });
            }
            format!("team {name}")
        }
        7 => {
            let path = rng.pick(&stores).clone();
            edit(&path, |t| {
                t.replacen("      columns:\n", "      columns:\n        - {name: added_col, type: integer}\n", 1)
            });
            "a nullable column added".into()
        }
        8 => {
            // A breaking change: a column goes.
            let path = rng.pick(&stores).clone();
            edit(&path, |t| {
                let mut lines: Vec<&str> = t.lines().collect();
                if let Some(at) = lines.iter().rposition(|l| l.trim_start().starts_with("- {name: col_")) {
                    lines.remove(at);
                }
                lines.join("\n") + "\n"
            });
            "a column removed".into()
        }
        9 => {
            // A dataset classified differently (zone policies and data flow read it).
            let path = rng.pick(&stores).clone();
            let to = *rng.pick(&["PUB", "PC1", "PC3", "MNPI"]);
            edit(&path, |t| {
                let at = t.find("classifications: [").map(|i| i + "classifications: [".len());
                match at {
                    Some(i) => {
                        let end = i + t[i..].find(']').unwrap();
                        format!("{}{to}{}", &t[..i], &t[end..])
                    }
                    None => t,
                }
            });
            format!("a dataset classified {to}")
        }
        10 => {
            // A duplicate: the same datastore name in another team.
            let from = rng.pick(&stores).clone();
            let team = rng.pick(&teams).clone();
            let to = team.join("datastores").join(format!("copy_{step}.yaml"));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
            format!("duplicated {}", from.display())
        }
        12..=13 => {
            let path = rng.pick(&stores).clone();
            edit(&path, |t| t.replacen("documentation: Generated", "documentation: Still generated", 1));
            "documentation changed".into()
        }
        _ => {
            // A deprecation: consumers in other folders get warnings.
            let path = rng.pick(&stores).clone();
            edit(&path, |t| t.replacen("    schema:\n", "    deprecated: {reason: going away}\n    schema:\n", 1));
            "a dataset deprecated".into()
        }
    }
}

fn hex(text: &str) -> [u8; 20] {
    let bytes: Vec<u8> = (0..40).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect();
    bytes.try_into().unwrap()
}

/// Removes the sinks on datastores that no file defines; whether it removed any.
fn heal(dir: &Path) -> bool {
    let names: std::collections::HashSet<String> = files_named(dir, "/datastores/")
        .iter()
        .filter_map(|p| {
            std::fs::read_to_string(p).ok()?.lines().find_map(|l| l.strip_prefix("name: ").map(str::to_string))
        })
        .collect();
    let mut healed = false;
    for path in files_named(dir, "/workspaces/") {
        edit(&path, |t| {
            let kept: Vec<&str> = t
                .lines()
                .filter(|l| {
                    let store = l.trim_start().strip_prefix("- {datastore: ").and_then(|r| r.split(',').next());
                    store.is_none_or(|s| names.contains(s))
                })
                .collect();
            healed |= kept.len() != t.lines().count();
            kept.join("\n") + "\n"
        });
    }
    healed
}

/// Points the sinks on datastore `from` at `to`, or removes them.
fn retarget(workspaces: &[PathBuf], from: &str, to: Option<&str>) {
    for path in workspaces {
        edit(path, |t| {
            let needle = format!("{{datastore: {from}, ");
            t.lines()
                .filter_map(|l| match (l.contains(&needle), to) {
                    (false, _) => Some(l.to_string()),
                    (true, Some(to)) => Some(l.replace(&needle, &format!("{{datastore: {to}, "))),
                    (true, None) => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        });
    }
}

#[test]
fn warm_checks_from_the_index_print_what_cold_checks_print() {
    // DATASURFACE_KEEP_TEST_REPO=1 keeps the repository and cache for a look after a failure.
    let keep = std::env::var_os("DATASURFACE_KEEP_TEST_REPO").is_some();
    let kept = |dir: tempfile::TempDir| if keep { (dir.keep(), None) } else { (dir.path().to_path_buf(), Some(dir)) };
    let (dir, _repo) = kept(new_repo());
    let dir = dir.as_path();
    let out = dir.join("model");
    let generated = datasurface(
        dir,
        &[
            "generate",
            out.to_str().unwrap(),
            "--zones",
            "3",
            "--teams",
            "12",
            "--datastores",
            "60",
            "--datasets",
            "150",
            "--columns",
            "4",
            "--workspaces",
            "24",
        ],
    );
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    // The model at the repository root.
    for entry in std::fs::read_dir(&out).unwrap().flatten() {
        std::fs::rename(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir(&out).unwrap();
    let mut commits = vec![commit_all(dir, "generated")];
    let (cache, _cache) = kept(tempfile::tempdir().unwrap());
    if keep {
        eprintln!("repository {}, cache {}", dir.display(), cache.display());
    }
    let cache_arg = cache.to_str().unwrap().to_string();
    let mut rng = Rng(14);
    let (mut warm_hits, mut checks, mut compared) = (0, 0, 0);
    for step in 0..60 {
        let mut changes: Vec<String> = (0..=rng.below(2)).map(|_| mutate(dir, &mut rng, step)).collect();
        // Dangling sinks make every later check a full one: mend them now and then.
        if rng.below(3) == 0 && heal(dir) {
            changes.push("dangling sinks removed".into());
        }
        commits.push(commit_all(dir, &changes.join("; ")));
        // Against the previous commit, or (a long-lived branch) against an older one.
        let head = commits.last().unwrap().clone();
        let base = if rng.below(3) == 0 {
            commits[rng.below(commits.len() - 1)].clone()
        } else {
            commits[commits.len() - 2].clone()
        };
        let args = ["check", "--base", &base, "--head", &head, "--as-repo", "gen/t00000", "--format", "json"];
        let cold = datasurface(dir, &args);
        let mut warm_args = args.to_vec();
        warm_args.extend(["--cache-dir", &cache_arg]);
        // The index is used whatever share of this small model a change reaches.
        let warm = std::process::Command::new(env!("CARGO_BIN_EXE_datasurface"))
            .args(&warm_args)
            .current_dir(dir)
            .env("DATASURFACE_TIMINGS", "1")
            .env("DATASURFACE_WARM_INDEX", "always")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&warm.stderr);
        assert!(
            cold.stdout == warm.stdout && cold.status.code() == warm.status.code(),
            "step {step} ({}), {base}..{head}: warm and cold differ\ncold:\n{}\nwarm:\n{}\n{stderr}",
            changes.join("; "),
            String::from_utf8_lossy(&cold.stdout),
            String::from_utf8_lossy(&warm.stdout),
        );
        // Now and then: the index as updated change by change equals one built from scratch.
        if step % 10 == 9 {
            let fresh = tempfile::tempdir().unwrap();
            let mut fresh_args = args.to_vec();
            fresh_args.extend(["--cache-dir", fresh.path().to_str().unwrap()]);
            let built = datasurface(dir, &fresh_args);
            assert_eq!(built.stdout, cold.stdout, "step {step}: a fresh cache changed the report");
            let tree: [u8; 20] = hex(&git(dir, &["rev-parse", &format!("{head}^{{tree}}")]));
            let open = |path: &Path| {
                let options = datasurface::load::Options::default();
                datasurface::load::ParseCache::with_disk(
                    datasurface::load::DiskCache::open(path, 1 << 32, &options).unwrap(),
                )
            };
            let updated = datasurface::warm::index::stored(&open(&cache), "", &tree);
            let scratch = datasurface::warm::index::stored(&open(fresh.path()), "", &tree);
            assert!(scratch.is_some(), "step {step}: no index written");
            if stderr.contains("timing: warm index") {
                assert_eq!(format!("{updated:#?}"), format!("{scratch:#?}"), "step {step}: the updated index differs");
                compared += 1;
            }
        }
        checks += 1;
        if let Some(reason) = stderr.lines().find(|l| l.starts_with("warm index: full check")) {
            eprintln!("step {step}: {reason}");
        }
        if stderr.contains("timing: warm index") {
            warm_hits += 1;
        }
    }
    // The series makes most changes inside team folders: most checks must use the index.
    assert!(warm_hits * 2 >= checks, "only {warm_hits} of {checks} warm checks used the index");
    assert!(compared >= 2, "only {compared} updated indexes were compared with fresh ones");
    let log = git(dir, &["log", "--oneline"]);
    assert!(log.lines().count() > 60, "{log}");
}

/// "container `x` belongs to team T" depends on another team's `team.yaml`, which no folder
/// key names: when that team drops the container, a lint with a warm cache says what a cold
/// one says.
#[test]
fn a_message_about_another_teams_container_follows_that_team() {
    let repo = new_repo();
    let dir = repo.path();
    crate::support::copy_dir(&crate::support::fixture("lint/ref.unknown.container"), dir);
    std::fs::remove_file(dir.join("expect.txt")).unwrap();
    commit_all(dir, "model");
    let cache = tempfile::tempdir().unwrap();
    let lint = |extra: &[&str]| {
        let output = datasurface(dir, &[&["lint", ".", "--rev", "HEAD", "--format", "json"][..], extra].concat());
        String::from_utf8(output.stdout).unwrap()
    };
    let cache_arg = ["--cache-dir", cache.path().to_str().unwrap()];
    let before = lint(&cache_arg);
    assert!(before.contains("belongs to team z/consumers"), "{before}");
    let team = dir.join("zones/z/teams/consumers/team.yaml");
    let text = std::fs::read_to_string(&team).unwrap();
    std::fs::write(&team, text.replace("name: wpg", "name: wpg2")).unwrap();
    commit_all(dir, "the consumers rename their container");
    let cold = lint(&[]);
    assert!(!cold.contains("belongs to team z/consumers"), "{cold}");
    assert_eq!(lint(&cache_arg), cold);
}
