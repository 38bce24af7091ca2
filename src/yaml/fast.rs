//! A fast reader for the YAML that models are written in: block mappings and sequences,
//! one-line flow collections, one-line plain and quoted scalars, comments and `---`.
//!
//! It builds the tree that granit-parser and `Builder` build, with the same positions, by
//! recursive descent straight into nodes (no events: that took a tenth of a big model's load
//! off), and gives up (returning `None`) at the first thing outside that subset: anchors,
//! aliases, tags, block scalars, multi-line scalars, quoted keys, tabs, carriage returns,
//! directives, duplicate keys, nesting past the limit, and every syntax error. The caller then parses the file with granit-parser,
//! which is the reference: a differential test checks that both build the same tree.

use std::borrow::Cow;

use super::{Entry, Limits, Node, Parsed, Style, Value};
use crate::span::Pos;

/// The fast path does not handle this input; use granit-parser.
struct Bail;

/// Where a flow collection goes after an item.
enum Step {
    /// Another item starts at this byte.
    Next(usize),
    /// The collection closed; it ends before this byte.
    Closed(usize),
}

type R<T> = Result<T, Bail>;

pub(super) fn parse(text: &str, limits: Limits) -> Option<Parsed<'_>> {
    // Tabs, carriage returns and characters YAML does not allow (controls, NEL, a byte-order
    // mark, non-characters) are left to granit-parser, which reports or handles them.
    let refused = |chunk: &[u8]| chunk.iter().fold(false, |acc, &b| acc | ((b < 0x20) & (b != b'\n')) | (b == 0x7f));
    // Branch-free over chunks, so the compiler can use vector instructions.
    if text.as_bytes().chunks(64).any(refused) {
        return None;
    }
    if !text.is_ascii() && text.chars().any(|c| matches!(c, '\u{80}'..='\u{9f}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'))
    {
        return None;
    }
    let mut lines: Vec<&str> = Vec::with_capacity(text.len() / 32 + 1);
    let mut from = 0;
    for newline in memchr::memchr_iter(b'\n', text.as_bytes()) {
        lines.push(&text[from..newline]);
        from = newline + 1;
    }
    lines.push(&text[from..]);
    let mut reader = Reader { lines, next: 0, depth: 0, limits, ascii_line: std::cell::Cell::new(None) };
    reader.stream().ok()
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    /// The first line not read yet.
    next: usize,
    /// Collections open around the node being read.
    depth: usize,
    limits: Limits,
    /// The last line asked about in `pos`, and whether it is ASCII (columns count characters).
    ascii_line: std::cell::Cell<Option<(usize, bool)>>,
}

fn indent(line: &str) -> usize {
    line.bytes().take_while(|b| *b == b' ').count()
}

/// Blank, or only a comment.
fn insignificant(line: &str) -> bool {
    matches!(line.as_bytes().get(indent(line)), None | Some(b'#'))
}

fn is_document_start(line: &str) -> bool {
    line == "---" || line.strip_prefix("--- ").is_some_and(insignificant)
}

/// Characters that cannot start a plain scalar, or that start something this reader leaves
/// to granit-parser.
fn is_indicator(byte: u8) -> bool {
    matches!(
        byte,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// The entries of one mapping as they are read. A duplicate key is left to granit-parser and
/// the builder, which report it (it is rare, and the message needs the first one's line).
struct MapEntries<'a> {
    entries: Vec<Entry<'a>>,
    seen: Option<std::collections::HashSet<Cow<'a, str>>>,
}

impl<'a> MapEntries<'a> {
    fn new() -> Self {
        MapEntries { entries: Vec::new(), seen: None }
    }

    fn push(&mut self, key: &'a str, key_pos: Pos, value: Node<'a>) -> R<()> {
        let duplicate = if self.entries.len() < super::LINEAR_DUPLICATE_SCAN {
            self.entries.iter().any(|e| super::same_text(&e.key, key))
        } else {
            let seen = self.seen.get_or_insert_with(|| self.entries.iter().map(|e| e.key.clone()).collect());
            !seen.insert(Cow::Borrowed(key))
        };
        if duplicate {
            return Err(Bail);
        }
        self.entries.push(Entry { key: Cow::Borrowed(key), key_pos, value });
        Ok(())
    }
}

impl<'a> Reader<'a> {
    fn pos(&self, line: usize, byte: usize) -> Pos {
        let ascii = match self.ascii_line.get() {
            Some((cached, ascii)) if cached == line => ascii,
            _ => {
                let ascii = self.lines[line].is_ascii();
                self.ascii_line.set(Some((line, ascii)));
                ascii
            }
        };
        let col = if ascii { byte } else { self.lines[line][..byte].chars().count() };
        Pos::new(line as u32 + 1, col as u32 + 1)
    }

    /// Enters a collection; nesting past the limit is left to granit-parser, which reports it.
    fn enter(&mut self) -> R<()> {
        if self.depth >= self.limits.max_depth {
            return Err(Bail);
        }
        self.depth += 1;
        Ok(())
    }

    /// The next line at or after `from` that holds content.
    fn significant(&self, from: usize) -> Option<usize> {
        (from..self.lines.len()).find(|i| !insignificant(self.lines[*i]))
    }

    fn stream(&mut self) -> R<Parsed<'a>> {
        let mut out = Parsed::default();
        let mut in_document = false;
        while let Some(i) = self.significant(self.next) {
            let line = self.lines[i];
            if is_document_start(line) {
                self.next = i + 1;
                in_document = false;
                continue;
            }
            if in_document || line.starts_with("...") || line.starts_with('%') {
                return Err(Bail);
            }
            let column = indent(line);
            out.documents.push(self.block_node(i, column)?);
            in_document = true;
        }
        Ok(out)
    }

    /// A block sequence or mapping whose first entry starts at byte `col` of line `i`.
    fn block_node(&mut self, i: usize, col: usize) -> R<Node<'a>> {
        let rest = &self.lines[i][col..];
        if rest.starts_with("- ") || rest == "-" {
            self.sequence(i, col, false)
        } else if key_end(self.lines[i], col).is_some() {
            self.mapping(i, col)
        } else {
            Err(Bail)
        }
    }

    /// A block sequence of `- ` entries at column `dash`. An indentless sequence (at the
    /// same column as its parent's key) starts where its first item starts, as in granit.
    fn sequence(&mut self, first: usize, dash: usize, indentless: bool) -> R<Node<'a>> {
        let item_start = |line: &str| -> R<usize> {
            let after = dash + 1;
            let start = after + indent(&line[after..]);
            if start == after || start >= line.len() || line.as_bytes()[start] == b'#' {
                return Err(Bail); // `-` alone, or an item on the following lines.
            }
            Ok(start)
        };
        let start_pos =
            if indentless { self.pos(first, item_start(self.lines[first])?) } else { self.pos(first, dash) };
        self.enter()?;
        let mut items = Vec::new();
        let mut i = first;
        loop {
            let line = self.lines[i];
            let start = item_start(line)?;
            let rest = &line[start..];
            if rest.starts_with("- ") || rest == "-" {
                return Err(Bail);
            }
            if key_end(line, start).is_some() {
                items.push(self.mapping(i, start)?);
            } else {
                let (item, end) = self.inline_value(i, start)?;
                items.push(item);
                self.end_of_line(i, end)?;
                self.next = i + 1;
            }
            match self.significant(self.next) {
                Some(j) if !is_document_start(self.lines[j]) && indent(self.lines[j]) == dash => {
                    let rest = &self.lines[j][dash..];
                    if rest.starts_with("- ") || rest == "-" {
                        i = j;
                        continue;
                    }
                    if !indentless {
                        return Err(Bail);
                    }
                    break;
                }
                Some(j) if !is_document_start(self.lines[j]) && indent(self.lines[j]) > dash => return Err(Bail),
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(Node { pos: start_pos, value: Value::Seq(items) })
    }

    /// A block mapping whose first key starts at byte `col` of line `first`; later keys start
    /// at the same column of later lines.
    fn mapping(&mut self, first: usize, col: usize) -> R<Node<'a>> {
        let start_pos = self.pos(first, col);
        self.enter()?;
        let mut entries = MapEntries::new();
        let mut i = first;
        loop {
            let line = self.lines[i];
            let (key_end, colon) = key_end(line, col).ok_or(Bail)?;
            let (key, key_pos) = (&line[col..key_end], self.pos(i, col));
            let value = colon + 1 + indent(&line[colon + 1..]);
            if value >= line.len() || line.as_bytes()[value] == b'#' {
                // The value is on the following lines, or there is none.
                match self.significant(i + 1) {
                    Some(j) if !is_document_start(self.lines[j]) && indent(self.lines[j]) > col => {
                        let inner = indent(self.lines[j]);
                        let node = self.block_node(j, inner)?;
                        entries.push(key, key_pos, node)?;
                    }
                    Some(j)
                        if !is_document_start(self.lines[j])
                            && indent(self.lines[j]) == col
                            && (self.lines[j][col..].starts_with("- ") || &self.lines[j][col..] == "-") =>
                    {
                        let node = self.sequence(j, col, true)?;
                        entries.push(key, key_pos, node)?;
                    }
                    _ => {
                        let null =
                            Node { pos: self.pos(i, colon), value: Value::Scalar(Cow::Borrowed("~"), Style::Plain) };
                        entries.push(key, key_pos, null)?;
                        self.next = i + 1;
                    }
                }
            } else {
                let (node, end) = self.inline_value(i, value)?;
                entries.push(key, key_pos, node)?;
                self.end_of_line(i, end)?;
                self.next = i + 1;
            }
            match self.significant(self.next) {
                Some(j) if !is_document_start(self.lines[j]) && indent(self.lines[j]) == col => {
                    let rest = &self.lines[j][col..];
                    if rest.starts_with("- ") || rest == "-" {
                        // A sequence entry at a key's column belongs to an indentless parent.
                        break;
                    }
                    i = j;
                }
                Some(j) if !is_document_start(self.lines[j]) && indent(self.lines[j]) > col => return Err(Bail),
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(Node { pos: start_pos, value: Value::Map(entries.entries) })
    }

    /// Checks that only blanks or a comment follow byte `end` of line `i`.
    fn end_of_line(&self, i: usize, end: usize) -> R<()> {
        let line = self.lines[i];
        let rest = &line[end..];
        let trimmed = rest.trim_start_matches(' ');
        if trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len()) { Ok(()) } else { Err(Bail) }
    }

    /// A value that starts at byte `start` of line `i` and ends on that line: a flow
    /// collection, a quoted scalar or a plain scalar, and the byte after it.
    fn inline_value(&mut self, i: usize, start: usize) -> R<(Node<'a>, usize)> {
        let line = self.lines[i];
        match line.as_bytes()[start] {
            b'{' | b'[' | b'"' | b'\'' => self.flow_node(i, start),
            byte if is_indicator(byte) => Err(Bail),
            _ => {
                // A plain scalar runs to a comment or the end of the line.
                let rest = &line[start..];
                let end = comment_start(rest);
                let text = rest[..end].trim_end_matches(' ');
                if text.contains(": ") || text.ends_with(':') {
                    return Err(Bail);
                }
                let node = Node { pos: self.pos(i, start), value: Value::Scalar(Cow::Borrowed(text), Style::Plain) };
                Ok((node, start + text.len()))
            }
        }
    }

    /// After an item of a flow collection at byte `at`: a `,` and the next item, or the
    /// closing bracket (a trailing comma is left to granit-parser).
    fn after_item(&self, i: usize, at: usize, close: u8) -> R<Step> {
        let bytes = self.lines[i].as_bytes();
        match bytes.get(at) {
            Some(b',') => {
                let next = skip_spaces(self.lines[i], at + 1);
                if bytes.get(next) == Some(&close) { Err(Bail) } else { Ok(Step::Next(next)) }
            }
            Some(byte) if *byte == close => Ok(Step::Closed(at + 1)),
            _ => Err(Bail),
        }
    }

    /// A node inside a flow collection (or a quoted scalar anywhere) at byte `start`, and the
    /// byte after it.
    fn flow_node(&mut self, i: usize, start: usize) -> R<(Node<'a>, usize)> {
        let line = self.lines[i];
        let bytes = line.as_bytes();
        match bytes.get(start) {
            Some(b'{') => {
                let pos = self.pos(i, start);
                self.enter()?;
                let mut entries = MapEntries::new();
                let mut at = skip_spaces(line, start + 1);
                if bytes.get(at) == Some(&b'}') {
                    self.depth -= 1;
                    return Ok((Node { pos, value: Value::Map(Vec::new()) }, at + 1));
                }
                loop {
                    // A plain key, then `: `, then a value.
                    let key_start = at;
                    let first = *bytes.get(key_start).ok_or(Bail)?;
                    if is_indicator(first) {
                        return Err(Bail);
                    }
                    let colon = bytes[key_start..]
                        .iter()
                        .position(|b| matches!(b, b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#'))
                        .map(|o| key_start + o)
                        .ok_or(Bail)?;
                    if bytes[colon] != b':' || bytes.get(colon + 1) != Some(&b' ') {
                        return Err(Bail);
                    }
                    let key = line[key_start..colon].trim_end_matches(' ');
                    if key.is_empty() {
                        return Err(Bail);
                    }
                    let key_pos = self.pos(i, key_start);
                    let value = skip_spaces(line, colon + 1);
                    match bytes.get(value) {
                        None | Some(b',' | b'}' | b'#') => return Err(Bail),
                        _ => {}
                    }
                    let (node, end) = self.flow_node(i, value)?;
                    entries.push(key, key_pos, node)?;
                    match self.after_item(i, skip_spaces(line, end), b'}')? {
                        Step::Next(next) => at = next,
                        Step::Closed(end) => {
                            self.depth -= 1;
                            return Ok((Node { pos, value: Value::Map(entries.entries) }, end));
                        }
                    }
                }
            }
            Some(b'[') => {
                let pos = self.pos(i, start);
                self.enter()?;
                let mut items = Vec::new();
                let mut at = skip_spaces(line, start + 1);
                if bytes.get(at) == Some(&b']') {
                    self.depth -= 1;
                    return Ok((Node { pos, value: Value::Seq(items) }, at + 1));
                }
                loop {
                    match bytes.get(at) {
                        None | Some(b',' | b']' | b'#') => return Err(Bail),
                        _ => {}
                    }
                    let (node, end) = self.flow_node(i, at)?;
                    items.push(node);
                    match self.after_item(i, skip_spaces(line, end), b']')? {
                        Step::Next(next) => at = next,
                        Step::Closed(end) => {
                            self.depth -= 1;
                            return Ok((Node { pos, value: Value::Seq(items) }, end));
                        }
                    }
                }
            }
            Some(b'"') => {
                let (text, end) = double_quoted(line, start)?;
                Ok((Node { pos: self.pos(i, start), value: Value::Scalar(text, Style::Quoted) }, end))
            }
            Some(b'\'') => {
                let (text, end) = single_quoted(line, start)?;
                Ok((Node { pos: self.pos(i, start), value: Value::Scalar(text, Style::Quoted) }, end))
            }
            Some(byte) if !is_indicator(*byte) => {
                // A plain scalar inside a flow collection ends at a flow indicator.
                let rest = &line[start..];
                let end = rest
                    .bytes()
                    .position(|b| matches!(b, b',' | b'[' | b']' | b'{' | b'}' | b':' | b'#'))
                    .unwrap_or(rest.len());
                if rest[end..].starts_with(':') || rest[end..].starts_with('#') && !rest[..end].ends_with(' ') {
                    return Err(Bail);
                }
                let text = rest[..end].trim_end_matches(' ');
                if text.is_empty() {
                    return Err(Bail);
                }
                let node = Node { pos: self.pos(i, start), value: Value::Scalar(Cow::Borrowed(text), Style::Plain) };
                Ok((node, start + text.len()))
            }
            _ => Err(Bail),
        }
    }
}

/// Where a ` #` comment starts in `rest`, or its length.
fn comment_start(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut from = 0;
    while let Some(offset) = bytes[from..].iter().position(|b| *b == b'#') {
        let at = from + offset;
        if at > 0 && bytes[at - 1] == b' ' {
            return at - 1;
        }
        from = at + 1;
    }
    bytes.len()
}

fn skip_spaces(line: &str, at: usize) -> usize {
    at + line.as_bytes().get(at..).map_or(0, |rest| rest.iter().take_while(|b| **b == b' ').count())
}

/// For a plain key at byte `col`: the end of the key text and the byte of its `:`, when the
/// line is `key: value` or `key:`.
fn key_end(line: &str, col: usize) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    if is_indicator(*bytes.get(col)?) {
        return None;
    }
    let mut at = col;
    while at < bytes.len() {
        match bytes[at] {
            b':' if at + 1 == bytes.len() || bytes[at + 1] == b' ' => {
                let key = line[col..at].trim_end_matches(' ');
                return Some((col + key.len(), at));
            }
            b'#' if bytes[at - 1] == b' ' => return None,
            _ => at += 1,
        }
    }
    None
}

/// A single-quoted scalar on one line; `''` is a quote.
fn single_quoted(line: &str, start: usize) -> R<(Cow<'_, str>, usize)> {
    let bytes = line.as_bytes();
    let mut at = start + 1;
    let mut escaped = false;
    while at < bytes.len() {
        if bytes[at] == b'\'' {
            if bytes.get(at + 1) == Some(&b'\'') {
                escaped = true;
                at += 2;
                continue;
            }
            let inner = &line[start + 1..at];
            let text = if escaped { Cow::Owned(inner.replace("''", "'")) } else { Cow::Borrowed(inner) };
            return Ok((text, at + 1));
        }
        at += 1;
    }
    Err(Bail)
}

/// A double-quoted scalar on one line, with the common escapes.
fn double_quoted(line: &str, start: usize) -> R<(Cow<'_, str>, usize)> {
    let rest = &line[start + 1..];
    let mut owned: Option<String> = None;
    let mut chars = rest.char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' => {
                let text = match owned {
                    Some(text) => Cow::Owned(text),
                    None => Cow::Borrowed(&rest[..offset]),
                };
                return Ok((text, start + 1 + offset + 1));
            }
            '\\' => {
                let text = owned.get_or_insert_with(|| rest[..offset].to_string());
                let unescaped = match chars.next().ok_or(Bail)?.1 {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    ' ' => ' ',
                    _ => return Err(Bail),
                };
                text.push(unescaped);
            }
            c => {
                if let Some(text) = owned.as_mut() {
                    text.push(c);
                }
            }
        }
    }
    Err(Bail)
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, parse_slow};
    use super::parse;

    /// The fast path either declines or builds exactly what granit-parser builds.
    pub(crate) fn same_as_slow(text: &str) -> bool {
        match parse(text, Limits::default()) {
            None => false,
            Some(fast) => {
                let slow = parse_slow(text, Limits::default());
                assert_eq!(fast.documents, slow.documents, "trees differ for:\n{text}");
                assert_eq!(fast.errors, slow.errors, "errors differ for:\n{text}");
                true
            }
        }
    }

    #[test]
    fn handles_the_common_shapes() {
        for text in [
            "a: 1\nb: two words\nc: 'it''s'\nd: \"q\\\"x\\n\"\n",
            "kind: Team\nname: x\ncontainers:\n  - {name: a, kind: kafka, bootstrap: [\"k:9092\"], locations: [\"aws:us-east-1\"]}\n",
            "datasets:\n  - name: x\n    schema:\n      primaryKey: [id]\n      columns:\n        - {name: id, type: bigint, nullable: false}\n        - name: y\n          type: \"decimal(18,2)\"\n  - name: z\n",
            "a:\n- x\n-   y\nb: {}\nc: []\nd:\ne: # comment\n  f: g # trailing\n",
            "# leading\n\na: 1\n---\nb: 2\n---\n---\nc: [a, [b, {d: e}]]\n",
            "locations: {us-east-1: {}, eu-west-1: {dublin: {}}}\nname: käse\nx: {ü: ö}\n",
            "a:\n  b:\n    - c: 1\n      d: 2\n    - e\n",
            "url: http://example.com/a#b\nt: 10:30\n",
        ] {
            assert!(same_as_slow(text), "the fast path declined:\n{text}");
        }
    }

    #[test]
    fn big_mappings_check_duplicates_through_a_set() {
        let keys: String = (0..40).map(|k| format!("k{k}: {k}\n")).collect();
        assert!(same_as_slow(&keys), "forty distinct keys");
        assert!(parse(&format!("{keys}k7: again\n"), Limits::default()).is_none(), "a duplicate after forty keys");
        let flow: Vec<String> = (0..40).map(|k| format!("k{k}: {k}")).collect();
        assert!(same_as_slow(&format!("x: {{{}}}\n", flow.join(", "))));
        assert!(parse(&format!("x: {{{}, k3: 1}}\n", flow.join(", ")), Limits::default()).is_none());
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: |\n  text\n",
            "a: plain\n  continued\n",
            "\"quoted key\": 1\n",
            "a:\tb\n",
            "a: b\r\n",
            "a: [1,\n  2]\n",
            "a: b: c\n",
            "- - x\n",
            "a: !tag x\n",
            "a: [1, 2, ]\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 'open\n",
            "  a: 1\n b: 2\n",
            // Duplicate keys: the builder reports them, with the first one's line.
            "a: 1\na: 2\nb: x\n",
            "x: {k: 1, k: 2}\n",
        ] {
            assert!(parse(text, Limits::default()).is_none(), "the fast path should decline:\n{text}");
        }
    }
}
