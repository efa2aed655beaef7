//! Captured columns as a table: named, typed columns ([`Table`]) and their Arrow form.
//!
//! Every capture (BBO, depth, trades, records) hands its output over as a [`Table`]: the names,
//! order and types of its columns are said here and in the capture that builds it, nowhere else
//! (the Python binding turns a table into numpy arrays, the Parquet writer and the Arrow C data
//! interface into Arrow arrays). A column's values are an Arrow [`Buffer`] taken over from the
//! capture's `Vec` without copying (or, in the binding, a numpy array's memory, kept alive by the
//! buffer), so the numpy, Arrow and Parquet views of one batch share one copy of the data.
//!
//! Arrow types follow Databento's conventions ([`Role`]): price columns (`price`, `*_px`,
//! `*_px_NN`) are int64 in 1e-9 units, null where the value is `UNDEF_PRICE` (an empty side),
//! or float64 / decimal128(19, 9) on request ([`PriceType`]); time columns (`ts_*`) are uint64
//! nanoseconds, or timestamp[ns, UTC] on request (`pretty_ts`), null where `UNDEF_TIMESTAMP`.
//! Depth's `(rows, depth)` columns are fixed-size lists of `depth` values.
//!
//! - [`parquet`]: a streaming Parquet writer any capture can feed.

pub mod parquet;

use std::sync::Arc;

use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, FixedSizeListArray, PrimitiveArray, RecordBatch,
};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use dbn::{FIXED_PRICE_SCALE, UNDEF_PRICE, UNDEF_TIMESTAMP};

use crate::error::{Error, Result};

/// The element type of a column (the numpy dtypes the captures produce).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U8,
    U16,
    U32,
    U64,
    I64,
    F64,
}

impl Kind {
    pub fn size(self) -> usize {
        match self {
            Kind::U8 => 1,
            Kind::U16 => 2,
            Kind::U32 => 4,
            Kind::U64 | Kind::I64 | Kind::F64 => 8,
        }
    }

    /// The numpy type string (`"<u8"` ...), little-endian.
    pub fn numpy(self) -> &'static str {
        match self {
            Kind::U8 => "|u1",
            Kind::U16 => "<u2",
            Kind::U32 => "<u4",
            Kind::U64 => "<u8",
            Kind::I64 => "<i8",
            Kind::F64 => "<f8",
        }
    }

    /// The kind of a numpy type string as `numpy.dtype.str` gives it; `None` for any other.
    pub fn from_numpy(dtype: &str) -> Option<Kind> {
        Some(match dtype {
            "|u1" => Kind::U8,
            "<u2" => Kind::U16,
            "<u4" => Kind::U32,
            "<u8" => Kind::U64,
            "<i8" => Kind::I64,
            "<f8" => Kind::F64,
            _ => return None,
        })
    }

    fn arrow(self) -> DataType {
        match self {
            Kind::U8 => DataType::UInt8,
            Kind::U16 => DataType::UInt16,
            Kind::U32 => DataType::UInt32,
            Kind::U64 => DataType::UInt64,
            Kind::I64 => DataType::Int64,
            Kind::F64 => DataType::Float64,
        }
    }
}

/// A Rust type a column can hold.
pub trait Native: ArrowNativeType {
    const KIND: Kind;
}

macro_rules! native {
    ($($t:ty => $kind:ident),*) => {$(impl Native for $t { const KIND: Kind = Kind::$kind; })*};
}
native!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, i64 => I64, f64 => F64);

/// One named column: `rows` values, or `rows x width` values row-major (depth's levels).
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// `Some(n)`: each row holds `n` values (a fixed-size list; numpy shape `(rows, n)`).
    pub width: Option<usize>,
    pub values: Buffer,
}

impl Column {
    /// A column taking over `values` (no copy).
    pub fn new<T: Native>(name: impl Into<String>, values: Vec<T>) -> Self {
        Column {
            name: name.into(),
            kind: T::KIND,
            width: None,
            values: Buffer::from_vec(values),
        }
    }

    /// A column of `width` values a row, row-major (no copy).
    pub fn levels<T: Native>(name: impl Into<String>, values: Vec<T>, width: usize) -> Self {
        Column {
            width: Some(width),
            ..Column::new(name, values)
        }
    }

    pub fn rows(&self) -> usize {
        let per_row = self.kind.size() * self.width.unwrap_or(1);
        self.values.len() / per_row.max(1)
    }

    /// The values as a typed slice.
    ///
    /// # Panics
    /// When `T` is not the column's kind.
    pub fn typed<T: Native>(&self) -> &[T] {
        assert_eq!(
            T::KIND,
            self.kind,
            "column {} read as another type",
            self.name
        );
        self.values.typed_data::<T>()
    }

    /// The values taken back as a `Vec` (no copy when this column is their only owner and they
    /// came from a `Vec`, a copy otherwise).
    pub fn into_vec<T: Native>(self) -> Vec<T> {
        assert_eq!(
            T::KIND,
            self.kind,
            "column {} read as another type",
            self.name
        );
        self.values
            .into_vec::<T>()
            .unwrap_or_else(|shared| shared.typed_data::<T>().to_vec())
    }
}

/// Named columns of equal length: one capture's output, or one batch of it.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub columns: Vec<Column>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::rows)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Arrow schema of this table's columns under `options`.
    pub fn schema(&self, options: ArrowOptions) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| arrow_field(&c.name, c.kind, c.width, options))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The columns as an Arrow record batch: values shared with this table where the type is
    /// unchanged (integers, nulls marked in a validity bitmap), converted where asked.
    pub fn to_record_batch(&self, options: ArrowOptions) -> Result<RecordBatch> {
        let rows = self.rows();
        let mut arrays = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            if column.rows() != rows {
                return Err(Error::bad_argument(format!(
                    "column {} has {} rows, the table {rows}",
                    column.name,
                    column.rows()
                )));
            }
            arrays.push(arrow_array(column, options)?);
        }
        RecordBatch::try_new(self.schema(options), arrays)
            .map_err(|err| Error::bad_argument(format!("cannot build an Arrow batch: {err}")))
    }
}

/// How prices are typed in Arrow (Databento's `price_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PriceType {
    /// int64 in 1e-9 units, exact.
    #[default]
    Fixed,
    /// float64: the fixed value / 1e9.
    Float,
    /// decimal128(19, 9): exact.
    Decimal,
}

impl PriceType {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "fixed" => Ok(PriceType::Fixed),
            "float" => Ok(PriceType::Float),
            "decimal" => Ok(PriceType::Decimal),
            other => Err(Error::bad_argument(format!(
                "price_type must be \"fixed\", \"float\" or \"decimal\", not {other:?}"
            ))),
        }
    }
}

/// How a table's columns are typed in Arrow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArrowOptions {
    pub price_type: PriceType,
    /// Time columns as timestamp[ns, UTC] instead of uint64 nanoseconds.
    pub pretty_ts: bool,
}

/// What a column holds, from its name (the captures' and Databento's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// 1e-9 fixed-point prices; `UNDEF_PRICE` marks no price (an empty side).
    Price,
    /// Nanoseconds since the epoch; `UNDEF_TIMESTAMP` marks no time.
    Time,
    Plain,
}

impl Role {
    pub fn of(name: &str) -> Role {
        if name == "price" || name.ends_with("_px") || name.contains("_px_") {
            Role::Price
        } else if name.starts_with("ts_") {
            Role::Time
        } else {
            Role::Plain
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Price => "price",
            Role::Time => "time",
            Role::Plain => "plain",
        }
    }
}

/// Decimal prices: 19 digits hold every int64, 9 of them after the point.
const DECIMAL_PRECISION: u8 = 19;
const DECIMAL_SCALE: i8 = 9;

/// The Arrow field of a column.
pub fn arrow_field(name: &str, kind: Kind, width: Option<usize>, options: ArrowOptions) -> Field {
    let (data_type, nullable) = value_type(name, kind, options);
    match width {
        None => Field::new(name, data_type, nullable),
        Some(width) => Field::new(
            name,
            DataType::FixedSizeList(
                Arc::new(Field::new("item", data_type, nullable)),
                width as i32,
            ),
            false,
        ),
    }
}

/// The Arrow type of one value of a column, and whether it may be null.
fn value_type(name: &str, kind: Kind, options: ArrowOptions) -> (DataType, bool) {
    match (Role::of(name), kind) {
        (Role::Price, Kind::I64) => match options.price_type {
            PriceType::Fixed => (DataType::Int64, true),
            PriceType::Float => (DataType::Float64, true),
            PriceType::Decimal => (DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE), true),
        },
        (Role::Time, Kind::U64) if options.pretty_ts => (
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        _ => (kind.arrow(), false),
    }
}

/// A column as an Arrow array (see the module's header for the types).
pub fn arrow_array(column: &Column, options: ArrowOptions) -> Result<ArrayRef> {
    let width = column.width.unwrap_or(1);
    let values = column.rows() * width;
    let Column {
        name,
        kind,
        values: buffer,
        ..
    } = column;
    let flat: ArrayRef = match (Role::of(name), *kind) {
        (Role::Price, Kind::I64) => {
            let px = ScalarBuffer::<i64>::new(buffer.clone(), 0, values);
            let nulls = nulls_where(&px, UNDEF_PRICE);
            match options.price_type {
                PriceType::Fixed => Arc::new(PrimitiveArray::<Int64Type>::new(px, nulls)),
                PriceType::Float => {
                    let scale = FIXED_PRICE_SCALE as f64;
                    let floats: ScalarBuffer<f64> = px.iter().map(|&p| p as f64 / scale).collect();
                    Arc::new(PrimitiveArray::<Float64Type>::new(floats, nulls))
                }
                PriceType::Decimal => {
                    let wide: ScalarBuffer<i128> = px.iter().map(|&p| i128::from(p)).collect();
                    Arc::new(
                        Decimal128Array::new(wide, nulls)
                            .with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)
                            .map_err(|err| Error::bad_argument(err.to_string()))?,
                    )
                }
            }
        }
        (Role::Time, Kind::U64) if options.pretty_ts => {
            let ts = ScalarBuffer::<i64>::new(buffer.clone(), 0, values);
            let nulls = nulls_where(&ts, UNDEF_TIMESTAMP as i64);
            Arc::new(PrimitiveArray::<TimestampNanosecondType>::new(ts, nulls).with_timezone("UTC"))
        }
        (_, kind) => plain_array(kind, buffer, values),
    };
    match column.width {
        None => Ok(flat),
        Some(width) => {
            let (item_type, nullable) = value_type(name, *kind, options);
            debug_assert_eq!(&item_type, flat.data_type());
            let item = Arc::new(Field::new("item", item_type, nullable));
            let list = FixedSizeListArray::try_new(item, width as i32, flat, None)
                .map_err(|err| Error::bad_argument(format!("column {name}: {err}")))?;
            Ok(Arc::new(list))
        }
    }
}

fn plain_array(kind: Kind, buffer: &Buffer, values: usize) -> ArrayRef {
    fn typed<T: arrow_array::ArrowPrimitiveType>(buffer: &Buffer, values: usize) -> ArrayRef {
        Arc::new(PrimitiveArray::<T>::new(
            ScalarBuffer::new(buffer.clone(), 0, values),
            None,
        ))
    }
    use arrow_array::types::*;
    match kind {
        Kind::U8 => typed::<UInt8Type>(buffer, values),
        Kind::U16 => typed::<UInt16Type>(buffer, values),
        Kind::U32 => typed::<UInt32Type>(buffer, values),
        Kind::U64 => typed::<UInt64Type>(buffer, values),
        Kind::I64 => typed::<Int64Type>(buffer, values),
        Kind::F64 => typed::<Float64Type>(buffer, values),
    }
}

/// A validity bitmap that is false where a value is `missing`; `None` when nothing is missing.
fn nulls_where(values: &[i64], missing: i64) -> Option<NullBuffer> {
    if !values.contains(&missing) {
        return None;
    }
    let valid = BooleanBuffer::collect_bool(values.len(), |i| values[i] != missing);
    Some(NullBuffer::new(valid))
}

/// The rows `[offset, offset + len)` of every column (shared, no copy).
pub fn slice(table: &Table, offset: usize, len: usize) -> Table {
    let columns = table
        .columns
        .iter()
        .map(|c| {
            let per_row = c.kind.size() * c.width.unwrap_or(1);
            Column {
                values: c.values.slice_with_length(offset * per_row, len * per_row),
                ..c.clone()
            }
        })
        .collect();
    Table { columns }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;

    fn table() -> Table {
        Table {
            columns: vec![
                Column::new("index", vec![0u64, 1, 2]),
                Column::new("ts_recv", vec![1u64, UNDEF_TIMESTAMP, 3]),
                Column::new("bid_px", vec![65_430_000_000i64, UNDEF_PRICE, -500_000_000]),
                Column::new("bid_sz", vec![1u32, 0, 7]),
                Column::levels("ask_px", vec![1i64, 2, UNDEF_PRICE, 4, 5, 6], 2),
            ],
        }
    }

    #[test]
    fn roles_follow_the_names() {
        for (name, role) in [
            ("price", Role::Price),
            ("bid_px", Role::Price),
            ("ask_px_03", Role::Price),
            ("ts_recv", Role::Time),
            ("ts_event", Role::Time),
            ("index", Role::Plain),
            ("bid_sz", Role::Plain),
            ("px", Role::Plain),
        ] {
            assert_eq!(Role::of(name), role, "{name}");
        }
    }

    #[test]
    fn fixed_prices_share_the_values_and_null_empty_sides() {
        let table = table();
        let batch = table.to_record_batch(ArrowOptions::default()).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let bid = batch.column(2).as_primitive::<Int64Type>();
        assert_eq!(bid.null_count(), 1);
        assert!(bid.is_null(1));
        assert_eq!(bid.value(0), 65_430_000_000);
        // no copy: the array's values are the column's buffer
        assert_eq!(
            bid.values().inner().as_ptr(),
            table.columns[2].values.as_ptr()
        );
        let ts = batch.column(1);
        assert_eq!(ts.data_type(), &DataType::UInt64);
        assert_eq!(ts.null_count(), 0);
        let asks = batch.column(4).as_fixed_size_list();
        assert_eq!(asks.value_length(), 2);
        assert!(asks.values().is_null(2));
    }

    #[test]
    fn float_decimal_and_pretty_timestamps() {
        let table = table();
        let options = ArrowOptions {
            price_type: PriceType::Float,
            pretty_ts: true,
        };
        let batch = table.to_record_batch(options).unwrap();
        let bid = batch.column(2).as_primitive::<Float64Type>();
        assert_eq!(bid.value(0), 65.43);
        assert_eq!(bid.value(2), -0.5);
        assert!(bid.is_null(1));
        let ts = batch.column(1).as_primitive::<TimestampNanosecondType>();
        assert!(ts.is_null(1));
        assert_eq!(ts.value(2), 3);
        let options = ArrowOptions {
            price_type: PriceType::Decimal,
            pretty_ts: false,
        };
        let batch = table.to_record_batch(options).unwrap();
        let bid = batch
            .column(2)
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(bid.value_as_string(0), "65.430000000");
        assert!(bid.is_null(1));
        assert_eq!(batch.schema(), table.schema(options));
    }

    #[test]
    fn slices_and_vectors_round_trip() {
        let table = table();
        let part = slice(&table, 1, 2);
        assert_eq!(part.rows(), 2);
        assert_eq!(part.columns[4].typed::<i64>(), &[UNDEF_PRICE, 4, 5, 6]);
        drop(part);
        let index = table.columns[0].clone();
        let ptr = index.values.as_ptr();
        drop(table);
        let back = index.into_vec::<u64>();
        assert_eq!(back, vec![0, 1, 2]);
        assert_eq!(back.as_ptr().cast::<u8>(), ptr, "taken back without a copy");
    }

    #[test]
    fn ragged_tables_are_refused() {
        let mut table = table();
        table.columns.push(Column::new("flags", vec![1u8]));
        assert!(matches!(
            table.to_record_batch(ArrowOptions::default()),
            Err(Error::BadArgument { .. })
        ));
    }
}
