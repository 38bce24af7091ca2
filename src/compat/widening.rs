//! Which column type changes are widenings (safe for consumers), as a table of rules.
//!
//! `WIDENINGS` is the data; `is_widening` only reads it. A test walks every pair of a sample of
//! types, checks that the relation is reflexive, transitive and never goes both ways between
//! distinct types, and compares the whole matrix with the committed
//! `fixtures/widening-matrix.txt`, so any change to the table shows up in review.

use crate::model::ColumnType;

/// The kind of a type, without its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Boolean,
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    Float16,
    Float32,
    Float64,
    Decimal,
    Char,
    Varchar,
    NChar,
    NVarchar,
    String,
    Binary,
    Varbinary,
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    Json,
    Uuid,
    Vector,
    Array,
}

/// What must hold of the sizes for a rule to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// The new size is at least the old size (`varchar(n) → varchar(m ≥ n)`).
    SizeAtLeast,
    /// The decimal holds every value of the integer type: `p - s` ≥ its digits.
    IntegerDigitsFit,
    /// `decimal(p,s) → decimal(p',s')` with `s' ≥ s` and `p' - s' ≥ p - s`.
    DecimalFits,
    /// `array<T> → array<U>` where `T → U` is a widening.
    ElementWidens,
}

/// Every widening other than "no change", from MODEL.md §5.
pub const WIDENINGS: &[(TypeKind, TypeKind, Condition)] = {
    use Condition::*;
    use TypeKind::*;
    &[
        // Integers widen along tinyint → smallint → integer → bigint.
        (TinyInt, SmallInt, Always),
        (TinyInt, Integer, Always),
        (TinyInt, BigInt, Always),
        (SmallInt, Integer, Always),
        (SmallInt, BigInt, Always),
        (Integer, BigInt, Always),
        // Floats widen along float16 → float32 → float64.
        (Float16, Float32, Always),
        (Float16, Float64, Always),
        (Float32, Float64, Always),
        // Integers fit a decimal with enough integer digits.
        (TinyInt, Decimal, IntegerDigitsFit),
        (SmallInt, Decimal, IntegerDigitsFit),
        (Integer, Decimal, IntegerDigitsFit),
        (BigInt, Decimal, IntegerDigitsFit),
        (Decimal, Decimal, DecimalFits),
        // Text: fixed to variable, longer, non-unicode to unicode, bounded to unbounded.
        (Char, Varchar, SizeAtLeast),
        (Varchar, Varchar, SizeAtLeast),
        (NChar, NVarchar, SizeAtLeast),
        (NVarchar, NVarchar, SizeAtLeast),
        (Char, NChar, SizeAtLeast),
        (Char, NVarchar, SizeAtLeast),
        (Varchar, NVarchar, SizeAtLeast),
        (Char, String, Always),
        (Varchar, String, Always),
        (NChar, String, Always),
        (NVarchar, String, Always),
        // Binary: fixed to variable, longer.
        (Binary, Varbinary, SizeAtLeast),
        (Varbinary, Varbinary, SizeAtLeast),
        // An array widens when its element type does (an extension of §5, which is silent).
        (Array, Array, ElementWidens),
        // Not here on purpose: timestamp → timestamptz changes meaning, so it is not a widening.
    ]
};

pub fn kind(ty: &ColumnType) -> TypeKind {
    match ty {
        ColumnType::Boolean => TypeKind::Boolean,
        ColumnType::TinyInt => TypeKind::TinyInt,
        ColumnType::SmallInt => TypeKind::SmallInt,
        ColumnType::Integer => TypeKind::Integer,
        ColumnType::BigInt => TypeKind::BigInt,
        ColumnType::Float16 => TypeKind::Float16,
        ColumnType::Float32 => TypeKind::Float32,
        ColumnType::Float64 => TypeKind::Float64,
        ColumnType::Decimal { .. } => TypeKind::Decimal,
        ColumnType::Char(_) => TypeKind::Char,
        ColumnType::Varchar(_) => TypeKind::Varchar,
        ColumnType::NChar(_) => TypeKind::NChar,
        ColumnType::NVarchar(_) => TypeKind::NVarchar,
        ColumnType::String => TypeKind::String,
        ColumnType::Binary(_) => TypeKind::Binary,
        ColumnType::Varbinary(_) => TypeKind::Varbinary,
        ColumnType::Date => TypeKind::Date,
        ColumnType::Timestamp => TypeKind::Timestamp,
        ColumnType::TimestampTz => TypeKind::TimestampTz,
        ColumnType::Interval => TypeKind::Interval,
        ColumnType::Json => TypeKind::Json,
        ColumnType::Uuid => TypeKind::Uuid,
        ColumnType::Vector(_) => TypeKind::Vector,
        ColumnType::Array(_) => TypeKind::Array,
    }
}

fn size(ty: &ColumnType) -> Option<u32> {
    match ty {
        ColumnType::Char(n)
        | ColumnType::Varchar(n)
        | ColumnType::NChar(n)
        | ColumnType::NVarchar(n)
        | ColumnType::Binary(n)
        | ColumnType::Varbinary(n)
        | ColumnType::Vector(n) => Some(*n),
        _ => None,
    }
}

fn holds(condition: Condition, from: &ColumnType, to: &ColumnType) -> bool {
    match condition {
        Condition::Always => true,
        Condition::SizeAtLeast => matches!((size(from), size(to)), (Some(a), Some(b)) if b >= a),
        Condition::IntegerDigitsFit => match (from.integer_digits(), to) {
            (Some(digits), ColumnType::Decimal { precision, scale }) => precision.saturating_sub(*scale) >= digits,
            _ => false,
        },
        Condition::DecimalFits => match (from, to) {
            (ColumnType::Decimal { precision: p, scale: s }, ColumnType::Decimal { precision: p2, scale: s2 }) => {
                s2 >= s && p2.saturating_sub(*s2) >= p.saturating_sub(*s)
            }
            _ => false,
        },
        Condition::ElementWidens => match (from, to) {
            (ColumnType::Array(a), ColumnType::Array(b)) => is_widening(a, b),
            _ => false,
        },
    }
}

/// Whether consumers of a column of type `from` survive it becoming `to`. Equal types count.
pub fn is_widening(from: &ColumnType, to: &ColumnType) -> bool {
    if from == to {
        return true;
    }
    let (from_kind, to_kind) = (kind(from), kind(to));
    WIDENINGS.iter().any(|(a, b, condition)| *a == from_kind && *b == to_kind && holds(*condition, from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types of every kind, with sizes on both sides of each threshold.
    const SAMPLE: &[&str] = &[
        "boolean",
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "float16",
        "float32",
        "float64",
        "decimal(3,0)",
        "decimal(5,0)",
        "decimal(10,0)",
        "decimal(12,2)",
        "decimal(18,2)",
        "decimal(19,0)",
        "decimal(20,2)",
        "decimal(18,4)",
        "decimal(38,10)",
        "char(5)",
        "char(10)",
        "varchar(5)",
        "varchar(10)",
        "nchar(5)",
        "nchar(10)",
        "nvarchar(5)",
        "nvarchar(10)",
        "string",
        "binary(8)",
        "binary(16)",
        "varbinary(8)",
        "varbinary(16)",
        "date",
        "timestamp",
        "timestamptz",
        "interval",
        "json",
        "uuid",
        "vector(3)",
        "vector(4)",
        "array<integer>",
        "array<bigint>",
        "array<varchar(5)>",
        "array<string>",
    ];

    fn sample() -> Vec<ColumnType> {
        SAMPLE.iter().map(|t| ColumnType::parse(t).unwrap()).collect()
    }

    fn matrix() -> String {
        let types = sample();
        let mut out = String::from(
            "# Widening matrix: each line lists the types a column of the first type may become.\n# Generated by compat::widening::tests::matrix_is_current (UPDATE_MATRIX=1 to refresh).\n",
        );
        for from in &types {
            let targets: Vec<String> =
                types.iter().filter(|to| *to != from && is_widening(from, to)).map(|t| t.to_string()).collect();
            out.push_str(&format!(
                "{from} -> {}\n",
                if targets.is_empty() { "(nothing)".to_string() } else { targets.join(", ") }
            ));
        }
        out
    }

    #[test]
    fn matrix_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/widening-matrix.txt");
        let expected = matrix();
        if std::env::var_os("UPDATE_MATRIX").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            expected,
            "fixtures/widening-matrix.txt is stale"
        );
    }

    #[test]
    fn reflexive_transitive_antisymmetric() {
        let types = sample();
        for a in &types {
            assert!(is_widening(a, a), "{a} to itself");
            for b in &types {
                if a != b && is_widening(a, b) {
                    assert!(!is_widening(b, a), "{a} and {b} widen both ways");
                    for c in &types {
                        if is_widening(b, c) {
                            assert!(is_widening(a, c), "{a} → {b} → {c} but not {a} → {c}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_examples_of_the_contract() {
        let w = |a: &str, b: &str| is_widening(&ColumnType::parse(a).unwrap(), &ColumnType::parse(b).unwrap());
        assert!(w("decimal(10,2)", "decimal(12,2)"));
        assert!(w("decimal(10,2)", "decimal(12,4)"));
        assert!(!w("decimal(10,2)", "decimal(10,4)"), "fewer integer digits");
        assert!(w("integer", "decimal(10,0)") && !w("integer", "decimal(10,2)"));
        assert!(w("bigint", "decimal(19,0)") && !w("bigint", "decimal(18,0)"));
        assert!(w("char(5)", "varchar(5)") && !w("varchar(5)", "char(5)"));
        assert!(w("varchar(10)", "nvarchar(10)") && !w("nvarchar(10)", "varchar(10)"));
        assert!(w("varchar(10)", "string") && !w("string", "varchar(10)"));
        assert!(w("binary(8)", "varbinary(8)") && !w("varbinary(8)", "binary(8)"));
        assert!(!w("timestamp", "timestamptz"));
        assert!(!w("integer", "float64"), "not in the contract");
        assert!(!w("bigint", "integer"));
        // Every rule of the table is used by some pair of the sample.
        let types = sample();
        for (from, to, condition) in WIDENINGS {
            assert!(
                types
                    .iter()
                    .any(|a| kind(a) == *from
                        && types.iter().any(|b| kind(b) == *to && a != b && holds(*condition, a, b))),
                "{from:?} → {to:?} is never exercised"
            );
        }
    }
}
