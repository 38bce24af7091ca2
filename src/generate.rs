//! Synthetic models for benchmarks and scale tests: deterministic, lint-clean, realistic
//! (varied column types, dataset and column classifications, many workspaces sinking many
//! datasets), written to a folder or, through `git fast-import`, to a repository with a
//! `base` commit and a `head` commit that makes a chosen change.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// The size of a generated model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub zones: usize,
    pub teams: usize,
    pub datastores: usize,
    pub datasets: usize,
    pub columns: usize,
    pub workspaces: usize,
    pub seed: u64,
}

impl Shape {
    /// The benchmark presets: `small`, `medium`, `large`, `huge`, `giant`.
    pub fn preset(name: &str) -> Option<Shape> {
        let (zones, teams, datastores, datasets, columns, workspaces) = match name {
            "small" => (2, 6, 20, 100, 10, 10),
            "medium" => (4, 40, 500, 5_000, 51, 200),
            "large" => (10, 400, 10_000, 100_000, 20, 2_000),
            "huge" => (20, 2_000, 100_000, 1_000_000, 10, 10_000),
            // The estate the original was designed for: 12 million datasets. Write it with
            // `--git` (about 1.2 million files; a folder would take ~8 GB of small files).
            "giant" => (40, 4_000, 1_200_000, 12_000_000, 10, 120_000),
            _ => return None,
        };
        Some(Shape { zones, teams, datastores, datasets, columns, workspaces, seed: 1 })
    }
}

/// What the head commit changes relative to the base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// One datastore file gains a nullable column in one dataset.
    OneFile,
    /// 1% of datasets gain a nullable column.
    AddNullable,
    /// One consumed dataset loses a column (a breaking change).
    Break,
}

/// SplitMix64: a tiny, fast, deterministic generator (no dependency, same output everywhere).
/// Public for tests that make seeded random changes to generated models.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const CLASSIFICATIONS: &[&str] = &["PUB", "PC1", "PC2", "PC3"];
const TYPES: &[&str] = &[
    "bigint",
    "integer",
    "varchar(64)",
    "varchar(255)",
    "\"decimal(18,2)\"",
    "timestamptz",
    "date",
    "boolean",
    "string",
    "char(3)",
    "float64",
    "uuid",
    "json",
    "smallint",
    "\"decimal(10,4)\"",
    "timestamp",
];

fn zone_name(i: usize) -> String {
    format!("z{i:03}")
}

fn team_name(i: usize) -> String {
    format!("t{i:05}")
}

fn store_name(i: usize) -> String {
    format!("store_{i:06}")
}

fn dataset_name(i: usize) -> String {
    format!("ds_{i:03}")
}

/// A generated model: files by path, produced one at a time.
pub struct Model {
    shape: Shape,
}

impl Model {
    pub fn new(shape: Shape) -> Model {
        Model { shape }
    }

    fn team_zone(&self, team: usize) -> usize {
        team % self.shape.zones.max(1)
    }

    /// How many datasets datastore `store` holds: the datasets spread evenly.
    fn datasets_of(&self, store: usize) -> usize {
        let stores = self.shape.datastores.max(1);
        self.shape.datasets / stores + usize::from(store < self.shape.datasets % stores)
    }

    /// The model-wide number of the first dataset of datastore `store`.
    fn first_dataset(&self, store: usize) -> usize {
        let stores = self.shape.datastores.max(1);
        store * (self.shape.datasets / stores) + store.min(self.shape.datasets % stores)
    }

    /// Every file of the base model, in a fixed order: `(path, content)`.
    pub fn files(&self) -> impl Iterator<Item = (String, String)> + '_ {
        let shape = self.shape;
        let ecosystem = std::iter::once(("ecosystem.yaml".to_string(), self.ecosystem()));
        let zones = (0..shape.zones).map(move |z| (format!("zones/{}/zone.yaml", zone_name(z)), self.zone(z)));
        let teams = (0..shape.teams).map(move |t| (self.team_dir(t) + "/team.yaml", self.team(t)));
        let stores = (0..shape.datastores)
            .filter(move |s| self.datasets_of(*s) > 0)
            .map(move |s| (self.store_path(s), self.datastore(s, None)));
        let workspaces = (0..shape.workspaces).map(move |w| (self.workspace_path(w), self.workspace(w)));
        ecosystem.chain(zones).chain(teams).chain(stores).chain(workspaces)
    }

    fn team_dir(&self, team: usize) -> String {
        format!("zones/{}/teams/{}", zone_name(self.team_zone(team)), team_name(team))
    }

    fn store_path(&self, store: usize) -> String {
        format!("{}/datastores/{}.yaml", self.team_dir(store % self.shape.teams.max(1)), store_name(store))
    }

    fn workspace_path(&self, workspace: usize) -> String {
        format!("{}/workspaces/ws_{workspace:05}.yaml", self.team_dir(workspace % self.shape.teams.max(1)))
    }

    fn ecosystem(&self) -> String {
        let mut out = String::from(
            "kind: Ecosystem\nname: generated\nowner: {repo: gen/model}\nvendors:\n  - {name: aws, cloud: aws, locations: {us-east-1: {}, us-west-2: {}, eu-west-1: {dublin: {}}}}\ncredentialStores:\n  - {name: secrets, kind: files, path: /run/secrets}\nplatforms:\n  - {name: zero, kind: zero, credentialStore: secrets}\nzones:\n",
        );
        for z in 0..self.shape.zones {
            let _ = writeln!(
                out,
                "  - {{name: {}, owner: {{repo: gen/{}, teams: [gen/{}-gov]}}}}",
                zone_name(z),
                zone_name(z),
                zone_name(z)
            );
        }
        out
    }

    fn zone(&self, zone: usize) -> String {
        let mut out = format!(
            "kind: GovernanceZone\nname: {}\npolicies:\n  locations: {{allowed: [\"aws:us-east-1\", \"aws:us-west-2\", \"aws:eu-west-1\"]}}\n  classifications: {{allowed: [PUB, PC1, PC2, PC3], notAllowed: [MNPI]}}\n  platforms: {{allowed: [zero]}}\nteams:\n",
            zone_name(zone)
        );
        for t in (0..self.shape.teams).filter(|t| self.team_zone(*t) == zone) {
            let _ = writeln!(
                out,
                "  - {{name: {}, owner: {{repo: gen/{}, teams: [gen/{}-eng]}}}}",
                team_name(t),
                team_name(t),
                team_name(t)
            );
        }
        out
    }

    fn team(&self, team: usize) -> String {
        format!(
            "kind: Team\nname: {}\ncontainers:\n  - {{name: kafka, kind: kafka, bootstrap: [\"kafka-{team}.internal:9092\"], locations: [\"aws:us-east-1\"]}}\n  - {{name: pg, kind: postgres, host: pg-{team}.internal, port: 5432, database: db{team}, locations: [\"aws:us-east-1\"]}}\n",
            team_name(team)
        )
    }

    /// A datastore file; `extra` adds a nullable column to dataset `extra` of it.
    fn datastore(&self, store: usize, extra: Option<usize>) -> String {
        let mut rng = Rng(self.shape.seed ^ (store as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut out = format!(
            "kind: Datastore\nname: {}\ndocumentation: Generated datastore {store}.\nproductionStatus: production\ncapture:\n  kind: kafka\n  container: kafka\n  credential: reader\n  mapping: debezium\n  trigger: {{cron: \"*/{} * * * *\"}}\ndatasets:\n",
            store_name(store),
            1 + rng.below(30)
        );
        for d in 0..self.datasets_of(store) {
            let column_level = rng.below(4) == 0;
            let _ = writeln!(out, "  - name: {}", dataset_name(d));
            if !column_level {
                let _ = writeln!(out, "    classifications: [{}]", CLASSIFICATIONS[rng.below(CLASSIFICATIONS.len())]);
            }
            out.push_str("    schema:\n      primaryKey: [id]\n      columns:\n        - {name: id, type: bigint, nullable: false");
            if column_level {
                out.push_str(", classifications: [PUB]");
            }
            out.push_str("}\n");
            for c in 1..self.shape.columns.max(1) {
                let ty = TYPES[rng.below(TYPES.len())];
                let _ = write!(out, "        - {{name: col_{c:03}, type: {ty}");
                if rng.below(3) == 0 {
                    out.push_str(", nullable: false");
                }
                if column_level {
                    let _ = write!(out, ", classifications: [{}]", CLASSIFICATIONS[rng.below(CLASSIFICATIONS.len())]);
                }
                out.push_str("}\n");
            }
            if extra == Some(d) {
                out.push_str("        - {name: added_col, type: varchar(32)");
                if column_level {
                    out.push_str(", classifications: [PUB]");
                }
                out.push_str("}\n");
            }
        }
        out
    }

    fn workspace(&self, workspace: usize) -> String {
        let mut rng = Rng(self.shape.seed ^ 0xdead_beef ^ (workspace as u64).wrapping_mul(0x9e37_79b9));
        let mut out = format!(
            "kind: Workspace\nname: ws_{workspace:05}\ncontainer: pg\nproductionStatus: production\ndatasetGroups:\n"
        );
        for g in 0..2 {
            let _ = writeln!(
                out,
                "  - name: group_{g}\n    platform: zero\n    requirements: {{latency: minutes, milestoning: live-only, retention: 30d}}\n    sinks:"
            );
            let mut seen = Vec::new();
            for _ in 0..5 {
                let store = rng.below(self.shape.datastores);
                let dataset = rng.below(self.datasets_of(store).max(1));
                if self.datasets_of(store) == 0 || seen.contains(&(store, dataset)) {
                    continue;
                }
                seen.push((store, dataset));
                let _ =
                    writeln!(out, "      - {{datastore: {}, dataset: {}}}", store_name(store), dataset_name(dataset));
            }
        }
        out
    }

    /// The files the head commit changes, with their new content.
    pub fn changed_files(&self, change: Change) -> Vec<(String, String)> {
        match change {
            Change::OneFile => vec![(self.store_path(0), self.datastore(0, Some(0)))],
            Change::AddNullable => {
                // Every hundredth dataset, counted across the model.
                (0..self.shape.datastores)
                    .filter(|s| self.datasets_of(*s) > 0)
                    .filter_map(|s| {
                        let first = self.first_dataset(s);
                        let hit = (first..first + self.datasets_of(s)).find(|i| i % 100 == 0)?;
                        Some((self.store_path(s), self.datastore(s, Some(hit - first))))
                    })
                    .collect()
            }
            Change::Break => {
                // The first dataset that workspace 0 sinks loses its last column.
                let text = self.workspace(0);
                let line = text.lines().find(|l| l.contains("{datastore: ")).unwrap_or_default();
                let store: usize = line
                    .split("store_")
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default();
                let content = self.datastore(store, None);
                let dataset_marker = line.split("dataset: ").nth(1).unwrap_or("ds_000}").trim_end_matches('}');
                vec![(self.store_path(store), drop_last_column(&content, dataset_marker))]
            }
        }
    }
}

/// Removes the last column line of dataset `dataset` from a datastore file.
fn drop_last_column(content: &str, dataset: &str) -> String {
    let lines: Vec<&str> = content.lines().collect();
    let start = lines.iter().position(|l| l.trim() == format!("- name: {dataset}")).unwrap_or(0);
    let end =
        lines[start + 1..].iter().position(|l| l.starts_with("  - name: ")).map_or(lines.len(), |i| start + 1 + i);
    let last_column = (start..end).rev().find(|i| lines[*i].trim_start().starts_with("- {name: col_"));
    let kept: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| Some(*i) != last_column).map(|(_, l)| *l).collect();
    kept.join("\n") + "\n"
}

/// Writes the base model to a folder.
pub fn write_folder(model: &Model, out: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for (path, content) in model.files() {
        let target = out.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, content)?;
        n += 1;
    }
    Ok(n)
}

/// Writes a `git fast-import` stream: the base model committed on `main` and tagged `base`,
/// then the change committed on top and tagged `head`.
pub fn write_fast_import(model: &Model, change: Change, out: &mut impl Write) -> std::io::Result<usize> {
    let mut n = 0;
    let commit = |out: &mut dyn Write, message: &str, time: u64| -> std::io::Result<()> {
        write!(
            out,
            "commit refs/heads/main\nauthor Generator <gen@example.com> {time} +0000\ncommitter Generator <gen@example.com> {time} +0000\ndata {}\n{message}\n",
            message.len()
        )
    };
    commit(out, "base", 1_700_000_000)?;
    for (path, content) in model.files() {
        write!(out, "M 100644 inline {path}\ndata {}\n{content}\n", content.len())?;
        n += 1;
    }
    out.write_all(b"\nreset refs/tags/base\nfrom refs/heads/main\n\n")?;
    commit(out, "head", 1_700_000_100)?;
    for (path, content) in model.changed_files(change) {
        write!(out, "M 100644 inline {path}\ndata {}\n{content}\n", content.len())?;
    }
    out.write_all(b"\nreset refs/tags/head\nfrom refs/heads/main\n\n")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hold_what_they_say() {
        let shape = Shape { zones: 2, teams: 5, datastores: 7, datasets: 30, columns: 6, workspaces: 4, seed: 9 };
        let model = Model::new(shape);
        let files: Vec<(String, String)> = model.files().collect();
        let stores: Vec<&String> = files.iter().filter(|(p, _)| p.contains("/datastores/")).map(|(_, c)| c).collect();
        assert_eq!(stores.len(), 7);
        let datasets: usize = stores.iter().map(|c| c.matches("\n  - name: ds_").count()).sum();
        assert_eq!(datasets, 30);
        assert!(stores.iter().all(|c| c.matches("{name: col_005").count() == c.matches("\n  - name: ds_").count()));
        // Deterministic: the same seed gives the same bytes.
        let again: Vec<(String, String)> = Model::new(shape).files().collect();
        assert_eq!(files, again);
        let other: Vec<(String, String)> = Model::new(Shape { seed: 10, ..shape }).files().collect();
        assert_ne!(files, other);
    }

    #[test]
    fn changes_touch_what_they_say() {
        let model = Model::new(Shape::preset("small").unwrap());
        assert_eq!(model.changed_files(Change::OneFile).len(), 1);
        let added = model.changed_files(Change::AddNullable);
        assert_eq!(added.iter().map(|(_, c)| c.matches("added_col").count()).sum::<usize>(), 1, "1% of 100 datasets");
        let broken = model.changed_files(Change::Break);
        assert_eq!(broken.len(), 1);
        let original: String = model.files().find(|(p, _)| *p == broken[0].0).unwrap().1;
        assert_eq!(original.lines().count(), broken[0].1.lines().count() + 1);
    }
}
