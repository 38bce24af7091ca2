//! `Str`: text as written in the model (names, references, classifications).
//!
//! Text up to 24 bytes is stored inline, as most model names are: a model of millions of
//! columns then needs no allocation per name, and reading a name needs no pointer chase.

use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Str(compact_str::CompactString);

/// A SQL identifier as a key: datastores, datasets, columns, workspaces and dataset groups
/// are SQL identifiers, which databases fold to one case, so `Payments` and `payments` are one
/// name everywhere (uniqueness, references, diff). Compares and hashes without ASCII case,
/// without allocating.
#[derive(Clone, Copy, Debug)]
pub struct Ident<'a>(pub &'a str);

impl PartialEq for Ident<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Ident<'_> {}

impl std::hash::Hash for Ident<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Lower-cased a chunk at a time and fed in one `write` per chunk: a hasher call per
        // byte made name lookups a tenth of a 12M-dataset lint's global rules.
        let mut chunk = [0u8; 32];
        for part in self.0.as_bytes().chunks(chunk.len()) {
            let lower = &mut chunk[..part.len()];
            lower.copy_from_slice(part);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_u8(0xff);
    }
}

/// Whether two SQL identifiers name the same thing (see `Ident`).
pub fn same_ident(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Str {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Str {
    fn from(text: &str) -> Str {
        Str(compact_str::CompactString::new(text))
    }
}

impl From<String> for Str {
    fn from(text: String) -> Str {
        Str(compact_str::CompactString::from(text))
    }
}

impl From<Cow<'_, str>> for Str {
    fn from(text: Cow<'_, str>) -> Str {
        Str::from(&*text)
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl schemars::JsonSchema for Str {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "String".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::Str;

    #[test]
    fn short_names_are_inline() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        let name = Str::from("customer_lifetime_value");
        assert_eq!(&*name, "customer_lifetime_value");
        assert!(!name.0.is_heap_allocated());
        let long = Str::from("a_name_longer_than_twenty_four_bytes".to_string());
        assert!(long.0.is_heap_allocated());
        assert_eq!(long, "a_name_longer_than_twenty_four_bytes");
    }
}
