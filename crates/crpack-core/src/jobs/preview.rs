//! A result's preview read from its Parquet part files: the columns with their Spark SQL types,
//! the total row count from the files' metadata, and the first rows rendered as `run --local`
//! renders them (the runner's `render` in `harness.py`: `null`, `true`/`false`, Python's float
//! `repr`, ISO dates and times, `0x…` bytes, text cut at 200 characters).
//!
//! Files come from a bucket the caller does not control, so nothing here trusts them: every
//! failure is an error naming the file, and the Parquet reader runs behind `catch_unwind`.

use std::path::{Path, PathBuf};

use parquet::basic::{ConvertedType, IntType, LogicalType, Repetition, TimestampType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::Type;
use serde::Serialize;

/// A cell longer than this many characters is cut, as the runner cuts it.
pub const MAX_CELL_CHARS: usize = 200;

/// One column: its name and its type as Spark SQL names it (`string`, `bigint`, `decimal(10,2)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// What a result's Parquet files hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub columns: Vec<Column>,
    /// All rows of all part files (from their metadata).
    pub rows: u64,
    /// The first rows, each cell rendered as a string.
    pub preview: Vec<Vec<String>>,
}

/// A Parquet file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewError {
    pub path: PathBuf,
    pub detail: String,
}

/// Reads `files` (the part files of one result, in order): the first file's columns, the sum of
/// their row counts, and up to `limit` rows from the start.
pub fn read(files: &[PathBuf], limit: usize) -> Result<Preview, PreviewError> {
    let mut out = Preview {
        columns: Vec::new(),
        rows: 0,
        preview: Vec::new(),
    };
    for (i, path) in files.iter().enumerate() {
        let want = limit.saturating_sub(out.preview.len());
        let read = std::panic::catch_unwind(|| read_file(path, want)).unwrap_or_else(|_| {
            Err(PreviewError {
                path: path.clone(),
                detail: "the Parquet reader gave up on this file (it is malformed)".into(),
            })
        })?;
        if i == 0 {
            out.columns = read.columns;
        }
        out.rows = out.rows.saturating_add(read.rows);
        out.preview.extend(read.preview);
    }
    Ok(out)
}

fn read_file(path: &Path, limit: usize) -> Result<Preview, PreviewError> {
    let fail = |detail: String| PreviewError {
        path: path.to_path_buf(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    let meta = reader.metadata().file_metadata();
    let rows = u64::try_from(meta.num_rows()).unwrap_or(0);
    let columns = meta
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| Column {
            name: f.name().to_string(),
            kind: spark_type(f),
        })
        .collect();
    let mut preview = Vec::new();
    if limit > 0 && rows > 0 {
        let iter = reader
            .get_row_iter(None)
            .map_err(|e| fail(format!("cannot read its rows: {e}")))?;
        for row in iter.take(limit) {
            let row = row.map_err(|e| fail(format!("cannot read its rows: {e}")))?;
            preview.push(render_row(&row));
        }
    }
    Ok(Preview {
        columns,
        rows,
        preview,
    })
}

fn render_row(row: &Row) -> Vec<String> {
    row.get_column_iter().map(|(_, v)| cell(v)).collect()
}

/// A cell as the runner renders it, cut at [`MAX_CELL_CHARS`].
pub fn cell(value: &Field) -> String {
    short(&render(value))
}

fn short(text: &str) -> String {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
    cut.push('\u{2026}');
    cut
}

fn render(value: &Field) -> String {
    match value {
        Field::Null => "null".into(),
        Field::Bool(b) => if *b { "true" } else { "false" }.into(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Float16(v) => float_repr(v.to_f64()),
        Field::Float(v) => float_repr(f64::from(*v)),
        Field::Double(v) => float_repr(*v),
        Field::Decimal(d) => decimal(d.data(), d.scale()),
        Field::Str(s) => s.clone(),
        Field::Bytes(b) => format!("0x{}", hex::encode(b.data())),
        Field::Date(days) => date(i64::from(*days)),
        Field::TimeMillis(ms) => time_of_day(i64::from(*ms) * 1000),
        Field::TimeMicros(us) => time_of_day(*us),
        Field::TimestampMillis(ms) => timestamp(i128::from(*ms) * 1_000_000),
        Field::TimestampMicros(us) => timestamp(i128::from(*us) * 1000),
        Field::Group(row) => {
            let fields: Vec<String> = row
                .get_column_iter()
                .map(|(name, v)| format!("{name}={}", render(v)))
                .collect();
            format!("Row({})", fields.join(", "))
        }
        Field::ListInternal(list) => {
            let items: Vec<String> = list.elements().iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Field::MapInternal(map) => {
            let items: Vec<String> = map
                .entries()
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr` of a float: the shortest digits that read back as `x`, in positional
/// notation for decimal exponents from -4 to 15 (with `.0` on whole numbers), else as
/// `d.ddde±XX`; `NaN` as the runner writes it, `inf`, `-inf`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e-7`, `5e0`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.unsigned_abs());
    }
    let point = exp + 1; // digits before the decimal point
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{text}")
}

/// A decimal from its big-endian two's-complement unscaled bytes, in plain notation with
/// `scale` digits after the point (Python's `str` of the `Decimal` Spark collects).
pub fn decimal(bytes: &[u8], scale: i32) -> String {
    if bytes.is_empty() || bytes.len() > 16 || !(0..=38).contains(&scale) {
        return format!("0x{}", hex::encode(bytes));
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut full = [fill; 16];
    full[16 - bytes.len()..].copy_from_slice(bytes);
    let n = i128::from_be_bytes(full);
    let digits = n.unsigned_abs().to_string();
    let scale = scale as usize;
    let sign = if n < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

fn date(days: i64) -> String {
    time::Date::from_julian_day(
        2_440_588_i64
            .saturating_add(days)
            .clamp(i32::MIN.into(), i32::MAX.into()) as i32,
    )
    .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
    .unwrap_or_else(|_| format!("{days} days after 1970-01-01"))
}

fn time_of_day(micros: i64) -> String {
    if !(0..86_400_000_000).contains(&micros) {
        return format!("{micros} µs after midnight");
    }
    let (s, us) = (micros / 1_000_000, micros % 1_000_000);
    let hms = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if us == 0 { hms } else { format!("{hms}.{us:06}") }
}

/// A UTC timestamp as Python's `isoformat(sep=" ")` writes a naive one.
fn timestamp(nanos: i128) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let base = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            match t.microsecond() {
                0 => base,
                us => format!("{base}.{us:06}"),
            }
        }
        Err(_) => format!("{nanos} ns after 1970-01-01 00:00:00"),
    }
}

/// A column's type as Spark SQL's `simpleString` names it.
pub fn spark_type(t: &Type) -> String {
    let info = t.get_basic_info();
    if t.is_primitive() {
        let base = primitive_type(t);
        return if info.has_repetition() && info.repetition() == Repetition::REPEATED {
            format!("array<{base}>")
        } else {
            base
        };
    }
    let fields = t.get_fields();
    let is = |c: ConvertedType, l: fn(&LogicalType) -> bool| {
        info.converted_type() == c || info.logical_type_ref().is_some_and(l)
    };
    if is(ConvertedType::LIST, |l| matches!(l, LogicalType::List)) {
        // LIST → repeated group `list` → `element` (or the legacy two-level forms).
        let element = match fields.first() {
            Some(inner) if !inner.is_primitive() && inner.get_fields().len() == 1 => {
                spark_type(&inner.get_fields()[0])
            }
            Some(inner) if inner.is_primitive() => primitive_type(inner),
            Some(inner) => struct_type(inner.get_fields()),
            None => "void".into(),
        };
        return format!("array<{element}>");
    }
    if is(ConvertedType::MAP, |l| matches!(l, LogicalType::Map))
        || info.converted_type() == ConvertedType::MAP_KEY_VALUE
    {
        if let Some(kv) = fields.first().filter(|kv| !kv.is_primitive())
            && let [k, v] = kv.get_fields()
        {
            return format!("map<{},{}>", spark_type(k), spark_type(v));
        }
        return "map".into();
    }
    struct_type(fields)
}

fn struct_type(fields: &[parquet::schema::types::TypePtr]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{}:{}", f.name(), spark_type(f)))
        .collect();
    format!("struct<{}>", parts.join(","))
}

fn primitive_type(t: &Type) -> String {
    let info = t.get_basic_info();
    let logical = info.logical_type_ref();
    let converted = info.converted_type();
    let (precision, scale) = match t {
        Type::PrimitiveType { precision, scale, .. } => (*precision, *scale),
        _ => (0, 0),
    };
    let decimal = || format!("decimal({precision},{scale})");
    if matches!(logical, Some(LogicalType::Decimal(_))) || converted == ConvertedType::DECIMAL {
        return decimal();
    }
    match t.get_physical_type() {
        PhysicalType::BOOLEAN => "boolean".into(),
        PhysicalType::INT32 => match (logical, converted) {
            (Some(LogicalType::Date), _) | (_, ConvertedType::DATE) => "date".into(),
            (Some(LogicalType::Integer(IntType { bit_width: 8, .. })), _) | (_, ConvertedType::INT_8) => {
                "tinyint".into()
            }
            (Some(LogicalType::Integer(IntType { bit_width: 16, .. })), _) | (_, ConvertedType::INT_16) => {
                "smallint".into()
            }
            _ => "int".into(),
        },
        PhysicalType::INT64 => match logical {
            Some(LogicalType::Timestamp(TimestampType {
                is_adjusted_to_u_t_c: false,
                ..
            })) => "timestamp_ntz".into(),
            Some(LogicalType::Timestamp(_)) => "timestamp".into(),
            _ if matches!(
                converted,
                ConvertedType::TIMESTAMP_MICROS | ConvertedType::TIMESTAMP_MILLIS
            ) =>
            {
                "timestamp".into()
            }
            _ => "bigint".into(),
        },
        PhysicalType::INT96 => "timestamp".into(),
        PhysicalType::FLOAT => "float".into(),
        PhysicalType::DOUBLE => "double".into(),
        PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY => match (logical, converted) {
            (Some(LogicalType::String | LogicalType::Enum | LogicalType::Json), _)
            | (_, ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON) => "string".into(),
            _ => "binary".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_writes_them() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (35.0, "35.0"),
            (120.5, "120.5"),
            (342.1, "342.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x:?}");
        }
        // A float column is widened to a Python float before it is rendered.
        assert_eq!(float_repr(f64::from(0.1f32)), "0.10000000149011612");
    }

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(decimal(&[0x2f, 0x12], 2), "120.50");
        assert_eq!(decimal(&[0xff, 0x6a], 2), "-1.50");
        assert_eq!(decimal(&[0x05], 2), "0.05");
        assert_eq!(decimal(&[0x05], 0), "5");
        assert_eq!(decimal(&[0x80; 16], 38).len(), "-0.".len() + 38);
        // Nothing it cannot hold panics: too many bytes, a scale out of range, no bytes.
        assert_eq!(decimal(&[1; 17], 2), format!("0x{}", "01".repeat(17)));
        assert_eq!(decimal(&[1], -1), "0x01");
        assert_eq!(decimal(&[], 0), "0x");
    }

    #[test]
    fn dates_times_and_odd_values_render_without_panicking() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_723), "2024-01-01");
        assert!(date(i64::MAX).contains("days after"));
        assert_eq!(time_of_day(3_723_000_000), "01:02:03");
        assert_eq!(time_of_day(3_723_000_500), "01:02:03.000500");
        assert!(time_of_day(-1).contains("after midnight"));
        assert_eq!(timestamp(1_704_067_200_000_000_000), "2024-01-01 00:00:00");
        assert_eq!(timestamp(1_704_067_200_123_456_000), "2024-01-01 00:00:00.123456");
        assert!(timestamp(i128::MAX).contains("ns after"));
        assert_eq!(cell(&Field::Null), "null");
        assert_eq!(cell(&Field::Bool(true)), "true");
        assert_eq!(cell(&Field::Str("x".repeat(500))).chars().count(), MAX_CELL_CHARS);
        assert!(cell(&Field::Str("x".repeat(500))).ends_with('\u{2026}'));
        assert_eq!(
            cell(&Field::Str("x".repeat(MAX_CELL_CHARS))).chars().count(),
            MAX_CELL_CHARS
        );
    }

    #[test]
    fn spark_names_the_types_of_a_spark_schema() {
        let schema = "message spark_schema {
            optional binary segment (STRING);
            required int64 customers;
            optional double revenue;
            optional int32 d (DATE);
            optional int64 ts (TIMESTAMP(MICROS,true));
            optional int32 small (INTEGER(16,true));
            optional fixed_len_byte_array(9) amount (DECIMAL(20,2));
            optional int96 legacy_ts;
            optional binary blob;
            optional group tags (LIST) { repeated group list { optional binary element (STRING); } }
            optional group attrs (MAP) { repeated group key_value {
                required binary key (STRING); optional int32 value; } }
            optional group point { optional double x; optional double y; }
        }";
        let t = parquet::schema::parser::parse_message_type(schema).unwrap();
        let kinds: Vec<String> = t.get_fields().iter().map(|f| spark_type(f)).collect();
        assert_eq!(
            kinds,
            [
                "string",
                "bigint",
                "double",
                "date",
                "timestamp",
                "smallint",
                "decimal(20,2)",
                "timestamp",
                "binary",
                "array<string>",
                "map<string,int>",
                "struct<x:double,y:double>",
            ]
        );
    }

    /// Writes a snappy-compressed Parquet file of `(name, n, x)` rows, as Spark does by default.
    fn write_parquet(path: &Path, rows: &[(&str, Option<i64>, f64)]) {
        use parquet::basic::Compression;
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use std::sync::Arc;
        let schema = parquet::schema::parser::parse_message_type(
            "message spark_schema { required binary name (STRING); optional int64 n; required double x; }",
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut w = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
        let mut rg = w.next_row_group().unwrap();
        let names: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(r.0)).collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&names, None, None)
            .unwrap();
        c.close().unwrap();
        let ns: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
        let defs: Vec<i16> = rows.iter().map(|r| i16::from(r.1.is_some())).collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(&ns, Some(&defs), None)
            .unwrap();
        c.close().unwrap();
        let xs: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<DoubleType>().write_batch(&xs, None, None).unwrap();
        c.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
    }

    #[test]
    fn a_preview_reads_across_part_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("part-00000.snappy.parquet");
        let b = dir.path().join("part-00001.snappy.parquet");
        write_parquet(&a, &[("a", Some(1), 0.5), ("b", None, 35.0)]);
        write_parquet(&b, &[("c\u{202e}", Some(3), 1e16)]);
        let files = [a, b];
        let p = read(&files, 10).unwrap();
        let kinds: Vec<(&str, &str)> = p
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(kinds, [("name", "string"), ("n", "bigint"), ("x", "double")]);
        assert_eq!(p.rows, 3);
        assert_eq!(
            p.preview,
            [
                ["a", "1", "0.5"],
                ["b", "null", "35.0"],
                ["c\u{202e}", "3", "1e+16"]
            ]
        );
        // The first N rows only; the count is still every file's.
        let p = read(&files, 2).unwrap();
        assert_eq!((p.rows, p.preview.len()), (3, 2));
        let p = read(&files, 0).unwrap();
        assert_eq!((p.rows, p.preview.len()), (3, 0));
        // A damaged part file is named.
        std::fs::write(&files[1], b"PAR1 not really").unwrap();
        assert_eq!(read(&files, 10).unwrap_err().path, files[1]);
    }

    #[test]
    fn a_file_that_is_not_parquet_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-00000.parquet");
        for bytes in [&b""[..], b"PAR1", b"PAR1garbagegarbagePAR1", &[0u8; 4096]] {
            std::fs::write(&path, bytes).unwrap();
            let e = read(std::slice::from_ref(&path), 10).unwrap_err();
            assert_eq!(e.path, path);
            assert!(!e.detail.is_empty());
        }
    }
}
