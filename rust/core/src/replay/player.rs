//! Playback of one book out of a shared `Recording`, as JSON frames for streaming clients.
//!
//! Each client gets its own `Player` (a cursor plus the last frame it was sent); the records and
//! checkpoints are shared. A player only ever stops at an event boundary of its book (a record
//! of that book carrying F_LAST), so every frame shows a consistent state, and a frame's id (the
//! index of the last record applied) is a safe place to resume from.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use dbn::MboMsg;

use crate::book::auction::indicative_uncross;
use crate::book::json::{write_level_arrays, write_uncross};
use crate::book::market::BookKey;
use crate::book::{Book, Side};
use crate::error::{Error, Result};
use crate::replay::Replay;
use crate::store::Recording;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Snapshot,
    Book,
    Trade,
}

impl FrameKind {
    /// The SSE event name.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Snapshot => "snapshot",
            FrameKind::Book => "book",
            FrameKind::Trade => "trade",
        }
    }
}

/// One event for a client: its kind, the index of the record it follows (-1 before the first
/// record) and its JSON body.
#[derive(Clone, Debug)]
pub struct Frame {
    pub kind: FrameKind,
    pub index: i64,
    pub json: String,
}

pub type Levels = Vec<(i64, u64, u32)>;

pub struct Player {
    replay: Replay,
    key: BookKey,
    depth: usize,
    /// The top levels in the last snapshot or book frame: unchanged books send no frame.
    last_sent: Option<(Levels, Levels)>,
}

impl Player {
    pub fn new(
        recording: Arc<Recording>,
        instrument_id: u32,
        publisher_id: u16,
        depth: usize,
    ) -> Result<Self> {
        if depth == 0 {
            return Err(Error::bad_argument("depth must be >= 1"));
        }
        let key = (instrument_id, publisher_id);
        if !recording.has_key(key) {
            return Err(Error::bad_argument(format!(
                "no book for instrument_id={instrument_id}, publisher_id={publisher_id}"
            )));
        }
        Ok(Player {
            replay: Replay::for_book(recording, key),
            key,
            depth,
            last_sent: None,
        })
    }

    pub fn position(&self) -> usize {
        self.replay.position()
    }

    /// Index of the last record applied, -1 before the first.
    pub fn index(&self) -> i64 {
        self.replay.position() as i64 - 1
    }

    pub fn ts_recv(&self) -> Option<u64> {
        self.replay.ts_recv()
    }

    pub fn done(&self) -> bool {
        self.replay.position() == self.replay.len()
    }

    /// Go to the state after record `index`, then on to the end of the book's event if that
    /// record was inside one. Returns the trade frames met on the way (usually none).
    pub fn seek_index(&mut self, index: usize) -> Result<Vec<Frame>> {
        self.replay.seek_index(index)?;
        self.last_sent = None;
        self.finish_event()
    }

    /// Go to the state after every record with `ts_recv <= ts`, then to the end of the event.
    pub fn seek_ts(&mut self, ts: u64) -> Result<Vec<Frame>> {
        self.replay.seek_ts(ts)?;
        self.last_sent = None;
        self.finish_event()
    }

    /// Back to before the first record.
    pub fn rewind(&mut self) -> Result<()> {
        self.replay.seek_position(0)?;
        self.last_sent = None;
        Ok(())
    }

    /// The full state now (top `depth` levels), and remember it as sent.
    pub fn snapshot(&mut self) -> Frame {
        let json = self.book_json();
        self.last_sent = Some(self.top_levels());
        Frame {
            kind: FrameKind::Snapshot,
            index: self.index(),
            json,
        }
    }

    /// Apply records up to `target` positions (then to the end of the book's event): a trade
    /// frame per trade of this book, then one book frame if the top levels changed.
    ///
    /// Timed into the recording's [`Timings`](crate::replay::timing::Timings): the mean per-record apply
    /// time of the call (weighted by its record count), the frame building and the whole call.
    pub fn advance(&mut self, target: usize) -> Result<Vec<Frame>> {
        let start = Instant::now();
        let from = self.replay.position();
        let mut frames = Vec::new();
        while self.replay.position() < target {
            match self.replay.apply_next()? {
                Some(msg) => self.push_trade(&mut frames, &msg),
                None => break,
            }
        }
        frames.extend(self.finish_event()?);
        let applied = self.replay.position() - from;
        let built = Instant::now();
        let top = self.top_levels();
        if self.last_sent.as_ref() != Some(&top) {
            frames.push(Frame {
                kind: FrameKind::Book,
                index: self.index(),
                json: self.book_json(),
            });
            self.last_sent = Some(top);
        }
        let end = Instant::now();
        let timings = self.replay.recording().timings();
        timings.apply_stream.record_batch(built - start, applied);
        timings.frame.record(end - built);
        timings.advance.record(end - start);
        Ok(frames)
    }

    pub fn advance_to_index(&mut self, index: usize) -> Result<Vec<Frame>> {
        self.advance(index.saturating_add(1))
    }

    pub fn advance_to_ts(&mut self, ts: u64) -> Result<Vec<Frame>> {
        let target = self.replay.recording().position_at_ts(ts)?;
        self.advance(target)
    }

    /// ts_recv of the next record, if any: what a paced client waits for.
    pub fn next_ts_recv(&mut self) -> Result<Option<u64>> {
        Ok(self.replay.peek()?.map(|msg| msg.ts_recv))
    }

    fn book(&self) -> Option<&Book> {
        self.replay.market().book(self.key.0, self.key.1)
    }

    /// Keep applying until this book is at an event boundary (or the records run out).
    fn finish_event(&mut self) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        while self.book().is_some_and(|book| !book.consistent) {
            match self.replay.apply_next()? {
                Some(msg) => self.push_trade(&mut frames, &msg),
                None => break,
            }
        }
        Ok(frames)
    }

    fn push_trade(&self, frames: &mut Vec<Frame>, msg: &MboMsg) {
        let key = (msg.hd.instrument_id, msg.hd.publisher_id);
        if key != self.key || msg.action as u8 != b'T' {
            return;
        }
        let json = trade_json(self.index(), msg);
        frames.push(Frame {
            kind: FrameKind::Trade,
            index: self.index(),
            json,
        });
    }

    fn top_levels(&self) -> (Levels, Levels) {
        top_levels(self.book(), self.depth)
    }

    fn book_json(&self) -> String {
        let (ts_recv, ts_event) = self
            .replay
            .last_record()
            .map_or((0, 0), |msg| (msg.ts_recv, msg.hd.ts_event));
        book_json(
            self.index(),
            ts_recv,
            ts_event,
            self.key,
            self.book(),
            &self.top_levels(),
        )
    }
}

/// The top `depth` levels of each side `(price, size, count)`, best first (empty without a book).
pub fn top_levels(book: Option<&Book>, depth: usize) -> (Levels, Levels) {
    let side_levels = |side| -> Levels {
        book.map(|book| {
            book.levels(side)
                .take(depth)
                .map(|l| (l.price, l.size, l.count))
                .collect()
        })
        .unwrap_or_default()
    };
    (side_levels(Side::Bid), side_levels(Side::Ask))
}

/// The JSON of a `trade` frame for record `index`.
pub fn trade_json(index: i64, msg: &MboMsg) -> String {
    let mut json = String::with_capacity(128);
    let side = match msg.side as u8 {
        side @ (b'A' | b'B') => side as char,
        _ => 'N',
    };
    let _ = write!(
        json,
        "{{\"index\":{index},\"ts_recv\":{},\"ts_event\":{},\"price\":{},\"size\":{},\"side\":\"{side}\"}}",
        msg.ts_recv,
        msg.hd.ts_event,
        msg.price,
        msg.size
    );
    json
}

/// The JSON of a `snapshot` or `book` frame: the book after record `index` (whose times are
/// `ts_recv`/`ts_event`, 0 before any record) with its top `levels`.
pub fn book_json(
    index: i64,
    ts_recv: u64,
    ts_event: u64,
    key: BookKey,
    book: Option<&Book>,
    levels: &(Levels, Levels),
) -> String {
    let mut json = String::with_capacity(256 + (levels.0.len() + levels.1.len()) * 32);
    let _ = write!(
        json,
        "{{\"index\":{index},\"ts_recv\":{ts_recv},\"ts_event\":{ts_event},\"instrument_id\":{},\
         \"publisher_id\":{},\"bids\":",
        key.0, key.1
    );
    write_level_arrays(&mut json, levels.0.iter().copied());
    json.push_str(",\"asks\":");
    write_level_arrays(&mut json, levels.1.iter().copied());
    let crossed = book.is_some_and(Book::crossed);
    let _ = write!(json, ",\"crossed\":{crossed},\"uncross\":");
    write_uncross(
        &mut json,
        book.and_then(|book| indicative_uncross(book, None)),
    );
    json.push('}');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mbo;

    fn recording() -> Arc<Recording> {
        let mut records = vec![
            mbo(b'A', b'B', 1, 100, 5, 0x80),
            mbo(b'A', b'A', 2, 102, 5, 0x80),
            // a trade event: T, F, then the C that ends it
            mbo(b'T', b'B', 0, 102, 2, 0),
            mbo(b'F', b'A', 2, 102, 2, 0),
            mbo(b'C', b'A', 2, 102, 2, 0x80),
            mbo(b'A', b'B', 3, 101, 1, 0x80),
        ];
        for (i, msg) in records.iter_mut().enumerate() {
            msg.ts_recv = 1_000 + i as u64;
        }
        let layout = crate::store::Layout {
            block_records: 2,
            checkpoint_every: 2,
        };
        Arc::new(Recording::from_records(&records, layout).unwrap())
    }

    #[test]
    fn frames_stop_at_event_boundaries_and_skip_unchanged_books() {
        let mut player = Player::new(recording(), 1, 1, 5).unwrap();
        let snapshot = player.snapshot();
        assert_eq!((snapshot.kind, snapshot.index), (FrameKind::Snapshot, -1));
        // Target inside the trade event: the player finishes the event.
        let frames = player.advance(3).unwrap();
        let kinds: Vec<_> = frames.iter().map(|f| (f.kind, f.index)).collect();
        assert_eq!(kinds, vec![(FrameKind::Trade, 2), (FrameKind::Book, 4)]);
        assert!(frames[1].json.contains("\"asks\":[[102,3,1]]"));
        assert!(player.advance(5).unwrap().is_empty(), "no change, no frame");
        let frames = player.advance(6).unwrap();
        assert_eq!(frames.len(), 1);
        assert!(player.done());
        let timings = player.replay.recording().timings();
        let (advance, applied) = (timings.advance.counts(), timings.apply_stream.counts());
        assert_eq!((advance.count, applied.count), (3, 6));
        assert_eq!(timings.frame.counts().count, 3);
        assert_eq!(timings.apply_load.counts().count, 6);
    }

    #[test]
    fn seeking_inside_an_event_lands_on_its_end() {
        let mut player = Player::new(recording(), 1, 1, 5).unwrap();
        let trades = player.seek_index(2).unwrap();
        assert!(trades.is_empty()); // the trade is record 2 itself, before the resume point
        assert_eq!(player.index(), 4);
        let trades = player.seek_index(1).unwrap();
        assert!(trades.is_empty());
        assert_eq!(player.index(), 1);
        assert!(Player::new(recording(), 9, 9, 5).is_err());
    }
}
