//! Sequence gaps and stale books. A record whose `sequence` jumps by more than `max_seq_jump`
//! past the last one on its `channel_id` is a gap: every book of that channel is stale (its
//! missed records may have changed it) until a clear (`R`) or snapshot record for it arrives.
//! After a reconnect every book is stale, and so is every book first seen from then on.

use dbn::{flags, MboMsg};

/// The gap and staleness state of a live market's books, by market slot.
pub(super) struct GapTracker {
    /// A sequence jump larger than this is a gap; 0 disables gap detection.
    max_seq_jump: u32,
    /// By channel: the last sequence seen.
    last_seq: Vec<Option<u32>>,
    /// By market slot: the channel its records came on, and whether it is stale.
    channel: Vec<u8>,
    stale: Vec<bool>,
    /// After a reconnect, books first seen are stale too (their earlier orders were missed).
    join_stale: bool,
}

impl GapTracker {
    pub(super) fn new(max_seq_jump: u32) -> Self {
        GapTracker {
            max_seq_jump,
            last_seq: vec![None; 256],
            channel: Vec::new(),
            stale: Vec::new(),
            join_stale: false,
        }
    }

    /// `msg` was applied to the book in market `slot` (a new slot is the next one). Returns the
    /// sequence numbers skipped when it follows a gap on its channel.
    #[inline]
    pub(super) fn on_record(&mut self, slot: usize, msg: &MboMsg) -> Option<u64> {
        if slot == self.stale.len() {
            self.channel.push(msg.channel_id);
            self.stale.push(self.join_stale);
        }
        self.channel[slot] = msg.channel_id;
        let action = msg.action as u8;
        if action == b'R' || msg.flags.raw() & flags::SNAPSHOT != 0 {
            self.stale[slot] = false;
        }
        if self.max_seq_jump == 0 {
            return None;
        }
        let mut missed = None;
        let last = &mut self.last_seq[usize::from(msg.channel_id)];
        if let Some(prev) = *last {
            if msg.sequence > prev.saturating_add(self.max_seq_jump) {
                missed = Some(u64::from(msg.sequence - prev - 1));
                let channel = msg.channel_id;
                for (s, stale) in self.stale.iter_mut().enumerate() {
                    if self.channel[s] == channel && s != slot {
                        *stale = true;
                    }
                }
                if action != b'R' {
                    self.stale[slot] = true;
                }
            }
        }
        // A sequence going back (a restarted feed) starts over from there.
        if last.is_none_or(|prev| msg.sequence >= prev || prev - msg.sequence > 1 << 20) {
            *last = Some(msg.sequence);
        }
        missed
    }

    /// A new connection: sequences start over; when records were applied before it, every book
    /// is stale, and so is every book first seen from now on.
    pub(super) fn reconnect(&mut self, had_records: bool) {
        self.last_seq.iter_mut().for_each(|s| *s = None);
        if had_records {
            self.stale.iter_mut().for_each(|s| *s = true);
            self.join_stale = true;
        }
    }

    /// Books seen so far (market slots `0..books()`).
    pub(super) fn books(&self) -> usize {
        self.stale.len()
    }

    pub(super) fn is_stale(&self, slot: usize) -> bool {
        self.stale[slot]
    }

    pub(super) fn stale_books(&self) -> usize {
        self.stale.iter().filter(|s| **s).count()
    }
}

#[cfg(test)]
mod tests {
    use crate::dbn::{MboStream, Source, MBO_LEN};
    use crate::live::LiveMarket;
    use crate::testing::clx5;

    #[test]
    fn gaps_mark_books_stale_until_a_clear() {
        let Some(bytes) = clx5() else { return };
        let mut stream = MboStream::open(Source::Bytes(&bytes)).unwrap();
        let meta_len = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let mut records = Vec::new();
        while let Some((_, msg)) = stream.next_mbo().unwrap() {
            records.push(msg);
            if records.len() == 1000 {
                break;
            }
        }
        let key = (records[0].hd.instrument_id, records[0].hd.publisher_id);
        // resequence contiguously, then drop record 500
        let mut out = bytes[..meta_len].to_vec();
        for (i, msg) in records.iter_mut().enumerate() {
            msg.sequence = 10 + i as u32;
            if i != 500 {
                out.extend_from_slice(AsRef::<[u8]>::as_ref(msg));
            }
        }
        let mut live = LiveMarket::new(1);
        live.feed(&out[..meta_len + 400 * MBO_LEN]).unwrap();
        assert_eq!((live.stats().gaps, live.is_stale(key)), (0, false));
        live.feed(&out[meta_len + 400 * MBO_LEN..]).unwrap();
        let stats = live.stats();
        assert_eq!((stats.gaps, stats.missed, stats.stale_books), (1, 1, 1));
        assert!(live.is_stale(key));
        // a clear of that book ends it
        let mut clear = records[999];
        clear.action = b'R' as _;
        clear.sequence = 2000;
        live.feed(AsRef::<[u8]>::as_ref(&clear)).unwrap();
        assert_eq!(live.stats().gaps, 2); // 1009 -> 2000 jumps too, but R clears the book
        assert!(!live.is_stale(key));
        // a reconnect marks every book stale
        live.reconnect();
        live.feed(&out[..meta_len]).unwrap();
        assert!(live.is_stale(key));
    }
}
