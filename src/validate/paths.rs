//! Object paths (ecosystem → zone → team → object) for problems, built only when reporting.

use crate::model::{Column, Dataset, DatasetGroup, Datastore, FileId, Model, Placed, Pos, Scope, Sink, Workspace};
use crate::problem::{Location, ObjectKind, ObjectRef, Revision};

pub struct Paths<'m> {
    model: &'m Model,
    revision: Revision,
}

impl<'m> Paths<'m> {
    /// Paths into a head model (what lint and most check problems are about).
    pub fn new(model: &'m Model) -> Paths<'m> {
        Paths { model, revision: Revision::Head }
    }

    /// Paths into the base model of a check, for things that are gone from the head.
    pub fn base(model: &'m Model) -> Paths<'m> {
        Paths { model, revision: Revision::Base }
    }

    pub fn at(&self, file: FileId, pos: Pos) -> Option<Location> {
        Some(Location { file: self.model.path(file).clone(), pos, revision: self.revision })
    }

    fn object(&self, kind: ObjectKind, name: String, file: FileId, pos: Pos) -> ObjectRef {
        ObjectRef { kind, name, location: self.at(file, pos) }
    }

    pub fn ecosystem(&self) -> Vec<ObjectRef> {
        match &self.model.ecosystem {
            Some((file, eco)) => vec![self.object(ObjectKind::Ecosystem, eco.name.to_string(), *file, eco.span.value)],
            None => vec![ObjectRef { kind: ObjectKind::Ecosystem, name: "(no ecosystem.yaml)".into(), location: None }],
        }
    }

    pub fn ecosystem_child(&self, kind: ObjectKind, name: &str, pos: Pos) -> Vec<ObjectRef> {
        let mut path = self.ecosystem();
        let location = self.model.ecosystem.as_ref().and_then(|(file, _)| self.at(*file, pos));
        path.push(ObjectRef { kind, name: name.to_string(), location });
        path
    }

    pub fn zone(&self, zone: &str) -> Vec<ObjectRef> {
        let mut path = self.ecosystem();
        let location = self.model.zone(zone).and_then(|z| self.at(z.file, z.span.value));
        path.push(ObjectRef { kind: ObjectKind::Zone, name: zone.to_string(), location });
        path
    }

    pub fn team(&self, zone: &str, team: &str) -> Vec<ObjectRef> {
        let mut path = self.zone(zone);
        let location = self.model.team(zone, team).and_then(|t| self.at(t.file, t.span.value));
        path.push(ObjectRef { kind: ObjectKind::Team, name: format!("{zone}/{team}"), location });
        path
    }

    pub fn scope(&self, scope: &Scope) -> Vec<ObjectRef> {
        match &scope.team {
            Some(team) => self.team(&scope.zone, team),
            None if scope.zone.is_empty() => self.ecosystem(),
            None => self.zone(&scope.zone),
        }
    }

    pub fn container(&self, zone: &str, team: &str, container: &str, file: FileId, pos: Pos) -> Vec<ObjectRef> {
        let mut path = self.team(zone, team);
        path.push(self.object(ObjectKind::Container, format!("{zone}/{team}/{container}"), file, pos));
        path
    }

    pub fn datastore(&self, store: &Placed<Datastore>) -> Vec<ObjectRef> {
        let mut path = self.scope(&store.scope);
        path.push(self.object(ObjectKind::Datastore, store.name.to_string(), store.file, store.span.value));
        path
    }

    pub fn dataset(&self, store: &Placed<Datastore>, dataset: &Dataset) -> Vec<ObjectRef> {
        let mut path = self.datastore(store);
        path.push(self.object(
            ObjectKind::Dataset,
            format!("{}/{}", store.name, dataset.name),
            store.file,
            dataset.span.value,
        ));
        path
    }

    pub fn column(&self, store: &Placed<Datastore>, dataset: &Dataset, column: &Column) -> Vec<ObjectRef> {
        let mut path = self.dataset(store, dataset);
        path.push(self.object(
            ObjectKind::Column,
            format!("{}/{}.{}", store.name, dataset.name, column.name),
            store.file,
            column.span.value,
        ));
        path
    }

    pub fn workspace(&self, workspace: &Placed<Workspace>) -> Vec<ObjectRef> {
        let mut path = self.scope(&workspace.scope);
        path.push(self.object(ObjectKind::Workspace, workspace.name.to_string(), workspace.file, workspace.span.value));
        path
    }

    pub fn group(&self, workspace: &Placed<Workspace>, group: &DatasetGroup) -> Vec<ObjectRef> {
        let mut path = self.workspace(workspace);
        path.push(self.object(
            ObjectKind::DatasetGroup,
            format!("{}/{}", workspace.name, group.name),
            workspace.file,
            group.span.value,
        ));
        path
    }

    pub fn sink(&self, workspace: &Placed<Workspace>, group: &DatasetGroup, sink: &Sink) -> Vec<ObjectRef> {
        let mut path = self.group(workspace, group);
        path.push(self.object(
            ObjectKind::Sink,
            format!("{}/{}/{}/{}", workspace.name, group.name, sink.datastore, sink.dataset),
            workspace.file,
            sink.span.value,
        ));
        path
    }

    pub fn file(&self, scope: Option<&Scope>, file: FileId) -> Vec<ObjectRef> {
        let mut path = match scope {
            Some(scope) => self.scope(scope),
            None => self.ecosystem(),
        };
        path.push(self.object(ObjectKind::File, self.model.path(file).to_string(), file, Pos::new(1, 1)));
        path
    }
}
