//! Each folder of `fixtures/lint/` is a small model with an `expect.txt` that lists every
//! problem lint must report, as `rule file:line:col`, and optional `args:` for the loader.

use std::collections::BTreeSet;
use std::path::Path;

use datasurface::load::{self, Snapshot};

use crate::support::fixture;

struct Expectation {
    options: load::Options,
    problems: BTreeSet<String>,
    /// Paths the test makes into named pipes in a copy of the case (git cannot hold them).
    fifos: Vec<String>,
}

fn read_expectation(case: &Path) -> Expectation {
    let text = std::fs::read_to_string(case.join("expect.txt")).expect("every lint case has expect.txt");
    let mut expectation =
        Expectation { options: load::Options::default(), problems: BTreeSet::new(), fifos: Vec::new() };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(args) = line.strip_prefix("args:") {
            let words: Vec<&str> = args.split_whitespace().collect();
            for pair in words.chunks(2) {
                let value = pair.get(1).expect("every argument has a value");
                match pair[0] {
                    "--max-file-size" => expectation.options.max_file_size = value.parse().unwrap(),
                    "--max-file-problems" => expectation.options.max_file_problems = value.parse().unwrap(),
                    other => panic!("{}: unsupported argument {other}", case.display()),
                }
            }
        } else if let Some(path) = line.strip_prefix("fifo:") {
            expectation.fifos.push(path.trim().to_string());
        } else {
            expectation.problems.insert(line.to_string());
        }
    }
    expectation
}

/// The problems lint reports for a case folder, with paths relative to the case.
pub fn lint_case(case: &Path, options: &load::Options) -> Vec<datasurface::problem::Problem> {
    let snapshot = Snapshot::Folder { root: case.to_path_buf(), prefix: String::new() };
    let model = load::load(&snapshot, options).unwrap();
    datasurface::validate::lint(&model)
}

pub fn cases() -> Vec<std::path::PathBuf> {
    let mut cases: Vec<_> =
        std::fs::read_dir(fixture("lint")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    cases
}

#[test]
fn every_case_reports_exactly_what_it_expects() {
    let mut failures = Vec::new();
    for case in cases() {
        let expectation = read_expectation(&case);
        let (_copy, case) = with_fifos(&case, &expectation.fifos);
        let actual: BTreeSet<String> = lint_case(&case, &expectation.options)
            .iter()
            .map(|p| {
                let location = p.location.as_ref().expect("lint problems have a location");
                format!("{} {location}", p.rule.id())
            })
            .collect();
        if actual != expectation.problems {
            failures.push(format!(
                "{}:\n  expected {:?}\n  actual   {:?}",
                case.file_name().unwrap().to_string_lossy(),
                expectation.problems,
                actual
            ));
        }
    }
    assert!(failures.is_empty(), "lint cases differ:\n{}", failures.join("\n"));
}

/// The case itself, or a copy of it with the named pipes it asks for (kept alive by the guard).
fn with_fifos(case: &Path, fifos: &[String]) -> (Option<tempfile::TempDir>, std::path::PathBuf) {
    if fifos.is_empty() {
        return (None, case.to_path_buf());
    }
    let copy = tempfile::tempdir().unwrap();
    crate::support::copy_dir(case, copy.path());
    for fifo in fifos {
        let status = std::process::Command::new("mkfifo").arg(copy.path().join(fifo)).status().expect("mkfifo runs");
        assert!(status.success(), "mkfifo {fifo}");
    }
    let path = copy.path().to_path_buf();
    (Some(copy), path)
}

#[test]
fn the_example_model_lints_clean() {
    let problems = lint_case(&fixture("acme"), &load::Options::default());
    assert!(problems.is_empty(), "fixtures/acme has problems: {problems:#?}");
}

#[test]
fn every_problem_names_its_object_and_a_fingerprint() {
    for case in cases() {
        let expectation = read_expectation(&case);
        let (_copy, case) = with_fifos(&case, &expectation.fifos);
        for problem in lint_case(&case, &expectation.options) {
            assert!(!problem.message.is_empty());
            assert!(!problem.path.is_empty(), "{}: {} has no object", case.display(), problem.rule);
            assert_eq!(problem.fingerprint().len(), 16);
        }
    }
}

/// Condensing files as they are read (what `lint` and `check` do to hold big models) must not
/// change a single problem: every field of every problem of every case, and the example.
#[test]
fn condensed_loading_reports_exactly_what_whole_documents_do() {
    let mut all = cases();
    all.push(fixture("acme"));
    let mut compared = 0;
    for case in all {
        let options =
            if case.join("expect.txt").exists() { read_expectation(&case).options } else { load::Options::default() };
        let fifos = if case.join("expect.txt").exists() { read_expectation(&case).fifos } else { Vec::new() };
        let (_copy, case) = with_fifos(&case, &fifos);
        let snapshot = Snapshot::Folder { root: case.to_path_buf(), prefix: String::new() };
        let whole = datasurface::validate::lint(&load::load(&snapshot, &options).unwrap());
        let condensed_model = load::load_planned(
            &snapshot,
            &options,
            &load::ParseCache::default(),
            &Default::default(),
            Some(&datasurface::warm::Condenser),
        )
        .unwrap();
        let condensed = datasurface::validate::lint(&condensed_model);
        let json = |problems: &[datasurface::problem::Problem]| format!("{problems:#?}");
        assert_eq!(json(&whole), json(&condensed), "{}", case.display());
        compared += condensed_model.files.iter().filter(|f| f.parsed.cached_local.is_some()).count();
    }
    assert!(compared > 50, "only {compared} files were condensed: the comparison proves little");
}
