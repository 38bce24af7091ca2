//! Name lookups over one model, built once per lint so that references resolve in O(1).

use std::collections::HashMap;

use crate::model::{
    Container, CredentialStore, Dataset, Datastore, Declaration, GovernanceZone, Ident, LocationTree, Model, Placed,
    Platform, Team, Vendor, Workspace, same_ident,
};

/// Datastores with at most this many datasets are searched by scanning, which for the usual
/// handful is faster than hashing (and a model of millions of datasets needs no big map).
const SCAN_LIMIT: usize = 32;

pub struct Index<'m> {
    /// Whether `ecosystem.yaml` was read. Without it, references to vendors, locations,
    /// platforms and credential stores cannot be checked, and are not: the broken file's own
    /// problem says what is wrong.
    pub has_ecosystem: bool,
    /// Team folders whose `team.yaml` exists but could not be read: their containers are
    /// unknown, which their file's own problem explains.
    pub unreadable_teams: std::collections::HashSet<(std::sync::Arc<str>, std::sync::Arc<str>)>,
    pub vendors: HashMap<&'m str, &'m Vendor>,
    pub platforms: HashMap<&'m str, &'m Platform>,
    pub credential_stores: HashMap<&'m str, &'m CredentialStore>,
    pub zone_declarations: HashMap<&'m str, &'m Declaration>,
    /// Zone definitions by folder name.
    pub zones: HashMap<&'m str, &'m Placed<GovernanceZone>>,
    /// Team definitions by zone and team folder names.
    pub teams: HashMap<(&'m str, &'m str), &'m Placed<Team>>,
    /// The first datastore of each name (SQL identifiers: case does not count).
    datastores: HashMap<Ident<'m>, &'m Placed<Datastore>>,
    /// The first workspace of each name.
    pub workspaces: HashMap<Ident<'m>, &'m Placed<Workspace>>,
    /// Datasets by name, for the datastores with many of them; others are scanned.
    big_datastores: HashMap<Ident<'m>, HashMap<Ident<'m>, &'m Dataset>>,
    /// Names that files which could not be parsed seem to define (`ParsedFile::salvaged`): a
    /// reference to one of them is not reported, since the broken file's own problem explains it.
    pub salvaged: std::collections::HashSet<Ident<'m>>,
    /// What every sink names, resolved once for the rules that follow sinks (references,
    /// policies, sinks): in workspace order, and within a workspace in group and sink order.
    /// At 1.2 million sinks each lookup is a few cache misses, which three rules paid thrice.
    sink_targets: Vec<SinkTarget<'m>>,
    /// Where each workspace's targets start in `sink_targets` (one more entry at the end).
    sink_starts: Vec<usize>,
}

/// What a sink names: the first datastore of that name, its dataset and its zone's
/// definition, when they exist.
#[derive(Clone, Copy, Debug, Default)]
pub struct SinkTarget<'m> {
    pub store: Option<&'m Placed<Datastore>>,
    pub dataset: Option<&'m Dataset>,
    pub zone: Option<&'m Placed<GovernanceZone>>,
}

impl<'m> Index<'m> {
    pub fn new(model: &'m Model) -> Index<'m> {
        let mut index = Index {
            has_ecosystem: model.ecosystem.is_some(),
            unreadable_teams: Default::default(),
            vendors: HashMap::new(),
            platforms: HashMap::new(),
            credential_stores: HashMap::new(),
            zone_declarations: HashMap::new(),
            zones: HashMap::new(),
            teams: HashMap::new(),
            datastores: HashMap::with_capacity(model.datastores.len()),
            workspaces: HashMap::with_capacity(model.workspaces.len()),
            big_datastores: HashMap::new(),
            salvaged: model.files.iter().flat_map(|f| f.parsed.salvaged.iter().map(|n| Ident(n))).collect(),
            sink_targets: Vec::new(),
            sink_starts: Vec::new(),
        };
        if let Some(eco) = model.ecosystem() {
            for vendor in &eco.vendors {
                index.vendors.entry(&vendor.name).or_insert(vendor);
            }
            for platform in &eco.platforms {
                index.platforms.entry(&platform.name).or_insert(platform);
            }
            for store in &eco.credential_stores {
                index.credential_stores.entry(&store.name).or_insert(store);
            }
            for zone in &eco.zones {
                index.zone_declarations.entry(&zone.name).or_insert(zone);
            }
        }
        for zone in &model.zones {
            index.zones.entry(&zone.scope.zone).or_insert(zone);
        }
        for file in model.files.iter().filter(|f| f.parsed.documents.is_empty() && f.path.ends_with("/team.yaml")) {
            let rel = if model.root.is_empty() {
                &*file.path
            } else {
                file.path.strip_prefix(&format!("{}/", model.root)).unwrap_or(&file.path)
            };
            if let crate::model::layout::Classified::Model {
                place: crate::model::layout::Place::Team,
                zone: Some(zone),
                team: Some(team),
            } = crate::model::layout::classify(rel)
            {
                index.unreadable_teams.insert((zone, team));
            }
        }
        for team in &model.teams {
            if let Some(name) = &team.scope.team {
                index.teams.entry((&team.scope.zone, name)).or_insert(team);
            }
        }
        for store in &model.datastores {
            let key = Ident(&store.name.value);
            if index.datastores.contains_key(&key) {
                continue;
            }
            index.datastores.insert(key, store);
            if store.datasets.len() > SCAN_LIMIT {
                let mut by_name = HashMap::with_capacity(store.datasets.len());
                for dataset in &store.datasets {
                    by_name.entry(Ident(&dataset.name.value)).or_insert(dataset);
                }
                index.big_datastores.insert(key, by_name);
            }
        }
        for workspace in &model.workspaces {
            index.workspaces.entry(Ident(&workspace.name.value)).or_insert(workspace);
        }
        index.resolve_sinks(model);
        index
    }

    /// Fills `sink_targets`, on every core: the lookups are independent.
    fn resolve_sinks(&mut self, model: &'m Model) {
        let mut starts = Vec::with_capacity(model.workspaces.len() + 1);
        let mut total = 0;
        for workspace in &model.workspaces {
            starts.push(total);
            total += workspace.dataset_groups.iter().map(|g| g.sinks.len()).sum::<usize>();
        }
        starts.push(total);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(total.div_ceil(50_000)).max(1);
        let chunk = model.workspaces.len().div_ceil(threads).max(1);
        let this = &*self;
        let resolve = move |workspaces: &'m [Placed<Workspace>]| -> Vec<SinkTarget<'m>> {
            let sinks = workspaces.iter().flat_map(|w| &w.dataset_groups).flat_map(|g| &g.sinks);
            sinks
                .map(|sink| {
                    let store = this.datastore(&sink.datastore.value);
                    SinkTarget {
                        store,
                        dataset: store.and_then(|s| this.dataset_of(s, &sink.dataset)),
                        zone: store.and_then(|s| this.zones.get(&*s.scope.zone).copied()),
                    }
                })
                .collect()
        };
        if threads == 1 {
            // A small model: no thread for it (the warm path builds several indexes per check).
            self.sink_targets = resolve(&model.workspaces);
            self.sink_starts = starts;
            return;
        }
        let targets: Vec<SinkTarget<'m>> = std::thread::scope(|scope| {
            let workers: Vec<_> =
                model.workspaces.chunks(chunk).map(|workspaces| scope.spawn(move || resolve(workspaces))).collect();
            let mut all = Vec::with_capacity(total);
            for worker in workers {
                all.extend(worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            }
            all
        });
        self.sink_targets = targets;
        self.sink_starts = starts;
    }

    /// What the sinks of `model.workspaces[workspace]` name, in group and sink order.
    pub fn sink_targets(&self, workspace: usize) -> &[SinkTarget<'m>] {
        match (self.sink_starts.get(workspace), self.sink_starts.get(workspace + 1)) {
            (Some(&start), Some(&end)) => &self.sink_targets[start..end],
            _ => &[],
        }
    }

    /// The first datastore named `name`, whatever its case.
    pub fn datastore(&self, name: &str) -> Option<&'m Placed<Datastore>> {
        self.datastores.get(&Ident(name)).copied()
    }

    /// The names of the datastores (for suggestions).
    pub fn datastore_names(&self) -> impl Iterator<Item = &'m str> + '_ {
        self.datastores.keys().map(|k| k.0)
    }

    /// The first dataset named `dataset` of the first datastore named `store`, whatever their case.
    pub fn dataset(&self, store: &str, dataset: &str) -> Option<&'m Dataset> {
        self.dataset_of(self.datastore(store)?, dataset)
    }

    /// The first dataset named `dataset` of `store` (found by `datastore`), whatever its case.
    pub fn dataset_of(&self, store: &'m Placed<Datastore>, dataset: &str) -> Option<&'m Dataset> {
        // Most models have no datastore big enough to be in the map: no hashing then.
        if !self.big_datastores.is_empty()
            && let Some(by_name) = self.big_datastores.get(&Ident(&store.name.value))
        {
            return by_name.get(&Ident(dataset)).copied();
        }
        store.datasets.iter().find(|d| same_ident(&d.name.value, dataset))
    }

    /// The team declaration in the zone definition, if both exist.
    pub fn team_declaration(&self, zone: &str, team: &str) -> Option<&'m Declaration> {
        self.zones.get(zone)?.teams.iter().find(|d| &*d.name.value == team)
    }

    pub fn container(&self, zone: &str, team: &str, name: &str) -> Option<&'m Container> {
        self.teams.get(&(zone, team))?.containers.iter().find(|c| &*c.name.value == name)
    }

    /// Checks a location key `vendor:a/b` against the vendors' location trees.
    pub fn resolve_location<'k>(&self, key: &'k str) -> Result<LocationKey<'k>, String> {
        let location = LocationKey::parse(key)?;
        let Some(vendor) = self.vendors.get(location.vendor) else {
            let suggestion = crate::suggest::did_you_mean(location.vendor, self.vendors.keys().copied());
            return Err(format!("unknown vendor `{}` in location `{key}`{suggestion}", location.vendor));
        };
        let mut tree: &LocationTree = &vendor.locations;
        for (depth, segment) in location.path.iter().enumerate() {
            match tree.0.iter().find(|l| &*l.name.value == *segment) {
                Some(node) => tree = &node.children,
                None => {
                    let parent = if depth == 0 {
                        format!("vendor `{}`", location.vendor)
                    } else {
                        format!("`{}:{}`", location.vendor, location.path[..depth].join("/"))
                    };
                    let suggestion = crate::suggest::did_you_mean(segment, tree.0.iter().map(|l| &*l.name.value));
                    return Err(format!("`{segment}` is not a location of {parent}{suggestion}"));
                }
            }
        }
        Ok(location)
    }
}

/// A parsed location key: a vendor and a path into its location tree (empty for the vendor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationKey<'k> {
    pub vendor: &'k str,
    pub path: Vec<&'k str>,
}

impl<'k> LocationKey<'k> {
    pub fn parse(key: &'k str) -> Result<LocationKey<'k>, String> {
        let (vendor, path) = key.split_once(':').unwrap_or((key, ""));
        if vendor.is_empty() {
            return Err(format!("`{key}` is not a location key `vendor:path/sub`"));
        }
        let path: Vec<&str> = if path.is_empty() { Vec::new() } else { path.split('/').collect() };
        if path.iter().any(|s| s.is_empty()) {
            return Err(format!("`{key}` has an empty path segment; write `vendor:a/b`"));
        }
        Ok(LocationKey { vendor, path })
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub fn covers(&self, other: &LocationKey<'_>) -> bool {
        self.vendor == other.vendor && other.path.starts_with(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_keys() {
        let eu = LocationKey::parse("aws:eu-west-1").unwrap();
        let dublin = LocationKey::parse("aws:eu-west-1/dublin").unwrap();
        let aws = LocationKey::parse("aws").unwrap();
        assert!(eu.covers(&dublin) && aws.covers(&dublin) && eu.covers(&eu));
        assert!(!dublin.covers(&eu));
        assert!(!LocationKey::parse("gcp:eu-west-1").unwrap().covers(&eu));
        assert!(LocationKey::parse("aws:a//b").is_err());
        assert!(LocationKey::parse(":a").is_err());
    }
}
