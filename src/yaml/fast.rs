//! A fast reader for the YAML that models are written in: block mappings and sequences,
//! one-line flow collections, one-line plain and quoted scalars, comments and `---`.
//!
//! It feeds the same events to the same `Builder` as granit-parser does, with the same
//! positions, and gives up (returning `None`) at the first thing outside that subset: anchors,
//! aliases, tags, block scalars, multi-line scalars, quoted keys, tabs, carriage returns,
//! directives, and every syntax error. The caller then parses the file with granit-parser,
//! which is the reference: a differential test checks that both build the same tree.

use std::borrow::Cow;

use super::{Builder, Limits, Parsed, Style};
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
    let lines: Vec<&str> = text.split('\n').collect();
    let mut reader = Reader { lines, next: 0, builder: Builder::new(limits), ascii_line: std::cell::Cell::new(None) };
    reader.stream().ok()?;
    if !reader.builder.stack.is_empty() {
        return None;
    }
    Some(reader.builder.out)
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    /// The first line not read yet.
    next: usize,
    builder: Builder<'a>,
    /// The last line asked about in `pos`, and whether it is ASCII (columns count characters).
    ascii_line: std::cell::Cell<Option<(usize, bool)>>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Blank, or only a comment.
fn insignificant(line: &str) -> bool {
    let rest = line.trim_start_matches(' ');
    rest.is_empty() || rest.starts_with('#')
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

    fn scalar(&mut self, text: Cow<'a, str>, style: Style, pos: Pos) -> R<()> {
        self.builder.scalar(text, style, pos).map_err(|_| Bail)
    }

    fn start_map(&mut self, pos: Pos) -> R<()> {
        self.builder.start_map(pos, 0).map_err(|_| Bail)
    }

    fn start_seq(&mut self, pos: Pos) -> R<()> {
        self.builder.start_seq(pos, 0).map_err(|_| Bail)
    }

    fn end(&mut self) -> R<()> {
        self.builder.end().map_err(|_| Bail)
    }

    /// The next line at or after `from` that holds content.
    fn significant(&self, from: usize) -> Option<usize> {
        (from..self.lines.len()).find(|i| !insignificant(self.lines[*i]))
    }

    fn stream(&mut self) -> R<()> {
        let mut in_document = false;
        while let Some(i) = self.significant(self.next) {
            let line = self.lines[i];
            if is_document_start(line) {
                self.builder.document_end();
                self.next = i + 1;
                in_document = false;
                continue;
            }
            if in_document || line.starts_with("...") || line.starts_with('%') {
                return Err(Bail);
            }
            let column = indent(line);
            self.block_node(i, column)?;
            in_document = true;
        }
        Ok(())
    }

    /// A block sequence or mapping whose first entry starts at byte `col` of line `i`.
    fn block_node(&mut self, i: usize, col: usize) -> R<()> {
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
    fn sequence(&mut self, first: usize, dash: usize, indentless: bool) -> R<()> {
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
        self.start_seq(start_pos)?;
        let mut i = first;
        loop {
            let line = self.lines[i];
            let start = item_start(line)?;
            let rest = &line[start..];
            if rest.starts_with("- ") || rest == "-" {
                return Err(Bail);
            }
            if key_end(line, start).is_some() {
                self.mapping(i, start)?;
            } else {
                let end = self.inline_value(i, start)?;
                self.end_of_line(i, end, false)?;
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
        self.end()
    }

    /// A block mapping whose first key starts at byte `col` of line `first`; later keys start
    /// at the same column of later lines.
    fn mapping(&mut self, first: usize, col: usize) -> R<()> {
        self.start_map(self.pos(first, col))?;
        let mut i = first;
        loop {
            let line = self.lines[i];
            let (key_end, colon) = key_end(line, col).ok_or(Bail)?;
            self.scalar(Cow::Borrowed(&line[col..key_end]), Style::Plain, self.pos(i, col))?;
            let value = colon + 1 + indent(&line[colon + 1..]);
            if value >= line.len() || line.as_bytes()[value] == b'#' {
                // The value is on the following lines, or there is none.
                match self.significant(i + 1) {
                    Some(j) if !is_document_start(self.lines[j]) && indent(self.lines[j]) > col => {
                        let inner = indent(self.lines[j]);
                        self.block_node(j, inner)?;
                    }
                    Some(j)
                        if !is_document_start(self.lines[j])
                            && indent(self.lines[j]) == col
                            && (self.lines[j][col..].starts_with("- ") || &self.lines[j][col..] == "-") =>
                    {
                        self.sequence(j, col, true)?;
                    }
                    _ => {
                        self.scalar(Cow::Borrowed("~"), Style::Plain, self.pos(i, colon))?;
                        self.next = i + 1;
                    }
                }
            } else {
                let end = self.inline_value(i, value)?;
                self.end_of_line(i, end, false)?;
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
        self.end()
    }

    /// Checks that only blanks or a comment follow byte `end` of line `i`.
    fn end_of_line(&self, i: usize, end: usize, _flow: bool) -> R<()> {
        let line = self.lines[i];
        let rest = &line[end..];
        let trimmed = rest.trim_start_matches(' ');
        if trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len()) { Ok(()) } else { Err(Bail) }
    }

    /// A value that starts at byte `start` of line `i` and ends on that line: a flow
    /// collection, a quoted scalar or a plain scalar. Returns the byte after it.
    fn inline_value(&mut self, i: usize, start: usize) -> R<usize> {
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
                self.scalar(Cow::Borrowed(text), Style::Plain, self.pos(i, start))?;
                Ok(start + text.len())
            }
        }
    }

    /// After an item of a flow collection at byte `at`: a `,` and the next item, or the
    /// closing bracket (a trailing comma is left to granit-parser).
    fn after_item(&mut self, i: usize, at: usize, close: u8) -> R<Step> {
        let bytes = self.lines[i].as_bytes();
        match bytes.get(at) {
            Some(b',') => {
                let next = skip_spaces(self.lines[i], at + 1);
                if bytes.get(next) == Some(&close) { Err(Bail) } else { Ok(Step::Next(next)) }
            }
            Some(byte) if *byte == close => {
                self.end()?;
                Ok(Step::Closed(at + 1))
            }
            _ => Err(Bail),
        }
    }

    /// A node inside a flow collection (or a quoted scalar anywhere) at byte `start`.
    fn flow_node(&mut self, i: usize, start: usize) -> R<usize> {
        let line = self.lines[i];
        let bytes = line.as_bytes();
        match bytes.get(start) {
            Some(b'{') => {
                self.start_map(self.pos(i, start))?;
                let mut at = skip_spaces(line, start + 1);
                if bytes.get(at) == Some(&b'}') {
                    self.end()?;
                    return Ok(at + 1);
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
                    self.scalar(Cow::Borrowed(key), Style::Plain, self.pos(i, key_start))?;
                    let value = skip_spaces(line, colon + 1);
                    match bytes.get(value) {
                        None | Some(b',' | b'}' | b'#') => return Err(Bail),
                        _ => {}
                    }
                    let after = skip_spaces(line, self.flow_node(i, value)?);
                    match self.after_item(i, after, b'}')? {
                        Step::Next(next) => at = next,
                        Step::Closed(end) => return Ok(end),
                    }
                }
            }
            Some(b'[') => {
                self.start_seq(self.pos(i, start))?;
                let mut at = skip_spaces(line, start + 1);
                if bytes.get(at) == Some(&b']') {
                    self.end()?;
                    return Ok(at + 1);
                }
                loop {
                    match bytes.get(at) {
                        None | Some(b',' | b']' | b'#') => return Err(Bail),
                        _ => {}
                    }
                    let after = skip_spaces(line, self.flow_node(i, at)?);
                    match self.after_item(i, after, b']')? {
                        Step::Next(next) => at = next,
                        Step::Closed(end) => return Ok(end),
                    }
                }
            }
            Some(b'"') => {
                let (text, end) = double_quoted(line, start)?;
                self.scalar(text, Style::Quoted, self.pos(i, start))?;
                Ok(end)
            }
            Some(b'\'') => {
                let (text, end) = single_quoted(line, start)?;
                self.scalar(text, Style::Quoted, self.pos(i, start))?;
                Ok(end)
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
                self.scalar(Cow::Borrowed(text), Style::Plain, self.pos(i, start))?;
                Ok(start + text.len())
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
    at + line.get(at..).map_or(0, indent)
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
            "a: 1\na: 2\nb: x\n",
            "a:\n  b:\n    - c: 1\n      d: 2\n    - e\n",
            "url: http://example.com/a#b\nt: 10:30\n",
        ] {
            assert!(same_as_slow(text), "the fast path declined:\n{text}");
        }
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
        ] {
            assert!(parse(text, Limits::default()).is_none(), "the fast path should decline:\n{text}");
        }
    }
}
