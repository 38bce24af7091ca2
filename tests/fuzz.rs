//! Property test: mutated model files never make loading or lint panic, and every problem
//! points inside the file it names. Set PROPTEST_CASES to run more cases.

use datasurface::load::{self, Snapshot};
use proptest::prelude::*;

use crate::support::fixture;

/// The number of cases: `PROPTEST_CASES` when set (for long runs), else the default given.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn model_files() -> Vec<(String, Vec<u8>)> {
    let root = fixture("acme");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let rel = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
            files.push((rel, std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace { at: usize, byte: u8 },
    Insert { at: usize, text: &'static str },
    Delete { at: usize, len: usize },
    DuplicateLine { at: usize },
    Truncate { at: usize },
}

const SNIPPETS: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "&a ",
    "*a",
    "*b",
    "<<: *a",
    "---\n",
    "\n  ",
    "\t",
    "#",
    "!!str ",
    "!custom ",
    "\u{0}",
    "\u{feff}",
    "é",
    "~",
    "null",
    "kind: Team\n",
    "name: ",
    "select",
    "%YAML 1.2\n",
    "? ",
    "|\n",
    ">-\n",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Replace { at, byte }),
        (any::<usize>(), proptest::sample::select(SNIPPETS)).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Replace { at, byte } => {
            if !bytes.is_empty() {
                bytes[at % len] = *byte;
            }
        }
        Mutation::Insert { at, text } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, text.bytes());
        }
        Mutation::Delete { at, len: n } => {
            let at = at % len;
            let end = (at + n).min(bytes.len());
            bytes.drain(at.min(end)..end);
        }
        Mutation::DuplicateLine { at } => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = at % lines.len();
                let mut out = lines.clone();
                out.insert(i, lines[i]);
                *bytes = (out.join("\n") + "\n").into_bytes();
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_models_never_panic(file in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut files = model_files();
        let index = file % files.len();
        for m in &mutations {
            apply(&mut files[index].1, m);
        }
        let lines: Vec<usize> = files.iter().map(|(_, b)| String::from_utf8_lossy(b).lines().count().max(1)).collect();
        let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        let snapshot = Snapshot::Memory { files };
        let model = load::load(&snapshot, &load::Options::default()).unwrap();
        let problems = datasurface::validate::lint(&model);
        for problem in &problems {
            let location = problem.location.as_ref().unwrap();
            let file = paths.iter().position(|p| **p == *location.file).expect("problems name model files");
            prop_assert!(location.pos.line >= 1 && location.pos.col >= 1);
            prop_assert!(location.pos.line as usize <= lines[file] + 1, "{} beyond {} lines", location, lines[file]);
        }
        // Every renderer accepts whatever lint produced.
        let report = datasurface::report::Report {
            command: "lint",
            root: datasurface::validate::Paths::new(&model).ecosystem().remove(0),
            problems,
            files: model.files.len(),
            notes: Vec::new(),
            check: None,
            fail_on: datasurface::problem::Severity::Error,
        };
        let sources = |_, path: &str| snapshot.excerpt(&model, path, u64::MAX);
        let _ = datasurface::report::text::render(&report, &sources, Default::default());
        let _ = datasurface::report::json::render(&report);
    }
}

/// Every model file the repository holds: the example, the lint cases and the scenarios.
fn corpus() -> Vec<String> {
    let mut texts = Vec::new();
    let mut stack = vec![fixture("")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            texts.push(text);
        }
    }
    texts.sort();
    let generated = datasurface::generate::Model::new(datasurface::generate::Shape::preset("small").unwrap());
    texts.extend(generated.files().map(|(_, text)| text));
    texts
}

/// The fast YAML path must build exactly what granit-parser builds, or decline.
fn fast_agrees_with_slow(text: &str) -> Result<bool, TestCaseError> {
    let limits = datasurface::yaml::Limits::default();
    let Some(fast) = datasurface::yaml::parse_fast(text, limits) else { return Ok(false) };
    let slow = datasurface::yaml::parse_slow(text, limits);
    prop_assert_eq!(&fast.documents, &slow.documents, "trees differ for:\n{}", text);
    prop_assert_eq!(&fast.errors, &slow.errors, "errors differ for:\n{}", text);
    Ok(true)
}

#[test]
fn the_fast_yaml_path_takes_every_model_file_of_the_repository() {
    let corpus = corpus();
    let mut declined = Vec::new();
    for text in &corpus {
        if !fast_agrees_with_slow(text).unwrap() {
            declined.push(text.lines().take(3).collect::<Vec<_>>().join(" / "));
        }
    }
    // Files with syntax errors, aliases or binary content are left to granit-parser on purpose.
    assert!(
        declined.len() * 20 < corpus.len(),
        "the fast path declined {} of {} files: {declined:#?}",
        declined.len(),
        corpus.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_yaml_path_agrees_with_granit(file in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        let corpus = corpus();
        let mut bytes = corpus[file % corpus.len()].clone().into_bytes();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Ok(text) = String::from_utf8(bytes) {
            fast_agrees_with_slow(&text)?;
        }
    }
}
