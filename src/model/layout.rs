//! The model's layout (MODEL.md §2): where a file sits, so which kinds it may hold and which
//! scope owns it, and the team folders of a revision. Pure: paths in, places out.

use std::sync::Arc;

use crate::model::BlobId;

/// Which kinds a file may hold, from its place in the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    Ecosystem,
    Zone,
    Team,
    TeamContent,
}

impl Place {
    /// Whether a document of `kind` may be in a file at this place.
    pub fn allows(self, kind: &str) -> bool {
        match self {
            Place::Ecosystem => kind == "Ecosystem",
            Place::Zone => kind == "GovernanceZone",
            Place::Team => kind == "Team",
            Place::TeamContent => kind == "Datastore" || kind == "Workspace",
        }
    }

    /// What a file at this place holds, in words.
    pub fn expected(self) -> &'static str {
        match self {
            Place::Ecosystem => "`ecosystem.yaml` holds `kind: Ecosystem`",
            Place::Zone => "`zone.yaml` holds `kind: GovernanceZone`",
            Place::Team => "`team.yaml` holds `kind: Team`",
            Place::TeamContent => "files in a team folder hold `kind: Datastore` or `kind: Workspace`",
        }
    }

    /// Where a document of `kind` belongs, in words.
    pub fn home(kind: &str) -> &'static str {
        match kind {
            "Ecosystem" => "`ecosystem.yaml` at the model root",
            "GovernanceZone" => "`zones/<zone>/zone.yaml`",
            "Team" => "`zones/<zone>/teams/<team>/team.yaml`",
            _ => "a file under `zones/<zone>/teams/<team>/`",
        }
    }
}

/// A team folder of a git revision: its path (from the repository root) and tree id, and the
/// blob of its zone's `zone.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamFolder {
    pub path: String,
    pub tree: BlobId,
    pub zone_blob: Option<BlobId>,
    /// Whether the model holds this folder's summary (from the cache) rather than its files.
    pub summarized: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classified {
    /// A model file: its place and the zone and team folders it is in.
    Model { place: Place, zone: Option<Arc<str>>, team: Option<Arc<str>> },
    /// A YAML file with no place in the layout, with a hint where it may belong.
    Unexpected { hint: String },
    /// Not a model file: not YAML, or hidden (a name starting with `.`).
    Ignored,
}

/// Classifies a path relative to the model root (`/`-separated).
pub fn classify(rel: &str) -> Classified {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.iter().any(|p| p.starts_with('.')) {
        return Classified::Ignored;
    }
    let file = parts[parts.len() - 1];
    // Extensions compare without case (`Orders.YAML` is a model file); the fixed names
    // `ecosystem.yaml`, `zone.yaml` and `team.yaml` are exact.
    let ends_with = |suffix: &str| {
        file.len() >= suffix.len()
            && file.as_bytes()[file.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    if !(ends_with(".yaml") || ends_with(".yml")) {
        return Classified::Ignored;
    }
    let arc = |s: &str| Some(shared_name(s));
    match parts.as_slice() {
        ["ecosystem.yaml"] => Classified::Model { place: Place::Ecosystem, zone: None, team: None },
        ["zones", zone, "zone.yaml"] => Classified::Model { place: Place::Zone, zone: arc(zone), team: None },
        ["zones", zone, "teams", team, "team.yaml"] => {
            Classified::Model { place: Place::Team, zone: arc(zone), team: arc(team) }
        }
        // `team.YML`, `Team.yaml`: the team file under another spelling.
        ["zones", _, "teams", _, file] if ["team.yaml", "team.yml"].contains(&file.to_ascii_lowercase().as_str()) => {
            Classified::Unexpected { hint: hint(&parts) }
        }
        ["zones", zone, "teams", team, _, ..] => {
            Classified::Model { place: Place::TeamContent, zone: arc(zone), team: arc(team) }
        }
        _ => Classified::Unexpected { hint: hint(&parts) },
    }
}

thread_local! {
    /// The zone and team names classified last on this thread: a listing goes folder by
    /// folder, so consecutive files share one `Arc` per name instead of two allocations each
    /// (1.3 million files of a 12M-dataset model spent more than a second on them).
    static RECENT: std::cell::RefCell<[Option<Arc<str>>; 2]> = const { std::cell::RefCell::new([None, None]) };
}

/// `name` as an `Arc`, the same one as the last time on this thread when it is the same name.
fn shared_name(name: &str) -> Arc<str> {
    RECENT.with_borrow_mut(|recent| {
        if let Some(same) = recent.iter().flatten().find(|r| ***r == *name) {
            return same.clone();
        }
        let fresh: Arc<str> = Arc::from(name);
        recent.rotate_right(1);
        recent[0] = Some(fresh.clone());
        fresh
    })
}

/// The scope a path (relative to the model root) belongs to, MODEL.md §4: a team folder
/// `zones/<zone>/teams/<team>/` and everything in it is the team's; everything else under
/// `zones/<zone>/` the zone's; every other path the ecosystem's (zone empty). Any file counts,
/// whatever its name: hidden files, other extensions and `*.YAML` alike.
pub fn scope_of_path(rel: &str) -> crate::model::Scope {
    let parts: Vec<&str> = rel.split('/').collect();
    let (zone, team) = match parts.as_slice() {
        ["zones", zone, "teams", team, _, ..] => (*zone, Some(Arc::from(*team))),
        ["zones", zone, _, ..] => (*zone, None),
        _ => ("", None),
    };
    crate::model::Scope { zone: Arc::from(zone), team }
}

fn hint(parts: &[&str]) -> String {
    let file = parts[parts.len() - 1].to_ascii_lowercase();
    match (parts.len(), file.as_str()) {
        (1, "ecosystem.yml" | "ecosystem.yaml") => "Rename it to `ecosystem.yaml`.".into(),
        (3, "zone.yml" | "zone.yaml") => "Rename it to `zone.yaml`.".into(),
        (5, "team.yml" | "team.yaml") => "Rename it to `team.yaml`.".into(),
        _ => "Model files go in `ecosystem.yaml`, `zones/<zone>/zone.yaml`, `zones/<zone>/teams/<team>/team.yaml` and \
              `zones/<zone>/teams/<team>/**/*.yaml`; move or delete this one."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(rel: &str) -> Option<Place> {
        match classify(rel) {
            Classified::Model { place, .. } => Some(place),
            _ => None,
        }
    }

    #[test]
    fn places() {
        assert_eq!(place("ecosystem.yaml"), Some(Place::Ecosystem));
        assert_eq!(place("zones/usa/zone.yaml"), Some(Place::Zone));
        assert_eq!(place("zones/usa/teams/nw/team.yaml"), Some(Place::Team));
        assert_eq!(place("zones/usa/teams/nw/stores/customers.yml"), Some(Place::TeamContent));
        assert_eq!(place("zones/usa/teams/nw/customers.yaml"), Some(Place::TeamContent));
        assert!(matches!(classify("zones/usa/other.yaml"), Classified::Unexpected { .. }));
        assert!(matches!(classify("zones/usa/teams/team.yaml"), Classified::Unexpected { .. }));
        assert!(
            matches!(classify("ecosystem.yml"), Classified::Unexpected { hint } if hint.contains("ecosystem.yaml"))
        );
        assert_eq!(classify("README.md"), Classified::Ignored);
        assert_eq!(place("zones/usa/teams/nw/Orders.YAML"), Some(Place::TeamContent));
        assert_eq!(place("zones/usa/teams/nw/a.Yml"), Some(Place::TeamContent));
        assert!(
            matches!(classify("Ecosystem.YAML"), Classified::Unexpected { hint } if hint.contains("ecosystem.yaml"))
        );
        assert!(matches!(classify("zones/usa/Zone.yaml"), Classified::Unexpected { .. }));
        assert!(
            matches!(classify("zones/usa/teams/nw/team.YML"), Classified::Unexpected { hint } if hint.contains("`team.yaml`"))
        );
        let scope = |rel: &str| {
            let s = scope_of_path(rel);
            (s.zone.to_string(), s.team.map(|t| t.to_string()))
        };
        assert_eq!(scope("zones/usa/teams/nw/.hidden/x"), ("usa".into(), Some("nw".into())));
        assert_eq!(scope("zones/usa/teams/README.md"), ("usa".into(), None));
        assert_eq!(scope("zones/usa/zone.yaml"), ("usa".into(), None));
        assert_eq!(scope("zones/README.md"), (String::new(), None));
        assert_eq!(scope(".gitattributes"), (String::new(), None));
        assert_eq!(classify(".github/workflows/ci.yaml"), Classified::Ignored);
    }
}
