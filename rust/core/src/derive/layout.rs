//! Each derived record's fields as numpy dtype fields `(name, format, offset)`, little-endian,
//! taken from the `dbn` record types themselves: `numpy.dtype({"names", "formats", "offsets",
//! "itemsize"})` views a buffer of records without copying. Level fields are numbered like
//! Databento's columns (`bid_px_00`, ...).

use std::mem::{offset_of, size_of};

use dbn::{BboMsg, BidAskPair, CbboMsg, Cmbp1Msg, ConsolidatedBidAskPair, Mbp10Msg, Mbp1Msg};

use super::DerivedSchema;

pub type Field = (String, &'static str, usize);

fn header(fields: &mut Vec<Field>, hd: usize) {
    fields.push(("length".into(), "u1", hd));
    fields.push(("rtype".into(), "u1", hd + 1));
    fields.push(("publisher_id".into(), "<u2", hd + 2));
    fields.push(("instrument_id".into(), "<u4", hd + 4));
    fields.push(("ts_event".into(), "<u8", hd + 8));
}

fn levels(fields: &mut Vec<Field>, at: usize, count: usize) {
    for i in 0..count {
        let base = at + i * size_of::<BidAskPair>();
        for (name, format, offset) in [
            ("bid_px", "<i8", offset_of!(BidAskPair, bid_px)),
            ("ask_px", "<i8", offset_of!(BidAskPair, ask_px)),
            ("bid_sz", "<u4", offset_of!(BidAskPair, bid_sz)),
            ("ask_sz", "<u4", offset_of!(BidAskPair, ask_sz)),
            ("bid_ct", "<u4", offset_of!(BidAskPair, bid_ct)),
            ("ask_ct", "<u4", offset_of!(BidAskPair, ask_ct)),
        ] {
            fields.push((format!("{name}_{i:02}"), format, base + offset));
        }
    }
}

fn consolidated_level(fields: &mut Vec<Field>, at: usize) {
    for (name, format, offset) in [
        ("bid_px", "<i8", offset_of!(ConsolidatedBidAskPair, bid_px)),
        ("ask_px", "<i8", offset_of!(ConsolidatedBidAskPair, ask_px)),
        ("bid_sz", "<u4", offset_of!(ConsolidatedBidAskPair, bid_sz)),
        ("ask_sz", "<u4", offset_of!(ConsolidatedBidAskPair, ask_sz)),
        ("bid_pb", "<u2", offset_of!(ConsolidatedBidAskPair, bid_pb)),
        ("ask_pb", "<u2", offset_of!(ConsolidatedBidAskPair, ask_pb)),
    ] {
        fields.push((format!("{name}_00"), format, at + offset));
    }
}

macro_rules! mbp_fields {
    ($msg:ty, $fields:ident) => {{
        header(&mut $fields, offset_of!($msg, hd));
        $fields.push(("price".into(), "<i8", offset_of!($msg, price)));
        $fields.push(("size".into(), "<u4", offset_of!($msg, size)));
        $fields.push(("action".into(), "u1", offset_of!($msg, action)));
        $fields.push(("side".into(), "u1", offset_of!($msg, side)));
        $fields.push(("flags".into(), "u1", offset_of!($msg, flags)));
        $fields.push(("depth".into(), "u1", offset_of!($msg, depth)));
        $fields.push(("ts_recv".into(), "<u8", offset_of!($msg, ts_recv)));
        $fields.push(("ts_in_delta".into(), "<i4", offset_of!($msg, ts_in_delta)));
        $fields.push(("sequence".into(), "<u4", offset_of!($msg, sequence)));
    }};
}

/// The fields of `schema`'s records and the record size.
pub fn record_fields(schema: DerivedSchema) -> (Vec<Field>, usize) {
    use DerivedSchema as S;
    let mut fields = Vec::new();
    let size = match schema {
        S::Mbp10 => {
            mbp_fields!(Mbp10Msg, fields);
            levels(&mut fields, offset_of!(Mbp10Msg, levels), 10);
            size_of::<Mbp10Msg>()
        }
        S::Mbp1 | S::Tbbo => {
            mbp_fields!(Mbp1Msg, fields);
            levels(&mut fields, offset_of!(Mbp1Msg, levels), 1);
            size_of::<Mbp1Msg>()
        }
        S::Bbo1S | S::Bbo1M => {
            header(&mut fields, offset_of!(BboMsg, hd));
            fields.push(("price".into(), "<i8", offset_of!(BboMsg, price)));
            fields.push(("size".into(), "<u4", offset_of!(BboMsg, size)));
            fields.push(("side".into(), "u1", offset_of!(BboMsg, side)));
            fields.push(("flags".into(), "u1", offset_of!(BboMsg, flags)));
            fields.push(("ts_recv".into(), "<u8", offset_of!(BboMsg, ts_recv)));
            fields.push(("sequence".into(), "<u4", offset_of!(BboMsg, sequence)));
            levels(&mut fields, offset_of!(BboMsg, levels), 1);
            size_of::<BboMsg>()
        }
        S::Cmbp1 | S::Tcbbo => {
            header(&mut fields, offset_of!(Cmbp1Msg, hd));
            fields.push(("price".into(), "<i8", offset_of!(Cmbp1Msg, price)));
            fields.push(("size".into(), "<u4", offset_of!(Cmbp1Msg, size)));
            fields.push(("action".into(), "u1", offset_of!(Cmbp1Msg, action)));
            fields.push(("side".into(), "u1", offset_of!(Cmbp1Msg, side)));
            fields.push(("flags".into(), "u1", offset_of!(Cmbp1Msg, flags)));
            fields.push(("ts_recv".into(), "<u8", offset_of!(Cmbp1Msg, ts_recv)));
            fields.push((
                "ts_in_delta".into(),
                "<i4",
                offset_of!(Cmbp1Msg, ts_in_delta),
            ));
            consolidated_level(&mut fields, offset_of!(Cmbp1Msg, levels));
            size_of::<Cmbp1Msg>()
        }
        S::Cbbo1S | S::Cbbo1M => {
            header(&mut fields, offset_of!(CbboMsg, hd));
            fields.push(("price".into(), "<i8", offset_of!(CbboMsg, price)));
            fields.push(("size".into(), "<u4", offset_of!(CbboMsg, size)));
            fields.push(("side".into(), "u1", offset_of!(CbboMsg, side)));
            fields.push(("flags".into(), "u1", offset_of!(CbboMsg, flags)));
            fields.push(("ts_recv".into(), "<u8", offset_of!(CbboMsg, ts_recv)));
            consolidated_level(&mut fields, offset_of!(CbboMsg, levels));
            size_of::<CbboMsg>()
        }
    };
    (fields, size)
}
