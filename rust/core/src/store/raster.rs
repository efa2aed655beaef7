//! Heatmap rasters over a [`Recording`]: one book's resting size on a grid of time buckets ×
//! price rows, its best bid and ask at the end of each bucket, and its trades per bucket, price
//! and aggressor: what the web UI's heatmap draws (`GET /api/v1/heatmap`). Derived from the
//! blocks on demand, like the pages of [`super::query`]: the book at the start of the range (the
//! newest checkpoint before it, then its records), then one pass over the range.
//!
//! Time: bucket `b` of `buckets` covers `(start + b·w, start + (b+1)·w]` with `w = (end -
//! start) / buckets` (exact integer bounds, `start + (end - start)·(b+1) / buckets`), and holds
//! the state after every record whose `ts_recv` (as a running maximum, as
//! [`Recording::position_at_ts`] counts) is at most its end. Price: row `r` holds the levels
//! priced `price_lo + r·price_step` up to the next row, both sides summed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use dbn::{MboMsg, UNDEF_PRICE};

use super::recording::{market_at, Recording};
use crate::book::market::{BookKey, Market};
use crate::book::Side;
use crate::error::{Error, Result};

/// The most cells (`buckets × rows`) one raster may hold.
pub const MAX_CELLS: usize = 4 << 20;

/// What a raster covers.
#[derive(Clone, Copy, Debug)]
pub struct RasterQuery {
    pub key: BookKey,
    /// ns: the state after every record with ts_recv <= start opens the range.
    pub start: u64,
    /// ns: the last bucket ends here.
    pub end: u64,
    pub buckets: usize,
    pub price_lo: i64,
    pub price_step: i64,
    /// Price rows (0: no size grid, only the best prices and the trades).
    pub rows: usize,
    /// The most trade cells kept; past it `Raster::truncated` is set and the rest dropped.
    pub max_trades: usize,
}

/// The trades of one bucket at one price by one aggressor (`side`: `B`, `A` or `N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeCell {
    pub bucket: u32,
    pub price: i64,
    pub side: u8,
    pub size: u64,
    pub count: u32,
}

/// A raster: `sizes[b * rows + r]`, the best prices per bucket (`UNDEF_PRICE`: that side is
/// empty), the trade cells in bucket order (then price, then side).
#[derive(Clone, Debug, Default)]
pub struct Raster {
    pub buckets: usize,
    pub rows: usize,
    pub sizes: Vec<u32>,
    pub bid: Vec<i64>,
    pub ask: Vec<i64>,
    pub trades: Vec<TradeCell>,
    /// The largest cell.
    pub max_size: u32,
    /// Records of the book applied over the range.
    pub records: u64,
    /// The records the range reads: `[position_start, position_end)`.
    pub position_start: usize,
    pub position_end: usize,
    pub truncated: bool,
}

impl Raster {
    /// The arrays as little-endian bytes, in this order (every array starts 8-byte aligned when
    /// the first does): bid `i64[buckets]`, ask `i64[buckets]`, trade price `i64[n]`, sizes
    /// `u32[buckets × rows]`, trade bucket `u32[n]`, trade size `u32[n]` (saturating), trade
    /// count `u32[n]`, trade side `u8[n]` (ASCII).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let n = self.trades.len();
        let mut out = Vec::with_capacity(16 * self.buckets + 4 * self.sizes.len() + 21 * n);
        for px in self.bid.iter().chain(&self.ask) {
            out.extend_from_slice(&px.to_le_bytes());
        }
        for t in &self.trades {
            out.extend_from_slice(&t.price.to_le_bytes());
        }
        for s in &self.sizes {
            out.extend_from_slice(&s.to_le_bytes());
        }
        for t in &self.trades {
            out.extend_from_slice(&t.bucket.to_le_bytes());
        }
        for t in &self.trades {
            let size = u32::try_from(t.size).unwrap_or(u32::MAX);
            out.extend_from_slice(&size.to_le_bytes());
        }
        for t in &self.trades {
            out.extend_from_slice(&t.count.to_le_bytes());
        }
        out.extend(self.trades.iter().map(|t| t.side));
        out
    }
}

fn check(q: &RasterQuery) -> Result<()> {
    if q.buckets == 0 {
        return Err(Error::bad_argument("a raster needs at least one bucket"));
    }
    if q.end <= q.start {
        return Err(Error::bad_argument(
            "a raster's end must be after its start",
        ));
    }
    if q.rows > 0 && q.price_step <= 0 {
        return Err(Error::bad_argument("price_step must be positive"));
    }
    if q.buckets.saturating_mul(q.rows.max(1)) > MAX_CELLS {
        return Err(Error::bad_argument(format!(
            "buckets × rows must be at most {MAX_CELLS}"
        )));
    }
    let top = (q.rows as i128) * (q.price_step as i128) + q.price_lo as i128;
    if top > i64::MAX as i128 {
        return Err(Error::bad_argument(
            "the price rows run past the largest price",
        ));
    }
    Ok(())
}

/// Sizes of the book's levels in the rows of one bucket (`row`, zeroed by the caller).
fn sample(book: &crate::book::Book, q: &RasterQuery, row: &mut [u32]) {
    let lo = q.price_lo;
    let hi = (q.price_lo as i128 + q.rows as i128 * q.price_step as i128) as i64; // exclusive
    let mut add = |price: i64, size: u64| {
        let r = ((price - lo) / q.price_step) as usize;
        let cell = &mut row[r];
        *cell = cell.saturating_add(u32::try_from(size).unwrap_or(u32::MAX));
    };
    for level in book.levels(Side::Bid) {
        if level.price >= hi {
            continue;
        }
        if level.price < lo {
            break;
        }
        add(level.price, level.size);
    }
    for level in book.levels(Side::Ask) {
        if level.price < lo {
            continue;
        }
        if level.price >= hi {
            break;
        }
        add(level.price, level.size);
    }
}

/// Blocks at least this many in a range are decoded by two threads.
const PARALLEL_BLOCKS: usize = 8;

/// The raster of `q` over `recording`. Decoding the blocks is most of the work when they are not
/// cached: a helper thread decodes the range's blocks from its end backwards into the shared
/// cache while this one reads from its start, until they meet.
pub fn raster(recording: &Recording, q: &RasterQuery) -> Result<Raster> {
    check(q)?;
    let from = recording.position_at_ts(q.start)?;
    let to = recording.position_at_ts(q.end)?;
    let blocks = match (
        recording.block_of(from),
        to.checked_sub(1).and_then(|l| recording.block_of(l)),
    ) {
        (Some((first, _)), Some((last, _))) if last + 1 >= first + PARALLEL_BLOCKS => {
            Some((first, last))
        }
        _ => None,
    };
    let Some((first, last)) = blocks else {
        return sample_range(recording, q, from, to, &AtomicUsize::new(0));
    };
    let reading = AtomicUsize::new(first);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in (first..=last).rev() {
                if n <= reading.load(Ordering::Relaxed) + 1 {
                    break;
                }
                if recording.block(n).is_err() {
                    break; // the reading pass meets the same error and reports it
                }
            }
        });
        sample_range(recording, q, from, to, &reading)
    })
}

fn sample_range(
    recording: &Recording,
    q: &RasterQuery,
    from: usize,
    to: usize,
    reading: &AtomicUsize,
) -> Result<Raster> {
    let mut market = market_at(recording, from, Some(q.key))?;
    let mut out = Raster {
        buckets: q.buckets,
        rows: q.rows,
        sizes: vec![0; q.buckets * q.rows],
        bid: vec![UNDEF_PRICE; q.buckets],
        ask: vec![UNDEF_PRICE; q.buckets],
        position_start: from,
        position_end: to,
        ..Raster::default()
    };
    let span = (q.end - q.start) as u128;
    let bucket_end = |b: usize| q.start + (span * (b as u128 + 1) / q.buckets as u128) as u64;
    let mut b = 0usize;
    let mut next_end = bucket_end(0);
    let mut running = recording.ts_max_before(from)?;
    // trades of the current bucket, by (price, side)
    let mut pending: BTreeMap<(i64, u8), (u64, u32)> = BTreeMap::new();
    let mut sampled: Option<usize> = None; // the last bucket sampled from the book
    let mut dirty = true;

    let close_bucket = |b: usize,
                        market: &Market,
                        dirty: &mut bool,
                        sampled: &mut Option<usize>,
                        pending: &mut BTreeMap<(i64, u8), (u64, u32)>,
                        out: &mut Raster| {
        let rows = q.rows;
        match (*dirty, *sampled) {
            (false, Some(prev)) => {
                // nothing changed since the last sample: the same column
                out.sizes
                    .copy_within(prev * rows..(prev + 1) * rows, b * rows);
                out.bid[b] = out.bid[prev];
                out.ask[b] = out.ask[prev];
            }
            _ => {
                if let Some(book) = market.book(q.key.0, q.key.1) {
                    if rows > 0 {
                        sample(book, q, &mut out.sizes[b * rows..(b + 1) * rows]);
                    }
                    out.bid[b] = book.top(Side::Bid).price;
                    out.ask[b] = book.top(Side::Ask).price;
                }
                *dirty = false;
            }
        }
        *sampled = Some(b);
        for ((price, side), (size, count)) in std::mem::take(pending) {
            if out.trades.len() >= q.max_trades {
                out.truncated = true;
                break;
            }
            out.trades.push(TradeCell {
                bucket: b as u32,
                price,
                side,
                size,
                count,
            });
        }
    };

    let mut block_end = 0usize;
    recording.for_each(from, to, |i, msg: &MboMsg| {
        if i >= block_end {
            if let Some((n, meta)) = recording.block_of(i) {
                reading.store(n, Ordering::Relaxed);
                block_end = meta.end() as usize;
            }
        }
        running = running.max(msg.ts_recv);
        while running > next_end && b + 1 < q.buckets {
            close_bucket(b, &market, &mut dirty, &mut sampled, &mut pending, &mut out);
            b += 1;
            next_end = bucket_end(b);
        }
        if (msg.hd.instrument_id, msg.hd.publisher_id) != q.key {
            return true;
        }
        market.apply(msg);
        out.records += 1;
        dirty = true;
        if msg.action as u8 == b'T' && msg.price != UNDEF_PRICE {
            let side = match msg.side as u8 {
                s @ (b'A' | b'B') => s,
                _ => b'N',
            };
            let cell = pending.entry((msg.price, side)).or_insert((0, 0));
            cell.0 += u64::from(msg.size);
            cell.1 += 1;
        }
        true
    })?;
    while b < q.buckets {
        close_bucket(b, &market, &mut dirty, &mut sampled, &mut pending, &mut out);
        b += 1;
    }
    out.max_size = out.sizes.iter().copied().max().unwrap_or(0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbn::Source;
    use crate::store::Layout;

    fn session() -> Vec<u8> {
        let config = crate::synth::session::SessionConfig {
            seed: 3,
            records: 40_000,
            instruments: 2,
            ..Default::default()
        };
        crate::synth::session::simulate_dbn_bytes(&config, false).unwrap()
    }

    fn records(bytes: &[u8]) -> Vec<MboMsg> {
        let mut stream = crate::dbn::MboStream::open(Source::Bytes(bytes)).unwrap();
        let mut out = Vec::new();
        while let Some((_, msg)) = stream.next_mbo().unwrap() {
            out.push(msg);
        }
        out
    }

    /// The same raster from a plain pass over every record: the book at each bucket's end.
    fn brute(all: &[MboMsg], q: &RasterQuery) -> Raster {
        let mut market = Market::new();
        let span = (q.end - q.start) as u128;
        let ends: Vec<u64> = (0..q.buckets)
            .map(|b| q.start + (span * (b as u128 + 1) / q.buckets as u128) as u64)
            .collect();
        let mut out = Raster {
            sizes: vec![0; q.buckets * q.rows],
            bid: vec![UNDEF_PRICE; q.buckets],
            ask: vec![UNDEF_PRICE; q.buckets],
            ..Raster::default()
        };
        let mut running = 0u64;
        let mut i = 0;
        let mut trades: BTreeMap<(u32, i64, u8), (u64, u32)> = BTreeMap::new();
        for (b, &end) in ends.iter().enumerate() {
            while i < all.len() && running.max(all[i].ts_recv) <= end {
                let msg = &all[i];
                running = running.max(msg.ts_recv);
                if (msg.hd.instrument_id, msg.hd.publisher_id) == q.key {
                    market.apply(msg);
                    if running > q.start && msg.action as u8 == b'T' {
                        let e = trades
                            .entry((b as u32, msg.price, msg.side as u8))
                            .or_insert((0, 0));
                        e.0 += u64::from(msg.size);
                        e.1 += 1;
                    }
                }
                i += 1;
            }
            if let Some(book) = market.book(q.key.0, q.key.1) {
                for side in [Side::Bid, Side::Ask] {
                    for level in book.levels(side) {
                        let off = level.price - q.price_lo;
                        if off >= 0 && off < q.rows as i64 * q.price_step {
                            let r = (off / q.price_step) as usize;
                            out.sizes[b * q.rows + r] += level.size as u32;
                        }
                    }
                }
                out.bid[b] = book.top(Side::Bid).price;
                out.ask[b] = book.top(Side::Ask).price;
            }
        }
        out.trades = trades
            .into_iter()
            .map(|((bucket, price, side), (size, count))| TradeCell {
                bucket,
                price,
                side,
                size,
                count,
            })
            .collect();
        out
    }

    #[test]
    fn rasters_equal_a_plain_pass() {
        let bytes = session();
        let all = records(&bytes);
        let rec = Recording::open(Source::Bytes(&bytes), Layout::new(512, 2048).unwrap()).unwrap();
        let t0 = all[0].ts_recv;
        let t1 = all.iter().map(|m| m.ts_recv).max().unwrap();
        let mid_px = all[all.len() / 2].price;
        for (start, end, buckets, step, rows) in [
            (t0 - 1, t1, 97, 10_000_000, 60),
            (t0 + (t1 - t0) / 3, t0 + (t1 - t0) / 2, 250, 10_000_000, 200),
            (t0 + (t1 - t0) / 2, t1 + 5, 31, 30_000_000, 17),
            (
                t0 + (t1 - t0) / 2,
                t0 + (t1 - t0) / 2 + 1,
                1,
                10_000_000,
                40,
            ),
        ] {
            let q = RasterQuery {
                key: (1, 1),
                start,
                end,
                buckets,
                price_lo: mid_px - step * rows as i64 / 2,
                price_step: step,
                rows,
                max_trades: 1_000_000,
            };
            let got = raster(&rec, &q).unwrap();
            let want = brute(&all, &q);
            assert_eq!(got.bid, want.bid, "{start} {end}");
            assert_eq!(got.ask, want.ask);
            assert_eq!(got.sizes, want.sizes);
            assert_eq!(got.trades, want.trades);
            assert!(got.sizes.iter().any(|&s| s > 0));
            if buckets == 97 {
                assert!(
                    got.trades.len() > 10 && got.records > 1000,
                    "{}",
                    got.trades.len()
                );
            }
            let bytes = got.to_le_bytes();
            let n = got.trades.len();
            assert_eq!(
                bytes.len(),
                16 * buckets + 4 * buckets * rows + 8 * n + 12 * n + n
            );
        }
    }

    #[test]
    fn bad_queries_are_refused_and_trades_bounded() {
        let bytes = session();
        let rec = Recording::open(Source::Bytes(&bytes), Layout::new(512, 2048).unwrap()).unwrap();
        let q = RasterQuery {
            key: (1, 1),
            start: 0,
            end: u64::MAX,
            buckets: 3,
            price_lo: 0,
            price_step: 10_000_000,
            rows: 0,
            max_trades: 2,
        };
        let r = raster(&rec, &q).unwrap();
        assert!(r.truncated && r.trades.len() == 2 && r.sizes.is_empty());
        for bad in [
            RasterQuery { buckets: 0, ..q },
            RasterQuery { end: 0, ..q },
            RasterQuery {
                rows: 5,
                price_step: 0,
                ..q
            },
            RasterQuery {
                rows: 5,
                price_lo: i64::MAX - 1,
                ..q
            },
            RasterQuery {
                buckets: MAX_CELLS,
                rows: 2,
                ..q
            },
        ] {
            assert!(raster(&rec, &bad).is_err(), "{bad:?}");
        }
    }
}
