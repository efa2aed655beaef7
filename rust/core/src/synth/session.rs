//! Synthetic market sessions: agent-style order flow into one [`MatchingEngine`] per instrument, written
//! as GLBX.MDP3-shaped MBO records. Deterministic per seed on every platform (the random numbers
//! of `rng.rs`).
//!
//! A session:
//! 1. **Pre-open** (CME's 15 minutes, from `start`): limit orders only, no matching. A share of
//!    them is placed through the other side, so the books cross. Cancels and modifies too.
//! 2. **Open** at `start + 15 min`: each engine runs its opening uncross ([`MatchingEngine::open`]),
//!    recorded as one `T` (side `N`) and the fills, then the `C`/`M`s.
//! 3. **Continuous trading**: per event, one instrument (uniformly) and one action:
//!    - add: a limit order at the touch or a few ticks behind it (geometric distance), or
//!      inside a wide spread; sizes from a heavy-ish tailed table (median 1, p99 about 10);
//!    - cancel: a resting order, chosen mostly among the most recent (which sit near the touch),
//!      else uniformly; the rate grows with the number of resting orders, which keeps the book
//!      at a steady depth;
//!    - modify: a size decrease (keeps its place), a size increase or a price move of 1-2 ticks
//!      (both lose their place), never to a crossing price;
//!    - marketable: IOC or market orders at the touch (mostly small), GTC orders whose remainder
//!      rests, and occasional sweeps through several levels.
//!
//!    Inter-arrival times are bursty: exponential with a short mean inside bursts, a long one
//!    between them.
//!
//! Records across instruments share one packet sequence and a non-decreasing `ts_recv`;
//! `ts_recv >= ts_event` always. The session stops at the first event boundary (F_LAST) at or
//! after `records` records.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use dbn::MboMsg;

use crate::book::Side;
use crate::dbn::writer::{DbnOptions, MboWriter};
use crate::error::{Error, Result};
use crate::synth::engine::{MatchingEngine, OrderKind, TimeInForce};
use crate::synth::rng::Rng;

/// 2025-09-24 21:45:00 UTC: CME's pre-open (the day of `CLX5_mbo.dbn`).
pub const DEFAULT_START: u64 = 1_758_750_300_000_000_000;
/// Length of the pre-open phase.
pub const PRE_OPEN_NS: u64 = 15 * 60 * 1_000_000_000;
/// 0.01 (CL's tick) in 1e-9 units.
pub const DEFAULT_TICK: i64 = 10_000_000;
/// 64.81 in 1e-9 units.
pub const DEFAULT_START_PRICE: i64 = 64_810_000_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub seed: u64,
    /// Target record count: the session ends at the first event boundary at or after it.
    pub records: u64,
    /// Instruments `1..=instruments`, symbols `SIM1`, `SIM2`, ...
    pub instruments: u32,
    /// Price increment in 1e-9 units (> 0).
    pub tick: i64,
    /// Every instrument's initial reference price (rounded down to the tick grid).
    pub start_price: i64,
    /// Session start, ns since the epoch: the pre-open begins here, the open is 15 min later.
    pub start: u64,
    pub publisher_id: u16,
    /// Events of the pre-open, all instruments together; None: `records / 40`, at least 20 and at
    /// most 10,000 per instrument.
    pub pre_open_events: Option<u64>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            seed: 1,
            records: 1_000_000,
            instruments: 1,
            tick: DEFAULT_TICK,
            start_price: DEFAULT_START_PRICE,
            start: DEFAULT_START,
            publisher_id: 1,
            pre_open_events: None,
        }
    }
}

impl SessionConfig {
    pub fn validate(&self) -> Result<()> {
        if self.records == 0 {
            return Err(Error::bad_argument("records must be >= 1, not 0"));
        }
        if self.instruments == 0 {
            return Err(Error::bad_argument("instruments must be >= 1, not 0"));
        }
        if self.tick <= 0 {
            return Err(Error::bad_argument(format!(
                "tick must be > 0, not {}",
                self.tick
            )));
        }
        if self.start_price <= 0 || self.start_price / self.tick < 1_000 {
            return Err(Error::bad_argument(format!(
                "start_price must be > 0 and at least 1000 ticks, not {} (tick {})",
                self.start_price, self.tick
            )));
        }
        if self.start_price > i64::MAX / 4 {
            return Err(Error::bad_argument(format!(
                "start_price {} is too large",
                self.start_price
            )));
        }
        if self.start > u64::MAX / 2 {
            return Err(Error::bad_argument(format!(
                "start {} is too large",
                self.start
            )));
        }
        Ok(())
    }

    /// `SIM1`, `SIM2`, ... for instruments 1, 2, ...
    pub fn symbols(&self) -> Vec<String> {
        (1..=self.instruments).map(|i| format!("SIM{i}")).collect()
    }

    /// The DBN header options of a session (symbols and their mappings, start).
    pub fn dbn_options(&self, zstd: bool) -> DbnOptions {
        let symbols = self.symbols();
        DbnOptions {
            mappings: symbols.iter().cloned().zip(1..).collect(),
            // Valid for a year: sessions of any length keep their symbols.
            mapping_days: 366,
            symbols,
            start: Some(self.start),
            zstd,
            ..DbnOptions::default()
        }
    }

    fn pre_open_total(&self) -> u64 {
        let n = u64::from(self.instruments);
        self.pre_open_events
            .unwrap_or_else(|| (self.records / 40).clamp(20 * n, 10_000 * n))
    }
}

/// A size from a table of `(cumulative probability, low, high)` rows (uniform in low..=high).
fn draw_size(rng: &mut Rng, table: &[(f64, u32, u32)]) -> u32 {
    let u = rng.unit();
    for &(cumulative, low, high) in table {
        if u < cumulative {
            return low + rng.below(u64::from(high - low + 1)) as u32;
        }
    }
    table.last().map_or(1, |&(_, low, _)| low)
}

// ---- calibration (against CLX5_mbo.dbn; see benchmarks/realism.py) ----

/// Limit order sizes: median 1, p90 2, p99 about 10.
const ADD_SIZES: &[(f64, u32, u32)] = &[
    (0.73, 1, 1),
    (0.935, 2, 2),
    (0.95, 3, 3),
    (0.965, 4, 4),
    (0.975, 5, 5),
    (0.995, 6, 10),
    (0.9995, 11, 20),
    (1.0, 21, 40),
];
/// Marketable order sizes: median 1, p90 about 5.
const TRADE_SIZES: &[(f64, u32, u32)] = &[
    (0.62, 1, 1),
    (0.80, 2, 2),
    (0.86, 3, 3),
    (0.90, 4, 4),
    (0.97, 5, 10),
    (0.995, 11, 25),
    (1.0, 26, 50),
];
/// Event weights in continuous trading (cancels scale with resting orders / TARGET_ORDERS).
const W_ADD: f64 = 0.455;
const W_CANCEL: f64 = 0.42;
const W_MODIFY: f64 = 0.065;
const W_TRADE: f64 = 0.045;
/// Resting orders per book at which the cancel weight is `W_CANCEL`.
const TARGET_ORDERS: f64 = 96.0;
/// An add at the touch (distance 0) vs behind it; further ticks continue with `Q_DEPTH`.
const P_AT_TOUCH: f64 = 0.40;
const Q_DEPTH: f64 = 0.67;
/// An add inside a spread wider than one tick.
const P_IMPROVE: f64 = 0.07;
/// Cancels and modifies pick among the most recent orders with this probability.
const P_RECENT: f64 = 0.65;
/// Recent picks reach back at most this many slots of `live`.
const RECENT_SPAN: u64 = 40;
/// Pre-open orders placed through the reference price (they cross the book).
const P_PRE_OPEN_CROSS: f64 = 0.3;

// ---- the simulator ----

/// A slot of `Instrument::live` whose order is gone (engine ids start at 1).
const GONE: u64 = 0;

struct Instrument {
    engine: MatchingEngine,
    /// Ids that may still rest, oldest first; `GONE` slots and filled orders are compacted
    /// away once they make up half of it.
    live: Vec<u64>,
    /// Last trade or open price: the anchor when a side is empty.
    reference: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    PreOpen,
    Open,
    Continuous,
}

/// An order-flow generator: call [`SessionGenerator::fill`] until it returns false.
pub struct SessionGenerator {
    config: SessionConfig,
    rng: Rng,
    books: Vec<Instrument>,
    phase: Phase,
    ts: u64,
    pre_open_total: u64,
    pre_open_done: u64,
    opened: usize,
    in_burst: bool,
    last_recv: u64,
    sequence: u32,
    emitted: u64,
}

impl SessionGenerator {
    pub fn new(config: &SessionConfig) -> Result<Self> {
        config.validate()?;
        let reference = config.start_price - config.start_price.rem_euclid(config.tick);
        let mut books = Vec::with_capacity(config.instruments as usize);
        for instrument_id in 1..=config.instruments {
            let mut engine = MatchingEngine::new(instrument_id, config.publisher_id, config.tick)
                .map_err(Error::from)?;
            engine.set_pre_open(true);
            books.push(Instrument {
                engine,
                live: Vec::new(),
                reference,
            });
        }
        Ok(SessionGenerator {
            rng: Rng::new(config.seed),
            books,
            phase: Phase::PreOpen,
            ts: config.start,
            pre_open_total: config.pre_open_total(),
            pre_open_done: 0,
            opened: 0,
            in_burst: false,
            last_recv: 0,
            sequence: 1,
            emitted: 0,
            config: config.clone(),
        })
    }

    /// Records emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    pub fn done(&self) -> bool {
        self.emitted >= self.config.records
    }

    /// Append whole events to `out` until it holds at least `limit` records or the session is
    /// done. Returns false once the session is done.
    pub fn fill(&mut self, out: &mut Vec<MboMsg>, limit: usize) -> bool {
        while out.len() < limit && !self.done() {
            self.event(out);
        }
        !self.done()
    }

    /// One event (possibly recording nothing, e.g. an open that does not cross).
    fn event(&mut self, out: &mut Vec<MboMsg>) {
        let (index, ts) = match self.phase {
            Phase::PreOpen if self.pre_open_done < self.pre_open_total => {
                let slot = PRE_OPEN_NS / self.pre_open_total.max(1);
                let ts = self.config.start
                    + (u128::from(self.pre_open_done) * u128::from(PRE_OPEN_NS)
                        / u128::from(self.pre_open_total)) as u64
                    + self.rng.below(slot.max(1));
                self.pre_open_done += 1;
                (self.rng.below(self.books.len() as u64) as usize, ts)
            }
            Phase::PreOpen => {
                self.phase = Phase::Open;
                self.ts = self.config.start + PRE_OPEN_NS;
                return;
            }
            Phase::Open => {
                let index = self.opened;
                self.opened += 1;
                if self.opened == self.books.len() {
                    self.phase = Phase::Continuous;
                }
                (index, self.ts)
            }
            Phase::Continuous => {
                let ts = self.ts + self.inter_arrival();
                (self.rng.below(self.books.len() as u64) as usize, ts)
            }
        };
        self.ts = self.ts.max(ts);
        // ts_recv - ts_event: 150-550 us (triangular), like the sample's.
        let latency = 150_000 + self.rng.below(200_000) + self.rng.below(200_000);
        let phase = self.phase;
        let rng = &mut self.rng;
        let book = &mut self.books[index];
        book.engine.emitter.recv_latency_ns = latency;
        let before = book.engine.records().len();
        match phase {
            Phase::PreOpen => pre_open_event(rng, book, ts),
            Phase::Open | Phase::Continuous if book.engine.pre_open() => {
                let reference = Some(book.reference);
                if let Ok(Some((price, _))) = book.engine.open(ts, reference) {
                    book.reference = price;
                }
            }
            Phase::Open | Phase::Continuous => continuous_event(rng, book, ts),
        }
        let records = &book.engine.records()[before..];
        if let Some(first) = records.first() {
            let base = first.sequence;
            for msg in records {
                let mut msg = *msg;
                msg.ts_recv = msg.ts_recv.max(self.last_recv);
                self.last_recv = msg.ts_recv;
                msg.sequence = self.sequence.wrapping_add(msg.sequence.wrapping_sub(base));
                out.push(msg);
            }
            let packets = records[records.len() - 1].sequence.wrapping_sub(base);
            self.sequence = self.sequence.wrapping_add(packets).wrapping_add(1);
            self.emitted += records.len() as u64;
        }
        book.engine.clear_records();
    }

    /// Bursty arrivals: short gaps inside bursts, longer ones between them.
    fn inter_arrival(&mut self) -> u64 {
        self.in_burst = if self.in_burst {
            self.rng.chance(0.85)
        } else {
            self.rng.chance(0.45)
        };
        let mean = if self.in_burst {
            60_000.0
        } else if self.rng.chance(0.03) {
            2_000_000_000.0
        } else {
            20_000_000.0
        };
        (self.rng.exponential(mean) as u64).min(60_000_000_000)
    }
}

/// `dir`: -1 for bids (away from the touch is lower), +1 for asks.
fn dir(side: Side) -> i64 {
    match side {
        Side::Bid => -1,
        Side::Ask => 1,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Bid => Side::Ask,
        Side::Ask => Side::Bid,
    }
}

fn random_side(rng: &mut Rng) -> Side {
    if rng.next_u64() & 1 == 0 {
        Side::Bid
    } else {
        Side::Ask
    }
}

/// A resting order among `book.live`: mostly a recent one, else any. Drops ids met that no
/// longer rest. Returns its index in `live`.
fn pick_live(rng: &mut Rng, book: &mut Instrument) -> Option<(usize, u64)> {
    if book.live.len() > 2 * book.engine.order_count() + 64 {
        let engine = &book.engine;
        book.live
            .retain(|&id| id != GONE && engine.resting(id).is_some());
    }
    for _ in 0..16 {
        let len = book.live.len();
        if len == 0 {
            return None;
        }
        let index = if rng.chance(P_RECENT) {
            // Decreasing density over the last ~40 slots (mean 10), two integer draws.
            let span = 1 + rng.below(RECENT_SPAN);
            let back = rng.below(span) as usize;
            len - 1 - back.min(len - 1)
        } else {
            rng.below(len as u64) as usize
        };
        let id = book.live[index];
        if id != GONE && book.engine.resting(id).is_some() {
            return Some((index, id));
        }
        book.live[index] = GONE;
    }
    None
}

fn rest(book: &mut Instrument, side: Side, price: i64, size: u32, ts: u64) {
    let kind = OrderKind::Limit { price };
    if let Ok(s) = book.engine.submit(ts, side, kind, size, TimeInForce::Gtc) {
        if s.resting > 0 {
            book.live.push(s.order_id);
        }
    }
}

fn cancel(rng: &mut Rng, book: &mut Instrument, ts: u64) -> bool {
    let Some((index, id)) = pick_live(rng, book) else {
        return false;
    };
    book.live[index] = GONE;
    book.engine.cancel(ts, id).is_ok()
}

fn pre_open_event(rng: &mut Rng, book: &mut Instrument, ts: u64) {
    let tick = book.engine.tick;
    let u = rng.unit();
    if u < 0.8 || book.engine.order_count() == 0 {
        let side = random_side(rng);
        let size = draw_size(rng, ADD_SIZES);
        let ticks = if rng.chance(P_PRE_OPEN_CROSS) {
            -(1 + rng.below(3) as i64)
        } else {
            i64::from(rng.geometric(0.7, 40))
        };
        rest(
            book,
            side,
            book.reference + dir(side) * ticks * tick,
            size,
            ts,
        );
    } else if u < 0.95 {
        cancel(rng, book, ts);
    } else {
        modify(rng, book, ts, true);
    }
}

fn modify(rng: &mut Rng, book: &mut Instrument, ts: u64, pre_open: bool) {
    let Some((index, id)) = pick_live(rng, book) else {
        return;
    };
    let Some((side, price, size)) = book.engine.resting(id) else {
        return;
    };
    let tick = book.engine.tick;
    let u = rng.unit();
    let (new_price, new_size) = if u < 0.5 && size > 1 {
        (price, 1 + rng.below(u64::from(size - 1)) as u32)
    } else if u < 0.7 {
        (price, size.saturating_add(1 + rng.below(2) as u32))
    } else {
        let step = (1 + rng.below(2) as i64) * tick;
        let toward = price - dir(side) * step;
        let crosses = book
            .engine
            .best(other(side))
            .is_some_and(|best| (toward - best) * dir(side) <= 0);
        if !pre_open && (crosses || rng.chance(0.5)) {
            (price + dir(side) * step, size)
        } else {
            (toward, size)
        }
    };
    let moved = book.engine.modify(ts, id, new_price, new_size).is_ok();
    if moved && (new_size > size || new_price != price) {
        // Lost its place: now among the most recent.
        book.live[index] = GONE;
        book.live.push(id);
    }
}

fn add(rng: &mut Rng, book: &mut Instrument, ts: u64) {
    let side = random_side(rng);
    let tick = book.engine.tick;
    let d = dir(side);
    let same = book.engine.best(side);
    let opposite = book.engine.best(other(side));
    let distance = if rng.chance(P_AT_TOUCH) {
        0
    } else {
        1 + i64::from(rng.geometric(Q_DEPTH, 200))
    };
    let price = match (same, opposite) {
        (Some(best), Some(opp)) => {
            let spread = (opp - best) * -d / tick; // >= 1 in continuous trading
            if spread > 1 && rng.chance(P_IMPROVE) {
                let inside = 1 + rng.below((spread - 1).min(2) as u64) as i64;
                best - d * inside * tick
            } else {
                best + d * distance * tick
            }
        }
        (Some(best), None) => best + d * distance * tick,
        (None, Some(opp)) => opp + d * (1 + distance) * tick,
        (None, None) => book.reference + d * (1 + distance) * tick,
    };
    let size = draw_size(rng, ADD_SIZES);
    rest(book, side, price, size, ts);
}

fn trade(rng: &mut Rng, book: &mut Instrument, ts: u64) -> bool {
    let side = random_side(rng);
    let Some(best) = book.engine.best(other(side)) else {
        return false;
    };
    let tick = book.engine.tick;
    let u = rng.unit();
    let size = draw_size(rng, TRADE_SIZES);
    let result = if u < 0.01 {
        // A sweep through up to 5 levels.
        let levels = 1 + rng.below(4) as i64;
        let limit = best - dir(side) * levels * tick;
        let size = 8 + rng.below(30) as u32;
        let kind = OrderKind::Limit { price: limit };
        book.engine.submit(ts, side, kind, size, TimeInForce::Ioc)
    } else if u < 0.03 {
        let kind = OrderKind::Limit { price: best };
        book.engine.submit(ts, side, kind, size, TimeInForce::Gtc)
    } else if u < 0.075 {
        book.engine
            .submit(ts, side, OrderKind::Market, size, TimeInForce::Ioc)
    } else {
        let kind = OrderKind::Limit { price: best };
        book.engine.submit(ts, side, kind, size, TimeInForce::Ioc)
    };
    if let Ok(s) = result {
        if s.resting > 0 {
            book.live.push(s.order_id);
        }
    }
    book.reference = best;
    true
}

fn continuous_event(rng: &mut Rng, book: &mut Instrument, ts: u64) {
    let n = book.engine.order_count() as f64;
    let w_cancel = W_CANCEL * n / TARGET_ORDERS;
    let w_modify = if n > 0.0 { W_MODIFY } else { 0.0 };
    let total = W_ADD + w_cancel + w_modify + W_TRADE;
    let u = rng.unit() * total;
    let done = if u < W_TRADE {
        trade(rng, book, ts)
    } else if u < W_TRADE + w_cancel {
        cancel(rng, book, ts)
    } else if u < W_TRADE + w_cancel + w_modify {
        modify(rng, book, ts, false);
        true
    } else {
        false
    };
    if !done {
        add(rng, book, ts);
    }
}

// ---- entry points ----

/// A whole session in memory.
pub fn simulate(config: &SessionConfig) -> Result<Vec<MboMsg>> {
    let mut sim = SessionGenerator::new(config)?;
    let target = usize::try_from(config.records).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(target.min(1 << 26) + 1024);
    sim.fill(&mut out, usize::MAX);
    Ok(out)
}

/// Records per chunk handed from the generating thread to the encoding one.
const CHUNK: usize = 1 << 16;

/// Stream a session as DBN to `writer` in chunks (constant memory). Generation runs on a
/// second thread while this one encodes (and compresses), so the two overlap; the output does
/// not depend on the threading. Returns the record count.
pub fn simulate_to_writer<W: Write>(config: &SessionConfig, writer: W, zstd: bool) -> Result<u64> {
    let mut sim = SessionGenerator::new(config)?;
    let mut writer = MboWriter::new(writer, &config.dbn_options(zstd), None)?;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<MboMsg>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<MboMsg>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            loop {
                let mut chunk = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK + 64));
                chunk.clear();
                let more = sim.fill(&mut chunk, CHUNK);
                // The receiver is gone only after a write error: stop generating.
                if full_tx.send(chunk).is_err() || !more {
                    break;
                }
            }
        });
        for chunk in full_rx {
            writer.write(&chunk)?;
            // The generator may have finished already: then the buffer is just dropped.
            let _ = empty_tx.send(chunk);
        }
        Ok::<(), Error>(())
    })?;
    writer.finish()
}

/// A session as DBN bytes.
pub fn simulate_dbn_bytes(config: &SessionConfig, zstd: bool) -> Result<Vec<u8>> {
    let target = usize::try_from(config.records).unwrap_or(usize::MAX);
    let guess = if zstd {
        target.min(1 << 24) * 14
    } else {
        target.min(1 << 26) * 56
    };
    let mut out = Vec::with_capacity(guess + 4096);
    simulate_to_writer(config, &mut out, zstd)?;
    Ok(out)
}

/// A session written to `path` (zstd when it ends in `.zst`). Returns the record count.
pub fn simulate_to_file(config: &SessionConfig, path: &str) -> Result<u64> {
    config.validate()?;
    let output_error = |source: io::Error| Error::Output {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(output_error)?;
    simulate_to_writer(config, BufWriter::new(file), path.ends_with(".zst")).map_err(
        |err| match err {
            Error::Output { source, .. } => output_error(source),
            other => other,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::market::Market;

    fn config(seed: u64, records: u64, instruments: u32) -> SessionConfig {
        SessionConfig {
            seed,
            records,
            instruments,
            ..SessionConfig::default()
        }
    }

    #[test]
    fn deterministic_and_ends_on_a_boundary() {
        let a = simulate(&config(7, 20_000, 2)).unwrap();
        let b = simulate(&config(7, 20_000, 2)).unwrap();
        let c = simulate(&config(8, 20_000, 2)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() >= 20_000);
        assert!(a.last().unwrap().flags.is_last());
        // Stops at the first boundary at or after the target.
        let lasts: Vec<usize> = a
            .iter()
            .enumerate()
            .filter(|(_, m)| m.flags.is_last())
            .map(|(i, _)| i)
            .collect();
        assert!(lasts[lasts.len() - 2] < 20_000 - 1);
    }

    #[test]
    fn replays_cleanly_crosses_before_the_open_only() {
        let records = simulate(&config(3, 50_000, 3)).unwrap();
        let mut market = Market::new();
        let mut crossed_before = 0;
        let mut opened = [false; 3];
        let mut last_recv = 0;
        let mut last_seq = 0;
        for msg in &records {
            assert!(msg.ts_recv >= msg.hd.ts_event);
            assert!(msg.ts_recv >= last_recv);
            assert!(msg.sequence >= last_seq);
            last_recv = msg.ts_recv;
            last_seq = msg.sequence;
            market.apply(msg);
            let i = msg.hd.instrument_id as usize - 1;
            if msg.action as u8 == b'T' && msg.side as u8 == b'N' {
                opened[i] = true;
            }
            if msg.flags.is_last() {
                let book = market.book(msg.hd.instrument_id, 1).unwrap();
                if opened[i] {
                    assert!(!book.crossed());
                } else if book.crossed() {
                    crossed_before += 1;
                }
            }
        }
        assert!(opened.iter().all(|&o| o));
        assert!(crossed_before > 0);
        for book in market.books() {
            assert_eq!(book.anomalies, crate::book::Anomalies::default());
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [config(1, 0, 1), config(1, 1, 0)] {
            assert!(matches!(simulate(&bad), Err(Error::BadArgument { .. })));
        }
        let bad_tick = SessionConfig {
            tick: 0,
            ..SessionConfig::default()
        };
        assert!(simulate(&bad_tick).is_err());
    }

    #[test]
    fn streamed_bytes_match_the_records() {
        let cfg = config(5, 5_000, 2);
        let bytes = simulate_dbn_bytes(&cfg, false).unwrap();
        let mut stream = crate::dbn::MboStream::open(crate::dbn::Source::Bytes(&bytes)).unwrap();
        let mappings = &stream.metadata().mappings;
        assert_eq!(mappings.len(), 2);
        assert_eq!(mappings[1].raw_symbol, "SIM2");
        assert_eq!(mappings[1].intervals[0].symbol, "2");
        let mut read = Vec::new();
        while let Some((_, msg)) = stream.next_mbo().unwrap() {
            read.push(msg);
        }
        assert_eq!(read, simulate(&cfg).unwrap());
    }
}
