//! Subscriptions and publishing: per `(instrument, publisher, depth)`, the frames a subscribed
//! book's clients need since its last frames (its trades, then one book frame if its top levels
//! changed), in the player's JSON shapes, under a rate cap.

use std::time::{Duration, Instant};

use dbn::MboMsg;

use super::LiveMarket;
use crate::book::market::BookKey;
use crate::error::{Error, Result};
use crate::replay::player::{book_json, top_levels, trade_json, Frame, FrameKind, Levels};

pub(super) struct Subscription {
    key: BookKey,
    depth: usize,
    last_sent: Option<(Levels, Levels)>,
    trades: Vec<Frame>,
    /// Records applied (`stats.records`) when the book was last looked at for a frame.
    seen: u64,
    /// When its last frames were built (the rate cap).
    last_frame: Option<Instant>,
    /// Receipt of the newest record behind its pending trades.
    trades_received: Option<Instant>,
}

impl LiveMarket {
    /// After record `msg` was applied to the book in market `slot`: remember when the book
    /// changed, and queue a trade frame for each subscription of its book.
    #[inline]
    pub(super) fn note_applied(&mut self, slot: usize, msg: &MboMsg) {
        if slot == self.touched.len() {
            self.touched.push((0, self.batch_received));
        }
        self.touched[slot] = (self.stats.records, self.batch_received);
        self.last_ts = (msg.ts_recv, msg.hd.ts_event);
        if msg.action as u8 == b'T' && !self.subs_by_key.is_empty() {
            let key = (msg.hd.instrument_id, msg.hd.publisher_id);
            if let Some(ids) = self.subs_by_key.get(&key) {
                let index = self.index();
                for &id in ids {
                    if let Some(sub) = self.subs[id].as_mut() {
                        sub.trades_received = Some(self.batch_received);
                        sub.trades.push(Frame {
                            kind: FrameKind::Trade,
                            index,
                            json: trade_json(index, msg),
                        });
                    }
                }
            }
        }
    }

    /// Follow one book at `depth` levels; returns the subscription id.
    pub fn subscribe(
        &mut self,
        instrument_id: u32,
        publisher_id: u16,
        depth: usize,
    ) -> Result<usize> {
        if depth == 0 {
            return Err(Error::bad_argument("depth must be >= 1"));
        }
        let key = (instrument_id, publisher_id);
        let sub = Subscription {
            key,
            depth,
            last_sent: None,
            trades: Vec::new(),
            seen: 0,
            last_frame: None,
            trades_received: None,
        };
        let id = match self.subs.iter().position(Option::is_none) {
            Some(free) => {
                self.subs[free] = Some(sub);
                free
            }
            None => {
                self.subs.push(Some(sub));
                self.subs.len() - 1
            }
        };
        self.subs_by_key.entry(key).or_default().push(id);
        Ok(id)
    }

    pub fn unsubscribe(&mut self, id: usize) {
        if let Some(sub) = self.subs.get_mut(id).and_then(Option::take) {
            if let Some(ids) = self.subs_by_key.get_mut(&sub.key) {
                ids.retain(|&i| i != id);
                if ids.is_empty() {
                    self.subs_by_key.remove(&sub.key);
                }
            }
        }
    }

    /// The subscription's book now, as a snapshot frame (remembered as sent).
    pub fn snapshot(&mut self, id: usize) -> Result<Frame> {
        let index = self.index();
        let last_ts = self.last_ts;
        let sub = self
            .subs
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or_else(|| Error::bad_argument(format!("no subscription {id}")))?;
        let book = self.market.book(sub.key.0, sub.key.1);
        let levels = top_levels(book, sub.depth);
        let json = book_json(index, last_ts.0, last_ts.1, sub.key, book, &levels);
        sub.last_sent = Some(levels);
        sub.trades.clear();
        sub.trades_received = None;
        sub.seen = self.stats.records;
        Ok(Frame {
            kind: FrameKind::Snapshot,
            index,
            json,
        })
    }

    /// The frames of every subscription since the last tick, with no rate cap.
    pub fn tick(&mut self) -> Vec<(usize, Vec<Frame>)> {
        self.publish(Duration::ZERO).0
    }

    /// Publish on apply: the frames of every subscription whose book changed since its last
    /// frames (its trades, then a book frame if its top levels changed; a book in the middle of
    /// an event waits, trades included, for the event's last record), unless its last frames are younger than
    /// `min_interval` (the rate cap). Also returns how long until the earliest subscription held
    /// back by the cap is due (`None`: none is). Call [`LiveMarket::published`] once the frames
    /// are handed to the clients, to time them.
    pub fn publish(
        &mut self,
        min_interval: Duration,
    ) -> (Vec<(usize, Vec<Frame>)>, Option<Duration>) {
        let start = Instant::now();
        self.published_at(start);
        let index = self.index();
        let records = self.stats.records;
        let mut out = Vec::new();
        let mut next_due: Option<Duration> = None;
        for (id, sub) in self.subs.iter_mut().enumerate() {
            let Some(sub) = sub.as_mut() else { continue };
            let touched = self
                .market
                .slot(sub.key)
                .map(|slot| self.touched[slot])
                .filter(|(at, _)| *at > sub.seen);
            if touched.is_none() && sub.trades.is_empty() {
                continue;
            }
            if let Some(last) = sub.last_frame {
                let age = start.saturating_duration_since(last);
                if age < min_interval {
                    let wait = min_interval - age;
                    next_due = Some(next_due.map_or(wait, |d| d.min(wait)));
                    continue;
                }
            }
            let book = self.market.book(sub.key.0, sub.key.1);
            if touched.is_some() && book.is_some_and(|b| !b.consistent) {
                // mid-event: its last record (in this batch or the next) publishes it whole
                continue;
            }
            let mut newest = sub.trades_received.take();
            let mut frames = std::mem::take(&mut sub.trades);
            if let Some((_, received)) = touched {
                // the frames account for every record of the book up to now, changed or not
                newest = Some(newest.map_or(received, |t| t.max(received)));
                sub.seen = records;
                let levels = top_levels(book, sub.depth);
                if sub.last_sent.as_ref() != Some(&levels) {
                    let json = book_json(
                        index,
                        self.last_ts.0,
                        self.last_ts.1,
                        sub.key,
                        book,
                        &levels,
                    );
                    frames.push(Frame {
                        kind: FrameKind::Book,
                        index,
                        json,
                    });
                    sub.last_sent = Some(levels);
                }
            }
            if !frames.is_empty() {
                sub.last_frame = Some(start);
                if let Some(t) = newest {
                    self.unpublished.push(t);
                }
                out.push((id, frames));
            }
        }
        self.timings.tick.record(start.elapsed());
        (out, next_due)
    }

    /// The frames of the last [`LiveMarket::publish`] are with the clients now: time them.
    pub fn published(&mut self) {
        self.published_at(Instant::now());
    }

    fn published_at(&mut self, now: Instant) {
        for received in self.unpublished.drain(..) {
            let ns = u64::try_from(now.saturating_duration_since(received).as_nanos())
                .unwrap_or(u64::MAX);
            self.timings.receipt_to_published.record_n(ns, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::market::Market;
    use crate::dbn::Source;
    use crate::testing::clx5;

    #[test]
    fn ticks_publish_trades_and_changed_books() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let key = whole.keys()[0];
        let mut live = LiveMarket::new(0);
        let id = live.subscribe(key.0, key.1, 5).unwrap();
        let snap = live.snapshot(id).unwrap();
        assert_eq!(snap.index, -1);
        let mut trades = 0;
        let mut books = 0;
        for chunk in bytes.chunks(4096) {
            live.feed(chunk).unwrap();
            for (sid, frames) in live.tick() {
                assert_eq!(sid, id);
                for f in frames {
                    match f.kind {
                        FrameKind::Trade => trades += 1,
                        FrameKind::Book => books += 1,
                        FrameKind::Snapshot => unreachable!(),
                    }
                }
            }
        }
        assert!(trades > 0 && books > 0);
        live.published();
        let t = live.timings().receipt_to_published.counts();
        assert!(t.count > 0 && t.count <= live.stats().records);
        live.unsubscribe(id);
        assert!(live.tick().is_empty());
    }

    #[test]
    fn publish_on_apply_holds_the_rate_cap() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let key = whole.keys()[0];
        let mut live = LiveMarket::new(0);
        let id = live.subscribe(key.0, key.1, 5).unwrap();
        live.snapshot(id).unwrap();
        let (out, due) = live.publish(Duration::from_secs(60));
        assert!(out.is_empty() && due.is_none());
        let mut published = 0;
        let mut held = 0;
        for chunk in bytes.chunks(4096) {
            live.feed(chunk).unwrap();
            let (out, due) = live.publish(Duration::from_secs(60));
            published += out.len();
            if let Some(d) = due {
                assert!(d <= Duration::from_secs(60));
                held += 1;
            }
        }
        assert_eq!(published, 1, "one frame batch per interval");
        assert!(held > 0);
        // with no cap every changed book publishes at once and is timed when handed over
        let (out, due) = live.publish(Duration::ZERO);
        assert!(!out.is_empty() && due.is_none());
        live.published();
        assert_eq!(live.timings().receipt_to_published.counts().count, 2);
    }
}
