//! A YAML document tree with positions, built from granit-parser events.
//!
//! The tree keeps scalars as written (text and style), so each field decides how to read
//! them (`port: 5432` as an integer, `name: 1234` as text). It enforces the limits that keep
//! hostile input harmless: nesting depth, and the number of nodes that aliases may expand to
//! (an alias bomb is refused, not expanded). Duplicate keys are reported and the first one kept.
//! A syntax error abandons only its own document: later documents of the file are still read.

use std::borrow::Cow;
use std::collections::HashSet;

mod fast;

use granit_parser::{Event, Parser, ScalarStyle};

use crate::span::Pos;

/// Limits on one file's tree.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes that aliases may add, over the whole file.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 64, max_alias_nodes: 100_000 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    pub pos: Pos,
    pub value: Value<'a>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Scalar(Cow<'a, str>, Style),
    Seq(Vec<Node<'a>>),
    Map(Vec<Entry<'a>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub key: Cow<'a, str>,
    pub key_pos: Pos,
    pub value: Node<'a>,
}

impl Node<'_> {
    /// `~`, `null` or nothing at all, unquoted.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(text, Style::Plain) if matches!(&**text, "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing (null)",
            Value::Scalar(..) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// The kinds of problem the tree builder reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    DuplicateKey,
    AliasLimit,
    TooDeep,
    /// A tag (`!!str`, `!custom`): the model's values have no types beyond what each field
    /// reads, and a tag that some other YAML reader would honour (`!!python/object/apply`) must
    /// never reach it from a model that passed the check.
    Tag,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub pos: Pos,
    pub message: String,
}

/// The documents of one file (empty documents left out) and the problems met.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    pub documents: Vec<Node<'a>>,
    pub errors: Vec<Error>,
}

/// Whether two short texts (keys, field names, type names) are equal: the length and the
/// first byte settle almost every comparison inline, before `==` calls `memcmp`. Comparing
/// keys this way took the key comparisons of a big model's load from 8% of its
/// instructions to about 1%.
#[inline]
pub fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// Parses the documents of one file.
///
/// Common, simple YAML (block and single-line flow collections, plain and quoted one-line
/// scalars, comments) goes through `fast`, a line-based reader about ten times quicker;
/// anything else, and every file with an error or a duplicate key, through granit-parser and
/// `Builder`. The fast reader builds its nodes directly, and a test checks that both build
/// identical trees.
pub fn parse(text: &str, limits: Limits) -> Parsed<'_> {
    if let Some(parsed) = fast::parse(text, limits) {
        return parsed;
    }
    parse_slow(text, limits)
}

/// Parses with the fast path only; `None` when it declines (tests compare it with `parse_slow`).
pub fn parse_fast(text: &str, limits: Limits) -> Option<Parsed<'_>> {
    fast::parse(text, limits)
}

/// Parses with granit-parser only (the reference the fast path is tested against).
pub fn parse_slow(text: &str, limits: Limits) -> Parsed<'_> {
    let options = granit_parser::options! {
        // Our own depth limit gives the message; the parser's is a backstop above it.
        flow_nesting_limit: limits.max_depth * 2 + 8,
        block_nesting_limit: limits.max_depth * 2 + 8,
    };
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut builder = Builder::new(limits);
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                let pos = Pos::new(span.start.line() as u32, span.start.col() as u32 + 1);
                if let Err(error) = builder.event(event, pos) {
                    builder.out.errors.push(error);
                    builder.abandon_document();
                    if !matches!(parser.proceed_next_document(), Ok(true)) {
                        break;
                    }
                }
            }
            Some(Err(error)) => {
                let mark = error.marker();
                let pos = Pos::new(mark.line() as u32, mark.col() as u32 + 1);
                let error = match error.kind() {
                    granit_parser::ErrorKind::RecursionLimitExceeded => Error {
                        kind: ErrorKind::TooDeep,
                        pos,
                        message: format!("nesting is deeper than {} levels", limits.max_depth),
                    },
                    _ => Error { kind: ErrorKind::Syntax, pos, message: error.info() },
                };
                builder.out.errors.push(error);
                builder.abandon_document();
                if !matches!(parser.proceed_next_document(), Ok(true)) {
                    break;
                }
            }
        }
    }
    let mut out = builder.out;
    point_at_tags(text, &mut out.errors);
    out
}

/// Moves each tag error from its node to the tag itself: the `!` nearest before the node on
/// its line (granit-parser gives the node's position, not the tag's).
fn point_at_tags(text: &str, errors: &mut [Error]) {
    if !errors.iter().any(|e| e.kind == ErrorKind::Tag) {
        return;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    for error in errors.iter_mut().filter(|e| e.kind == ErrorKind::Tag) {
        let Some(line) = lines.get(error.pos.line.saturating_sub(1) as usize) else { continue };
        let before: Vec<char> = line.chars().take(error.pos.col.saturating_sub(1) as usize).collect();
        let starts_tag = |i: usize| before[i] == '!' && (i == 0 || before[i - 1] != '!');
        if let Some(at) = (0..before.len()).rev().find(|i| starts_tag(*i)) {
            error.pos.col = at as u32 + 1;
        }
    }
}

enum Frame<'a> {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node<'a>>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry<'a>>,
        pending_key: Option<(Cow<'a, str>, Pos)>,
        seen: Option<HashSet<Cow<'a, str>>>,
        skip_value: bool,
    },
}

struct Builder<'a> {
    limits: Limits,
    alias_nodes: usize,
    anchors: Vec<(usize, Node<'a>)>,
    stack: Vec<Frame<'a>>,
    out: Parsed<'a>,
}

/// Maps with more entries than this detect duplicate keys through a hash set.
const LINEAR_DUPLICATE_SCAN: usize = 16;

impl<'a> Builder<'a> {
    fn new(limits: Limits) -> Builder<'a> {
        Builder { limits, alias_nodes: 0, anchors: Vec::new(), stack: Vec::new(), out: Parsed::default() }
    }

    fn abandon_document(&mut self) {
        self.stack.clear();
        self.anchors.clear();
    }

    fn event(&mut self, event: Event<'a>, pos: Pos) -> Result<(), Error> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(..) => Ok(()),
            Event::DocumentEnd => {
                self.document_end();
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.refuse_tag(tag.as_deref(), pos);
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    _ => Style::Block,
                };
                self.complete(Node { pos, value: Value::Scalar(text, style) }, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.refuse_tag(tag.as_deref(), pos);
                self.start_seq(pos, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                self.refuse_tag(tag.as_deref(), pos);
                self.start_map(pos, anchor)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end(),
            Event::Alias(id) => {
                let Some(node) = self.anchors.iter().rev().find(|(a, _)| *a == id).map(|(_, n)| n.clone()) else {
                    return Err(Error { kind: ErrorKind::Syntax, pos, message: "alias to an unknown anchor".into() });
                };
                self.alias_nodes += count_nodes(&node);
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(Error {
                        kind: ErrorKind::AliasLimit,
                        pos,
                        message: format!(
                            "aliases expand to more than {} nodes; refusing to expand further (an alias bomb?)",
                            self.limits.max_alias_nodes
                        ),
                    });
                }
                self.complete(Node { pos, value: node.value }, 0)
            }
            _ => Ok(()),
        }
    }

    /// Reports a tag; the node is still read as if it had none, so the rest of the document
    /// is checked too (the error fails the file either way).
    fn refuse_tag(&mut self, tag: Option<&granit_parser::Tag>, pos: Pos) {
        let Some(tag) = tag else { return };
        let written = match tag.handle() {
            "tag:yaml.org,2002:" => format!("!!{}", tag.suffix()),
            "!" => format!("!{}", tag.suffix()),
            handle => format!("!<{handle}{}>", tag.suffix()),
        };
        self.out.errors.push(Error {
            kind: ErrorKind::Tag,
            pos,
            message: format!(
                "YAML tag `{written}` is not allowed in a model; values are read by their field, never by tag"
            ),
        });
    }

    fn start_seq(&mut self, pos: Pos, anchor: usize) -> Result<(), Error> {
        self.push(Frame::Seq { pos, anchor, items: Vec::new() }, pos)
    }

    fn start_map(&mut self, pos: Pos, anchor: usize) -> Result<(), Error> {
        self.push(
            Frame::Map { pos, anchor, entries: Vec::new(), pending_key: None, seen: None, skip_value: false },
            pos,
        )
    }

    /// Ends the innermost sequence or mapping.
    fn end(&mut self) -> Result<(), Error> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (node, anchor) = match frame {
            Frame::Seq { pos, anchor, items } => (Node { pos, value: Value::Seq(items) }, anchor),
            Frame::Map { pos, anchor, entries, .. } => (Node { pos, value: Value::Map(entries) }, anchor),
        };
        self.complete(node, anchor)
    }

    fn document_end(&mut self) {
        self.anchors.clear();
    }

    fn push(&mut self, frame: Frame<'a>, pos: Pos) -> Result<(), Error> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(Error {
                kind: ErrorKind::TooDeep,
                pos,
                message: format!("nesting is deeper than {} levels", self.limits.max_depth),
            });
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Attaches a finished node to its parent, or finishes the document.
    fn complete(&mut self, node: Node<'a>, anchor: usize) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => {
                if !node.is_null() {
                    self.out.documents.push(node);
                }
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map { entries, pending_key, seen, skip_value, .. }) => {
                let Some((key, key_pos)) = pending_key.take() else {
                    let Value::Scalar(key, _) = node.value else {
                        return Err(Error {
                            kind: ErrorKind::Syntax,
                            pos: node.pos,
                            message: "mapping keys must be plain text, not lists or mappings".into(),
                        });
                    };
                    let duplicate = if entries.len() < LINEAR_DUPLICATE_SCAN {
                        entries.iter().any(|e| same_text(&e.key, &key))
                    } else {
                        let seen = seen.get_or_insert_with(|| entries.iter().map(|e| e.key.clone()).collect());
                        !seen.insert(key.clone())
                    };
                    if duplicate {
                        let first = entries.iter().find(|e| e.key == key).map(|e| e.key_pos).unwrap_or_default();
                        self.out.errors.push(Error {
                            kind: ErrorKind::DuplicateKey,
                            pos: node.pos,
                            message: format!(
                                "duplicate key `{key}` (first at line {}); the first one is used",
                                first.line
                            ),
                        });
                    }
                    *skip_value = duplicate;
                    *pending_key = Some((key, node.pos));
                    return Ok(());
                };
                if !std::mem::take(skip_value) {
                    entries.push(Entry { key, key_pos, value: node });
                }
                Ok(())
            }
        }
    }
}

fn count_nodes(node: &Node<'_>) -> usize {
    match &node.value {
        Value::Scalar(..) => 1,
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|e| 1 + count_nodes(&e.value)).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<(ErrorKind, u32, u32)> {
        parse(text, Limits::default()).errors.iter().map(|e| (e.kind, e.pos.line, e.pos.col)).collect()
    }

    #[test]
    fn positions_are_one_based() {
        let parsed = parse("kind: Team\nname: x\ncontainers:\n  - {name: a, kind: kafka}\n", Limits::default());
        let Value::Map(entries) = &parsed.documents[0].value else { panic!() };
        assert_eq!(entries[2].key_pos, Pos::new(3, 1));
        let Value::Seq(items) = &entries[2].value.value else { panic!() };
        let Value::Map(item) = &items[0].value else { panic!() };
        assert_eq!((item[1].key.as_ref(), item[1].value.pos), ("kind", Pos::new(4, 21)));
    }

    #[test]
    fn duplicate_keys_keep_the_first() {
        let parsed = parse("a: 1\nb: 2\na: 3\n", Limits::default());
        assert_eq!(errors("a: 1\nb: 2\na: 3\n"), vec![(ErrorKind::DuplicateKey, 3, 1)]);
        let Value::Map(entries) = &parsed.documents[0].value else { panic!() };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].value.value, Value::Scalar("1".into(), Style::Plain));
        // Many keys take the hashed path.
        let many: String = (0..40).map(|i| format!("k{i}: v\n")).collect::<String>() + "k7: again\n";
        assert_eq!(errors(&many), vec![(ErrorKind::DuplicateKey, 41, 1)]);
    }

    #[test]
    fn a_syntax_error_spares_the_next_document() {
        let parsed = parse("kind: A\nname: 'open\n---\nkind: B\n", Limits::default());
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].kind, ErrorKind::Syntax);
        assert_eq!(parsed.documents.len(), 1);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
        }
        let kinds: Vec<_> = errors(&bomb).into_iter().map(|e| e.0).collect();
        assert_eq!(kinds, vec![ErrorKind::AliasLimit]);
    }

    #[test]
    fn small_aliases_work() {
        let parsed = parse("base: &b {type: bigint}\ncol: *b\n", Limits::default());
        assert!(parsed.errors.is_empty());
        let Value::Map(entries) = &parsed.documents[0].value else { panic!() };
        assert_eq!(entries[0].value.value, entries[1].value.value);
    }

    #[test]
    fn tags_are_refused_wherever_they_are() {
        let text = "a: !!python/object/apply:os.system [echo hi]\nb: !!str false\nc: !custom {x: 1}\nd: ok\n";
        let parsed = parse(text, Limits::default());
        let found: Vec<(ErrorKind, u32, String)> =
            parsed.errors.iter().map(|e| (e.kind, e.pos.line, e.message.clone())).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|(kind, _, _)| *kind == ErrorKind::Tag));
        assert_eq!(found.iter().map(|f| f.1).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(found[0].2.contains("`!!python/object/apply:os.system`"), "{}", found[0].2);
        assert!(found[1].2.contains("`!!str`"));
        assert!(found[2].2.contains("`!custom`"));
        // The rest of the document is still read.
        let Value::Map(entries) = &parsed.documents[0].value else { panic!() };
        assert_eq!(entries.len(), 4);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let kinds: Vec<_> = errors(&deep).into_iter().map(|e| e.0).collect();
        assert_eq!(kinds, vec![ErrorKind::TooDeep]);
        let deep_block: String = (0..100).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        assert!(!errors(&deep_block).is_empty());
    }
}
