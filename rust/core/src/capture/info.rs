//! What a stream holds: metadata, counts by action and flag, time range, books and symbols.

use std::collections::BTreeMap;

use dbn::{flags, Metadata};

use crate::book::market::{BookKey, Market};
use crate::dbn::{MboStream, Source};
use crate::error::Result;

#[derive(Debug)]
pub struct Info {
    pub metadata: Metadata,
    pub records: u64,
    /// Non-MBO records passed over (system messages, symbol mappings).
    pub skipped: u64,
    pub by_action: BTreeMap<char, u64>,
    pub f_last: u64,
    /// Records flagged F_SNAPSHOT.
    pub snapshot_records: u64,
    pub crossed_boundaries: u64,
    pub ts_recv_range: Option<(u64, u64)>,
    pub ts_event_range: Option<(u64, u64)>,
    /// Records per book.
    pub books: BTreeMap<BookKey, u64>,
    /// instrument_id -> raw symbol, from the metadata's symbology mappings.
    pub symbols: BTreeMap<u32, String>,
    /// The market at the end of the stream.
    pub market: Market,
}

pub fn info(source: Source<'_>) -> Result<Info> {
    let mut stream = MboStream::open(source)?;
    let mut market = Market::new();
    let mut by_action: BTreeMap<char, u64> = BTreeMap::new();
    let mut counts = [0u64; 256];
    let (mut f_last, mut snapshot_records, mut crossed) = (0, 0, 0);
    let mut ts_recv_range: Option<(u64, u64)> = None;
    let mut ts_event_range: Option<(u64, u64)> = None;
    let mut books: BTreeMap<BookKey, u64> = BTreeMap::new();
    while let Some((_, msg)) = stream.next_mbo()? {
        counts[msg.action as u8 as usize] += 1;
        let bits = msg.flags.raw();
        snapshot_records += u64::from(bits & flags::SNAPSHOT != 0);
        widen(&mut ts_recv_range, msg.ts_recv);
        widen(&mut ts_event_range, msg.hd.ts_event);
        *books
            .entry((msg.hd.instrument_id, msg.hd.publisher_id))
            .or_default() += 1;
        let slot = market.apply(&msg);
        if bits & flags::LAST != 0 {
            f_last += 1;
            crossed += u64::from(market.book_at(slot).crossed());
        }
    }
    for (byte, &count) in counts.iter().enumerate() {
        if count > 0 {
            by_action.insert(char::from(byte as u8), count);
        }
    }
    let metadata = stream.metadata().clone();
    let symbols = symbols_of(&metadata);
    Ok(Info {
        records: stream.records_read(),
        skipped: stream.skipped(),
        metadata,
        by_action,
        f_last,
        snapshot_records,
        crossed_boundaries: crossed,
        ts_recv_range,
        ts_event_range,
        books,
        symbols,
        market,
    })
}

fn widen(range: &mut Option<(u64, u64)>, ts: u64) {
    *range = Some(match *range {
        Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
        None => (ts, ts),
    });
}

/// instrument_id -> raw symbol. With `stype_out = instrument_id`, each mapping interval's
/// `symbol` is the instrument id as text.
pub fn symbols_of(metadata: &Metadata) -> BTreeMap<u32, String> {
    let mut symbols = BTreeMap::new();
    for mapping in &metadata.mappings {
        for interval in &mapping.intervals {
            if let Ok(id) = interval.symbol.parse::<u32>() {
                symbols.insert(id, mapping.raw_symbol.clone());
            }
        }
    }
    symbols
}
