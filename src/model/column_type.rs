//! The column type grammar of MODEL.md §3: parsing, canonical display and sanity limits.
//!
//! Parsing is case-insensitive and tolerates blanks around punctuation (`Decimal(18, 2)`).
//! Parsing only checks the shape; whether sizes are sensible (`decimal(0,5)`) is a lint rule,
//! so that one message can explain both.

use std::fmt;

/// A parsed column type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ColumnType {
    Boolean,
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    Float16,
    Float32,
    Float64,
    Decimal {
        precision: u32,
        scale: u32,
    },
    Char(u32),
    Varchar(u32),
    NChar(u32),
    NVarchar(u32),
    /// Unbounded unicode text.
    String,
    Binary(u32),
    Varbinary(u32),
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    Json,
    Uuid,
    Vector(u32),
    Array(Box<ColumnType>),
}

/// Why a type string did not parse.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TypeError {
    pub text: Box<str>,
    pub reason: String,
    /// The closest known type name, when the name itself was not recognised.
    pub suggestion: Option<Box<str>>,
}

/// The type names of the grammar, for messages and suggestions.
pub const TYPE_NAMES: &[&str] = &[
    "boolean",
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "float16",
    "float32",
    "real",
    "float64",
    "double",
    "decimal(p,s)",
    "char(n)",
    "varchar(n)",
    "nchar(n)",
    "nvarchar(n)",
    "string",
    "binary(n)",
    "varbinary(n)",
    "date",
    "timestamp",
    "timestamptz",
    "interval",
    "json",
    "uuid",
    "vector(n)",
    "array<T>",
];

/// Deepest `array<array<...>>` nesting accepted; deeper input is refused, not recursed into.
const MAX_ARRAY_DEPTH: usize = 8;

impl ColumnType {
    pub fn parse(text: &str) -> Result<ColumnType, TypeError> {
        let mut parser = Parser { text, rest: text };
        let result = parser.parse_type(0).and_then(|ty| {
            parser.skip_blanks();
            if parser.rest.is_empty() {
                Ok(ty)
            } else {
                Err((format!("unexpected `{}` after the type", parser.rest), None))
            }
        });
        result.map_err(|(reason, suggestion)| TypeError {
            text: text.into(),
            reason,
            suggestion: suggestion.map(Into::into),
        })
    }

    /// Problems with the sizes of an otherwise well-formed type, outermost first.
    pub fn sanity_problems(&self) -> Option<String> {
        match self {
            ColumnType::Decimal { precision, scale } => {
                if !(1..=38).contains(precision) {
                    Some(format!("decimal precision must be between 1 and 38, found {precision}"))
                } else if scale > precision {
                    Some(format!("decimal scale must be between 0 and the precision {precision}, found {scale}"))
                } else {
                    None
                }
            }
            ColumnType::Char(0)
            | ColumnType::Varchar(0)
            | ColumnType::NChar(0)
            | ColumnType::NVarchar(0)
            | ColumnType::Binary(0)
            | ColumnType::Varbinary(0)
            | ColumnType::Vector(0) => Some(format!("the size of `{self}` must be greater than 0")),
            ColumnType::Array(inner) => inner.sanity_problems(),
            _ => None,
        }
    }

    /// Integer types, narrowest first, with the number of decimal digits they always hold.
    pub fn integer_digits(&self) -> Option<u32> {
        match self {
            ColumnType::TinyInt => Some(3),
            ColumnType::SmallInt => Some(5),
            ColumnType::Integer => Some(10),
            ColumnType::BigInt => Some(19),
            _ => None,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::TinyInt => f.write_str("tinyint"),
            ColumnType::SmallInt => f.write_str("smallint"),
            ColumnType::Integer => f.write_str("integer"),
            ColumnType::BigInt => f.write_str("bigint"),
            ColumnType::Float16 => f.write_str("float16"),
            ColumnType::Float32 => f.write_str("float32"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Char(n) => write!(f, "char({n})"),
            ColumnType::Varchar(n) => write!(f, "varchar({n})"),
            ColumnType::NChar(n) => write!(f, "nchar({n})"),
            ColumnType::NVarchar(n) => write!(f, "nvarchar({n})"),
            ColumnType::String => f.write_str("string"),
            ColumnType::Binary(n) => write!(f, "binary({n})"),
            ColumnType::Varbinary(n) => write!(f, "varbinary({n})"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::TimestampTz => f.write_str("timestamptz"),
            ColumnType::Interval => f.write_str("interval"),
            ColumnType::Json => f.write_str("json"),
            ColumnType::Uuid => f.write_str("uuid"),
            ColumnType::Vector(n) => write!(f, "vector({n})"),
            ColumnType::Array(inner) => write!(f, "array<{inner}>"),
        }
    }
}

type ParseResult<T> = Result<T, (String, Option<&'static str>)>;

struct Parser<'a> {
    text: &'a str,
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn skip_blanks(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn word(&mut self) -> &'a str {
        self.skip_blanks();
        let end = self.rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_blanks();
        if let Some(rest) = self.rest.strip_prefix(c) {
            self.rest = rest;
            true
        } else {
            false
        }
    }

    fn number(&mut self, what: &str) -> ParseResult<u32> {
        self.skip_blanks();
        let end = self.rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(self.rest.len());
        let (digits, rest) = self.rest.split_at(end);
        if digits.is_empty() {
            return Err((format!("expected a number for the {what}"), None));
        }
        self.rest = rest;
        digits.parse::<u32>().map_err(|_| (format!("the {what} {digits} is too large"), None))
    }

    fn sized(&mut self, name: &str) -> ParseResult<u32> {
        if !self.eat('(') {
            return Err((format!("`{name}` needs a size, as in `{name}(n)`"), None));
        }
        let n = self.number("size")?;
        if !self.eat(')') {
            return Err((format!("expected `)` after the size of `{name}`"), None));
        }
        Ok(n)
    }

    fn parse_type(&mut self, depth: usize) -> ParseResult<ColumnType> {
        let word = self.word();
        if word.is_empty() {
            return Err(if self.text.trim().is_empty() {
                ("the type is empty".to_string(), None)
            } else {
                (format!("expected a type name at `{}`", self.rest), None)
            });
        }
        let lower = word.to_ascii_lowercase();
        let ty = match lower.as_str() {
            "boolean" => ColumnType::Boolean,
            "tinyint" => ColumnType::TinyInt,
            "smallint" => ColumnType::SmallInt,
            "integer" => ColumnType::Integer,
            "bigint" => ColumnType::BigInt,
            "float16" => ColumnType::Float16,
            "float32" | "real" => ColumnType::Float32,
            "float64" | "double" => ColumnType::Float64,
            "string" => ColumnType::String,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "timestamptz" => ColumnType::TimestampTz,
            "interval" => ColumnType::Interval,
            "json" => ColumnType::Json,
            "uuid" => ColumnType::Uuid,
            "decimal" => {
                if !self.eat('(') {
                    return Err(("`decimal` needs a precision and scale, as in `decimal(18,2)`".into(), None));
                }
                let precision = self.number("precision")?;
                if !self.eat(',') {
                    let hint = if self.rest.trim().is_empty() {
                        " (inside `{...}`, quote the type: `type: \"decimal(18,2)\"`, or the comma ends it)"
                    } else {
                        ""
                    };
                    return Err((
                        format!("`decimal` needs a scale after the precision, as in `decimal(18,2)`{hint}"),
                        None,
                    ));
                }
                let scale = self.number("scale")?;
                if !self.eat(')') {
                    return Err(("expected `)` after the scale of `decimal`".into(), None));
                }
                ColumnType::Decimal { precision, scale }
            }
            "char" => ColumnType::Char(self.sized("char")?),
            "varchar" => ColumnType::Varchar(self.sized("varchar")?),
            "nchar" => ColumnType::NChar(self.sized("nchar")?),
            "nvarchar" => ColumnType::NVarchar(self.sized("nvarchar")?),
            "binary" => ColumnType::Binary(self.sized("binary")?),
            "varbinary" => ColumnType::Varbinary(self.sized("varbinary")?),
            "vector" => ColumnType::Vector(self.sized("vector")?),
            "array" => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err((format!("arrays nest at most {MAX_ARRAY_DEPTH} deep"), None));
                }
                if !self.eat('<') {
                    return Err(("`array` needs an element type, as in `array<bigint>`".into(), None));
                }
                let inner = self.parse_type(depth + 1)?;
                if !self.eat('>') {
                    return Err(("expected `>` after the element type of `array`".into(), None));
                }
                ColumnType::Array(Box::new(inner))
            }
            _ => {
                let names: Vec<&'static str> =
                    TYPE_NAMES.iter().map(|n| n.split(['(', '<']).next().unwrap_or(n)).collect();
                let suggestion =
                    crate::suggest::closest(&lower, names.iter().copied()).or_else(|| alias_suggestion(&lower));
                return Err((format!("unknown type `{word}`"), suggestion));
            }
        };
        Ok(ty)
    }
}

/// Spellings from other systems that users often reach for.
fn alias_suggestion(word: &str) -> Option<&'static str> {
    Some(match word {
        "int" | "int4" => "integer",
        "int8" | "long" => "bigint",
        "int2" | "short" => "smallint",
        "bool" => "boolean",
        "text" | "str" => "string",
        "float" => "float32",
        "numeric" | "number" => "decimal",
        "datetime" => "timestamp",
        "bytes" | "blob" => "varbinary",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> String {
        match ColumnType::parse(text) {
            Ok(ty) => ty.to_string(),
            Err(e) => format!("error: {}{}", e.reason, e.suggestion.map(|s| format!(" ({s}?)")).unwrap_or_default()),
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(parse("BIGINT"), "bigint");
        assert_eq!(parse("real"), "float32");
        assert_eq!(parse("Double"), "float64");
        assert_eq!(parse(" decimal( 18 , 2 ) "), "decimal(18,2)");
        assert_eq!(parse("array<array<varchar(3)>>"), "array<array<varchar(3)>>");
        assert_eq!(parse("vector(768)"), "vector(768)");
    }

    #[test]
    fn errors_explain() {
        assert_eq!(parse("decimal(18,)"), "error: expected a number for the scale");
        assert!(parse("decimal(18").contains("quote the type"));
        assert_eq!(parse("varchar"), "error: `varchar` needs a size, as in `varchar(n)`");
        assert_eq!(parse("bigintt"), "error: unknown type `bigintt` (bigint?)");
        assert_eq!(parse("int"), "error: unknown type `int` (integer?)");
        assert_eq!(parse("varchar(99999999999)"), "error: the size 99999999999 is too large");
        assert_eq!(parse("bigint extra"), "error: unexpected `extra` after the type");
        assert_eq!(parse(""), "error: the type is empty");
        let deep = format!("{}bigint{}", "array<".repeat(100), ">".repeat(100));
        assert_eq!(parse(&deep), "error: arrays nest at most 8 deep");
    }

    #[test]
    fn sanity() {
        let check = |t: &str| ColumnType::parse(t).unwrap().sanity_problems();
        assert_eq!(check("decimal(38,38)"), None);
        assert!(check("decimal(39,2)").unwrap().contains("between 1 and 38"));
        assert!(check("decimal(0,0)").unwrap().contains("between 1 and 38"));
        assert!(check("decimal(5,6)").unwrap().contains("scale"));
        assert!(check("varchar(0)").unwrap().contains("greater than 0"));
        assert!(check("array<char(0)>").unwrap().contains("char(0)"));
    }
}
