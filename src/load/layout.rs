//! Where a file sits in the model layout of MODEL.md §2, and so which kinds it may hold.

use std::sync::Arc;

use super::decode::Place;

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
    let is_yaml = file.ends_with(".yaml") || file.ends_with(".yml");
    if !is_yaml {
        return Classified::Ignored;
    }
    let arc = |s: &str| Some(Arc::<str>::from(s));
    match parts.as_slice() {
        ["ecosystem.yaml"] => Classified::Model { place: Place::Ecosystem, zone: None, team: None },
        ["zones", zone, "zone.yaml"] => Classified::Model { place: Place::Zone, zone: arc(zone), team: None },
        ["zones", zone, "teams", team, "team.yaml"] => {
            Classified::Model { place: Place::Team, zone: arc(zone), team: arc(team) }
        }
        ["zones", zone, "teams", team, _, ..] => {
            Classified::Model { place: Place::TeamContent, zone: arc(zone), team: arc(team) }
        }
        _ => Classified::Unexpected { hint: hint(&parts) },
    }
}

fn hint(parts: &[&str]) -> String {
    let file = parts[parts.len() - 1];
    match (parts.len(), file) {
        (1, "ecosystem.yml") => "Rename it to `ecosystem.yaml`.".into(),
        (3, "zone.yml") => "Rename it to `zone.yaml`.".into(),
        (5, "team.yml") => "Rename it to `team.yaml`.".into(),
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
        assert_eq!(classify(".github/workflows/ci.yaml"), Classified::Ignored);
    }
}
