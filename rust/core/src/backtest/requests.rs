//! Request scheduling: when a place, cancel or modify is made (now, at a time, after a record)
//! and when it takes effect (`latency_ns` later), in arrival order.

use dbn::UNDEF_PRICE;

use super::queue::{OrderStatus, SimOrder};
use super::Backtest;
use crate::book::market::BookKey;
use crate::book::Side;
use crate::error::{Error, Result};

/// What a request does when it arrives.
#[derive(Clone, Copy, Debug)]
pub(super) enum Request {
    Place,
    Cancel,
    Modify { price: i64, size: u32 },
}

#[derive(Clone, Copy, Debug)]
pub(super) struct PendingRequest {
    pub(super) seq: u64,
    pub(super) order: usize,
    pub(super) request: Request,
    /// Not before this many records are applied.
    pub(super) not_before: usize,
    pub(super) arrival: u64,
    /// Takes effect at `not_before` exactly (zero latency at a record index or "now").
    pub(super) immediate: bool,
}

/// A resolved request time.
#[derive(Clone, Copy, Debug)]
pub(super) struct When {
    pub(super) request_ts: u64,
    pub(super) not_before: usize,
    pub(super) arrival: u64,
    pub(super) immediate: bool,
}

/// When a request is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// At the current position and time.
    Now,
    /// At time `ts` (ns): after every record with `ts_recv <= ts`.
    Ts(u64),
    /// Right after record `index`.
    Index(usize),
}

impl Backtest {
    /// Resolve a request time into (request ts, not_before, arrival, immediate).
    pub(super) fn schedule(&mut self, at: At) -> Result<When> {
        let latency = self.latency_ns;
        match at {
            At::Now => Ok(When {
                request_ts: self.now,
                not_before: self.position,
                arrival: self.now.saturating_add(latency),
                immediate: latency == 0,
            }),
            At::Ts(ts) => {
                if ts < self.now {
                    return Err(Error::bad_argument(format!(
                        "at_ts {ts} is in the past (now is {})",
                        self.now
                    )));
                }
                Ok(When {
                    request_ts: ts,
                    not_before: self.position,
                    arrival: ts.saturating_add(latency),
                    immediate: false,
                })
            }
            At::Index(index) => {
                if index >= self.len() {
                    return Err(Error::bad_argument(format!(
                        "at_index {index} is out of range (0..{})",
                        self.len()
                    )));
                }
                if index + 1 < self.position {
                    return Err(Error::bad_argument(format!(
                        "at_index {index} is in the past ({} records applied)",
                        self.position
                    )));
                }
                let ts = self.history.record(index)?.ts_recv;
                Ok(When {
                    request_ts: ts,
                    not_before: index + 1,
                    arrival: ts.saturating_add(latency),
                    immediate: latency == 0,
                })
            }
        }
    }

    pub(super) fn push_request(
        &mut self,
        order: usize,
        request: Request,
        when: When,
    ) -> Result<()> {
        let When {
            not_before,
            arrival,
            immediate,
            ..
        } = when;
        self.seq += 1;
        self.pending.push(PendingRequest {
            seq: self.seq,
            order,
            request,
            not_before,
            arrival,
            immediate,
        });
        if immediate && not_before <= self.position {
            self.process_due(|_| true);
        }
        Ok(())
    }

    /// Place a simulated limit order; returns its id. `side` is `b'B'` or `b'A'`.
    pub fn place(&mut self, key: BookKey, side: u8, price: i64, size: u32, at: At) -> Result<u64> {
        let side = Side::from_byte(side).ok_or_else(|| {
            Error::bad_argument(format!(
                "side must be 'B' or 'A', not {:?}",
                char::from(side)
            ))
        })?;
        if size == 0 {
            return Err(Error::bad_argument("size must be >= 1"));
        }
        if price == UNDEF_PRICE {
            return Err(Error::bad_argument("price must be defined"));
        }
        let when = self.schedule(at)?;
        let id = self.orders.len() as u64;
        self.orders
            .push(SimOrder::new(id, key, side, price, size, when.request_ts));
        self.push_request(id as usize, Request::Place, when)?;
        Ok(id)
    }

    /// Checks shared by cancel and modify: a known order, requested no earlier than placed.
    /// Returns `None` when the order is already finished (the request would do nothing).
    pub(super) fn later_request(&mut self, id: u64, at: At) -> Result<Option<(usize, When)>> {
        let when = self.schedule(at)?;
        let order = self.order(id)?;
        if when.request_ts < order.request_ts {
            return Err(Error::bad_argument(format!(
                "order {id} is placed at {}; a request at {} comes before it",
                order.request_ts, when.request_ts
            )));
        }
        if matches!(order.status, OrderStatus::Filled | OrderStatus::Cancelled) {
            return Ok(None);
        }
        Ok(Some((id as usize, when)))
    }

    /// Cancel after the latency. Returns false (and does nothing) if the order is already
    /// filled or cancelled; a cancel that arrives after the order filled does nothing either.
    pub fn cancel(&mut self, id: u64, at: At) -> Result<bool> {
        match self.later_request(id, at)? {
            Some((order, when)) => {
                self.push_request(order, Request::Cancel, when)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Change price and/or remaining size after the latency (see the module docs for priority).
    pub fn modify(
        &mut self,
        id: u64,
        price: Option<i64>,
        size: Option<u32>,
        at: At,
    ) -> Result<bool> {
        if size == Some(0) {
            return Err(Error::bad_argument(
                "size must be >= 1 (cancel to remove an order)",
            ));
        }
        if price == Some(UNDEF_PRICE) {
            return Err(Error::bad_argument("price must be defined"));
        }
        match self.later_request(id, at)? {
            Some((order, when)) => {
                let current = &self.orders[order];
                let request = Request::Modify {
                    price: price.unwrap_or(current.price),
                    size: size.unwrap_or(current.remaining),
                };
                self.push_request(order, request, when)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Process pending requests for which `due` holds, in arrival order.
    pub(super) fn process_due(&mut self, due: impl Fn(&PendingRequest) -> bool) {
        let position = self.position;
        if !self
            .pending
            .iter()
            .any(|p| p.not_before <= position && due(p))
        {
            return;
        }
        let mut ready: Vec<PendingRequest> = Vec::new();
        self.pending.retain(|p| {
            let take = p.not_before <= position && due(p);
            if take {
                ready.push(*p);
            }
            !take
        });
        ready.sort_by_key(|p| (p.arrival, p.seq));
        for p in ready {
            let ts = if p.immediate {
                self.now
            } else {
                p.arrival.max(self.now)
            };
            self.arrive(p.order, p.request, ts);
        }
    }

    pub(super) fn arrive(&mut self, idx: usize, request: Request, ts: u64) {
        match request {
            Request::Place => {
                if self.orders[idx].status == OrderStatus::Pending {
                    self.enter(idx, ts);
                }
            }
            Request::Cancel => match self.orders[idx].status {
                OrderStatus::Open => {
                    self.unrest(idx);
                    self.orders[idx].status = OrderStatus::Cancelled;
                }
                OrderStatus::Pending => self.orders[idx].status = OrderStatus::Cancelled,
                _ => {}
            },
            Request::Modify { price, size } => {
                let order = &mut self.orders[idx];
                match order.status {
                    OrderStatus::Open => {
                        if price == order.price && size <= order.remaining {
                            order.size -= order.remaining - size;
                            order.remaining = size;
                        } else {
                            self.unrest(idx);
                            let order = &mut self.orders[idx];
                            order.price = price;
                            order.size = order.filled + size;
                            order.remaining = size;
                            self.enter(idx, ts);
                        }
                    }
                    OrderStatus::Pending => {
                        order.price = price;
                        order.size = order.filled + size;
                        order.remaining = size;
                    }
                    _ => {}
                }
            }
        }
    }
}
