//! The run loop: records applied one by one to the historical market and to the simulated orders
//! of their book, requests taking effect on the way, pausing where a strategy asked to.

use std::sync::Arc;

use dbn::{flags, MboMsg};

use super::queue::OrderStatus;
use super::Backtest;
use crate::book::market::BookKey;
use crate::error::{Error, Result};
use crate::store::cache::Block;
use crate::store::{BlockMeta, Recording};

/// Where `run` stops at the latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    End,
    /// After every record with `ts_recv <= ts`.
    Ts(u64),
    /// Right after record `index`.
    Index(usize),
}

/// Where `run` pauses early, to hand control to a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    Never,
    /// After each record carrying F_LAST (of this book only, if given).
    Boundary(Option<BookKey>),
    /// At every multiple of this many nanoseconds of `ts_recv`.
    Every(u64),
    /// After every record.
    Record,
}

/// Why `run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The `Until` target was reached (or the data ended first).
    Done,
    /// Paused after the boundary record at this index.
    Boundary(u64),
    /// Paused at this scheduled time.
    Scheduled(u64),
    /// Paused after this record (`Pause::Record`).
    Record(u64),
}

/// The records a backtest replays: its own, or a shared recording's (read block by block).
pub(super) enum History {
    Owned(Vec<MboMsg>),
    Shared {
        recording: Arc<Recording>,
        /// The block read last, decoded.
        block: Option<(BlockMeta, Block)>,
    },
}

impl History {
    pub(super) fn len(&self) -> usize {
        match self {
            History::Owned(records) => records.len(),
            History::Shared { recording, .. } => recording.len(),
        }
    }

    /// Record `index` (below `len()`).
    #[inline]
    pub(super) fn record(&mut self, index: usize) -> Result<MboMsg> {
        match self {
            History::Owned(records) => Ok(records[index]),
            History::Shared { recording, block } => {
                if let Some((meta, records)) = block {
                    let first = meta.first_index as usize;
                    if (first..meta.end() as usize).contains(&index) {
                        return Ok(records[index - first]);
                    }
                }
                let (n, meta) = recording
                    .block_of(index)
                    .ok_or_else(|| Error::bad_argument(format!("no record {index}")))?;
                let records = recording.block(n)?;
                let msg = records[index - meta.first_index as usize];
                *block = Some((meta, records));
                Ok(msg)
            }
        }
    }
}

impl Backtest {
    /// Apply record `position` (`msg`) to the market and to the simulated orders of its book.
    pub(super) fn step(&mut self, msg: MboMsg) {
        let index = self.position;
        let key = (msg.hd.instrument_id, msg.hd.publisher_id);
        if let Some(list) = self.resting.get_mut(&key) {
            let mut any_done = false;
            for &idx in list.iter() {
                let order = &mut self.orders[idx];
                order.on_record(index as u64, &msg, &mut self.fills);
                any_done |= order.status != OrderStatus::Open;
            }
            if any_done {
                let orders = &self.orders;
                list.retain(|&i| orders[i].status == OrderStatus::Open);
            }
        }
        self.market.apply(&msg);
        self.position += 1;
        self.now = self.now.max(msg.ts_recv);
    }

    /// Advance until `until`, pausing early as `pause` asks. Requests due on the way take
    /// effect at their arrival times.
    pub fn run(&mut self, until: Until, pause: Pause) -> Result<Stop> {
        let end = match until {
            Until::Index(index) => {
                if index >= self.len() {
                    return Err(Error::bad_argument(format!(
                        "until_index {index} is out of range (0..{})",
                        self.len()
                    )));
                }
                index + 1
            }
            _ => self.len(),
        };
        if let Pause::Every(0) = pause {
            return Err(Error::bad_argument("every must be >= 1 ns"));
        }
        while self.position < end {
            let next = self.history.record(self.position)?;
            if let Until::Ts(ts) = until {
                if next.ts_recv > ts {
                    break;
                }
            }
            if let Pause::Every(every) = pause {
                let tick = match self.next_tick {
                    Some((interval, tick)) if interval == every => tick,
                    _ => {
                        // The first multiple of `every` after the current time.
                        let base = if self.position == 0 {
                            next.ts_recv.saturating_sub(1)
                        } else {
                            self.now
                        };
                        let tick = (base / every).saturating_add(1).saturating_mul(every);
                        self.next_tick = Some((every, tick));
                        tick
                    }
                };
                if next.ts_recv > tick {
                    self.next_tick = Some((every, tick.saturating_add(every)));
                    self.now = self.now.max(tick);
                    self.process_due(|p| p.immediate || p.arrival <= tick);
                    return Ok(Stop::Scheduled(tick));
                }
            }
            self.process_due(|p| p.immediate || p.arrival < next.ts_recv);
            self.step(next);
            let index = (self.position - 1) as u64;
            match pause {
                Pause::Record => return Ok(Stop::Record(index)),
                Pause::Boundary(book) if next.flags.raw() & flags::LAST != 0 => {
                    let key = (next.hd.instrument_id, next.hd.publisher_id);
                    if book.is_none_or(|b| b == key) {
                        return Ok(Stop::Boundary(index));
                    }
                }
                _ => {}
            }
        }
        if let Until::Ts(ts) = until {
            self.now = self.now.max(ts);
        }
        let now = self.now;
        self.process_due(|p| p.immediate || p.arrival <= now);
        Ok(Stop::Done)
    }
}
