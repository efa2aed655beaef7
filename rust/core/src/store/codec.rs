//! The bytes of a stored block and of a stored checkpoint.
//!
//! **Block**: the raw 56-byte DBN MBO records of a run of the stream, byte-shuffled (byte `b` of
//! every record, then byte `b + 1`, ...: timestamps, ids and prices then sit in long runs of
//! similar bytes) and compressed as one zstd frame with its content checksum. On a simulated
//! 8-instrument session shuffling takes zstd level 1 from 3.5x to 4.6x at 4,096 records a block
//! (the `.dbn.zst` the simulator writes is 3.5x). A block says nothing about itself: its record
//! count comes from the index (the database row), and decoding checks the frame against it, so a
//! corrupt or foreign blob is a typed error, never a wrong record.
//!
//! **Checkpoint**: every book of a market as the core's snapshot records (`book/snapshot.rs`:
//! applied to an empty market they rebuild the same levels, queues and flags), grouped by book
//! behind a directory, so one book can be restored without the others, and each book's anomaly
//! counters (which the records cannot carry). Layout before compression, little-endian:
//! `b"MBOCKPT1"`, u32 book count, then per book `instrument_id u32, publisher_id u16, pad u16,
//! first record u32, records u32, 9 × u64 anomalies` (88 bytes), then the records (56 bytes each,
//! unshuffled: checkpoints are a few percent of the data).

use dbn::MboMsg;

use crate::book::market::{BookKey, Market};
use crate::book::snapshot::{book_snapshot, Stamp};
use crate::book::Anomalies;
use crate::error::{try_reserve, Error, Result};

/// Bytes per stored record: a DBN MBO record (`dbn::MboMsg`).
pub const RECORD_LEN: usize = std::mem::size_of::<MboMsg>();
/// `RecordHeader::length` of a stored record, in 4-byte words.
const RECORD_WORDS: u8 = (RECORD_LEN / 4) as u8;
/// zstd level of blocks and checkpoints: level 1 keeps an import near decode speed; higher
/// levels gained little on shuffled records (see the README's storage figures).
pub const ZSTD_LEVEL: i32 = 1;
/// A checkpoint larger than this decompressed is refused as corrupt (every book of a CME day
/// holds a few hundred thousand orders: ~20 MB).
pub const MAX_CHECKPOINT_BYTES: usize = 1 << 30;

const CHECKPOINT_MAGIC: &[u8; 8] = b"MBOCKPT1";
const DIR_ENTRY_LEN: usize = 4 + 2 + 2 + 4 + 4 + 9 * 8;

/// The 56 bytes of `msg` as stored: a record decoded from a `ts_out` stream claims 64 bytes in
/// its header, so the length is rewritten rather than trusted.
#[inline]
pub fn record_bytes(msg: &MboMsg) -> [u8; RECORD_LEN] {
    // SAFETY: `MboMsg` is `repr(C)` plain old data of exactly `RECORD_LEN` bytes with no padding.
    let mut bytes = unsafe { std::mem::transmute::<MboMsg, [u8; RECORD_LEN]>(*msg) };
    bytes[0] = RECORD_WORDS; // `RecordHeader::length`, the first byte
    bytes
}

/// Reused buffers and zstd contexts of one encoding thread.
pub struct Encoder {
    compressor: zstd::bulk::Compressor<'static>,
    shuffled: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Result<Self> {
        let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(zstd_error)?;
        compressor
            .set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(true))
            .map_err(zstd_error)?;
        Ok(Encoder {
            compressor,
            shuffled: Vec::new(),
        })
    }

    /// One block's data from `records` (a whole number of stored records).
    pub fn encode_block(&mut self, records: &[u8]) -> Result<Vec<u8>> {
        debug_assert_eq!(records.len() % RECORD_LEN, 0);
        self.shuffled.clear();
        try_reserve(&mut self.shuffled, records.len(), "a block being stored")?;
        shuffle(records, &mut self.shuffled);
        compress(&mut self.compressor, &self.shuffled)
    }

    /// A checkpoint of every book of `market` (books in key order), stamped `stamp`.
    pub fn encode_checkpoint(&mut self, market: &Market, stamp: Stamp) -> Result<Vec<u8>> {
        let books = market.books();
        let mut records = Vec::new();
        let mut raw = Vec::with_capacity(12 + books.len() * DIR_ENTRY_LEN);
        raw.extend_from_slice(CHECKPOINT_MAGIC);
        raw.extend_from_slice(&(books.len() as u32).to_le_bytes());
        for book in &books {
            let first = records.len();
            book_snapshot(book, stamp, &mut records);
            raw.extend_from_slice(&book.instrument_id.to_le_bytes());
            raw.extend_from_slice(&book.publisher_id.to_le_bytes());
            raw.extend_from_slice(&[0, 0]);
            raw.extend_from_slice(&(first as u32).to_le_bytes());
            raw.extend_from_slice(&((records.len() - first) as u32).to_le_bytes());
            for (_, count) in book.anomalies.as_pairs() {
                raw.extend_from_slice(&count.to_le_bytes());
            }
        }
        try_reserve(&mut raw, records.len() * RECORD_LEN, "a checkpoint")?;
        for msg in &records {
            raw.extend_from_slice(&record_bytes(msg));
        }
        compress(&mut self.compressor, &raw)
    }
}

/// Reused buffers and zstd context of one decoding thread.
pub struct Decoder {
    decompressor: zstd::bulk::Decompressor<'static>,
    shuffled: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Result<Self> {
        Ok(Decoder {
            decompressor: zstd::bulk::Decompressor::new().map_err(zstd_error)?,
            shuffled: Vec::new(),
        })
    }

    /// The `records` records of a block's data. Any mismatch (a corrupt blob, a checksum error,
    /// another record count) is an error naming `what`.
    pub fn decode_block(&mut self, data: &[u8], records: usize, what: &str) -> Result<Vec<MboMsg>> {
        let len = records
            .checked_mul(RECORD_LEN)
            .ok_or_else(|| corrupt(what, "absurd record count"))?;
        self.shuffled.clear();
        try_reserve(&mut self.shuffled, len, "a block being read")?;
        let got = self
            .decompressor
            .decompress_to_buffer(data, &mut self.shuffled)
            .map_err(|err| corrupt(what, &err.to_string()))?;
        if got != len {
            return Err(corrupt(
                what,
                &format!("{got} bytes where {records} records need {len}"),
            ));
        }
        let mut out: Vec<MboMsg> = Vec::new();
        try_reserve(&mut out, records, "a block being read")?;
        // SAFETY: `out` has capacity for `records` records; `unshuffle` writes every byte of
        // them, and any bit pattern is a valid `MboMsg` (integers only).
        unsafe {
            let bytes = std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), len);
            unshuffle(&self.shuffled, bytes);
            out.set_len(records);
        }
        Ok(out)
    }

    /// Decompress a checkpoint (checked against [`MAX_CHECKPOINT_BYTES`]).
    pub fn decode_checkpoint(&mut self, data: &[u8], what: &str) -> Result<Checkpoint> {
        let size = zstd::zstd_safe::get_frame_content_size(data)
            .ok()
            .flatten()
            .ok_or_else(|| corrupt(what, "not a checkpoint"))?;
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_CHECKPOINT_BYTES)
            .ok_or_else(|| corrupt(what, "checkpoint size out of range"))?;
        let mut raw = Vec::new();
        try_reserve(&mut raw, size, "a checkpoint being read")?;
        let got = self
            .decompressor
            .decompress_to_buffer(data, &mut raw)
            .map_err(|err| corrupt(what, &err.to_string()))?;
        if got != size {
            return Err(corrupt(what, "checkpoint size mismatch"));
        }
        Checkpoint::parse(raw, what)
    }
}

/// A decoded checkpoint: restores books into a market.
pub struct Checkpoint {
    raw: Vec<u8>,
    /// (key, first record, records, directory offset) per book.
    books: Vec<(BookKey, usize, usize, usize)>,
    records_at: usize,
}

impl Checkpoint {
    fn parse(raw: Vec<u8>, what: &str) -> Result<Self> {
        let bad = || corrupt(what, "malformed checkpoint");
        if raw.len() < 12 || &raw[..8] != CHECKPOINT_MAGIC {
            return Err(bad());
        }
        let n = u32::from_le_bytes(raw[8..12].try_into().unwrap()) as usize;
        let records_at = n
            .checked_mul(DIR_ENTRY_LEN)
            .and_then(|d| d.checked_add(12))
            .filter(|&end| end <= raw.len())
            .ok_or_else(bad)?;
        let total = (raw.len() - records_at) / RECORD_LEN;
        if !(raw.len() - records_at).is_multiple_of(RECORD_LEN) {
            return Err(bad());
        }
        let mut books = Vec::with_capacity(n);
        for i in 0..n {
            let at = 12 + i * DIR_ENTRY_LEN;
            let e = &raw[at..at + DIR_ENTRY_LEN];
            let key = (
                u32::from_le_bytes(e[0..4].try_into().unwrap()),
                u16::from_le_bytes(e[4..6].try_into().unwrap()),
            );
            let first = u32::from_le_bytes(e[8..12].try_into().unwrap()) as usize;
            let count = u32::from_le_bytes(e[12..16].try_into().unwrap()) as usize;
            if first.checked_add(count).is_none_or(|end| end > total) {
                return Err(bad());
            }
            books.push((key, first, count, at + 16));
        }
        Ok(Checkpoint {
            raw,
            books,
            records_at,
        })
    }

    /// Bytes held decoded.
    pub fn decoded_bytes(&self) -> usize {
        self.raw.len()
    }

    /// Every book key the checkpoint holds, in key order.
    pub fn keys(&self) -> impl Iterator<Item = BookKey> + '_ {
        self.books.iter().map(|b| b.0)
    }

    /// Rebuild every book (or only `only`) in `market`, which should be empty.
    pub fn restore(&self, market: &mut Market, only: Option<BookKey>) {
        for &(key, first, count, anomalies_at) in &self.books {
            if only.is_some_and(|k| k != key) {
                continue;
            }
            let mut slot = None;
            for i in first..first + count {
                let at = self.records_at + i * RECORD_LEN;
                let bytes: &[u8; RECORD_LEN] =
                    self.raw[at..at + RECORD_LEN].try_into().expect("length");
                // SAFETY: any 56 bytes are a valid `MboMsg` (integers only); read unaligned.
                let msg = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<MboMsg>()) };
                slot = Some(market.apply(&msg));
            }
            if let Some(slot) = slot {
                let a = &self.raw[anomalies_at..anomalies_at + 72];
                let v = |k: usize| u64::from_le_bytes(a[k * 8..k * 8 + 8].try_into().unwrap());
                market.book_at_mut(slot).anomalies = Anomalies {
                    cancel_unknown: v(0),
                    cancel_oversize: v(1),
                    add_duplicate: v(2),
                    modify_unknown_as_add: v(3),
                    modify_to_zero: v(4),
                    modify_side_change: v(5),
                    side_n_book_action: v(6),
                    fill_unknown: v(7),
                    unknown_action: v(8),
                };
            }
        }
    }
}

/// Transpose an 8x8 byte matrix held as eight little-endian rows (byte `j` of `x[i]` becomes
/// byte `i` of `x[j]`): three rounds of block swaps (4, 2, then 1 byte wide). Its own inverse.
#[inline(always)]
fn transpose8(x: &mut [u64; 8]) {
    for i in 0..4 {
        let (a, b) = (x[i], x[i + 4]);
        x[i] = (a & 0xFFFF_FFFF) | (b << 32);
        x[i + 4] = (a >> 32) | (b & 0xFFFF_FFFF_0000_0000);
    }
    let m = 0x0000_FFFF_0000_FFFF_u64;
    for i in [0, 1, 4, 5] {
        let (a, b) = (x[i], x[i + 2]);
        x[i] = (a & m) | ((b & m) << 16);
        x[i + 2] = ((a >> 16) & m) | (b & !m);
    }
    let m = 0x00FF_00FF_00FF_00FF_u64;
    for i in [0, 2, 4, 6] {
        let (a, b) = (x[i], x[i + 1]);
        x[i] = (a & m) | ((b & m) << 8);
        x[i + 1] = ((a >> 8) & m) | (b & !m);
    }
}

const WORDS: usize = RECORD_LEN / 8;

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Byte-transpose fixed-length records: all first bytes, then all second bytes, ... Eight
/// records at a time as 8x8 byte tiles (17x the byte-by-byte loop: 1.7 GB/s here).
fn shuffle(records: &[u8], out: &mut Vec<u8>) {
    let n = records.len() / RECORD_LEN;
    out.clear();
    out.resize(records.len(), 0);
    let whole = n / 8 * 8;
    for r in (0..whole).step_by(8) {
        for w in 0..WORDS {
            let mut x = [0u64; 8];
            for (i, v) in x.iter_mut().enumerate() {
                *v = word(records, (r + i) * RECORD_LEN + w * 8);
            }
            transpose8(&mut x);
            for (k, v) in x.iter().enumerate() {
                let at = (w * 8 + k) * n + r;
                out[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    for r in whole..n {
        for b in 0..RECORD_LEN {
            out[b * n + r] = records[r * RECORD_LEN + b];
        }
    }
}

/// The inverse of [`shuffle`]; `out.len() == shuffled.len()`.
fn unshuffle(shuffled: &[u8], out: &mut [u8]) {
    let n = shuffled.len() / RECORD_LEN;
    let whole = n / 8 * 8;
    for r in (0..whole).step_by(8) {
        for w in 0..WORDS {
            let mut x = [0u64; 8];
            for (k, v) in x.iter_mut().enumerate() {
                *v = word(shuffled, (w * 8 + k) * n + r);
            }
            transpose8(&mut x);
            for (i, v) in x.iter().enumerate() {
                let at = (r + i) * RECORD_LEN + w * 8;
                out[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    for r in whole..n {
        for b in 0..RECORD_LEN {
            out[r * RECORD_LEN + b] = shuffled[b * n + r];
        }
    }
}

/// Compress into a buffer reserved fallibly (the zstd crate's own would abort on failure).
fn compress(compressor: &mut zstd::bulk::Compressor<'static>, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    try_reserve(
        &mut out,
        zstd::zstd_safe::compress_bound(data.len()),
        "compressed blocks",
    )?;
    compressor
        .compress_to_buffer(data, &mut out)
        .map_err(zstd_error)?;
    Ok(out)
}

fn corrupt(what: &str, why: &str) -> Error {
    Error::decode(format!("corrupt stored data in {what}: {why}"), None)
}

fn zstd_error(err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::OutOfMemory {
        return Error::out_of_memory(format!("zstd ({err})"), 0);
    }
    Error::decode(format!("zstd: {err}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mbo_for;

    fn records(n: u64) -> Vec<MboMsg> {
        (0..n)
            .map(|i| {
                let mut m = mbo_for(
                    1 + (i % 3) as u32,
                    1,
                    b'A',
                    if i % 2 == 0 { b'B' } else { b'A' },
                    i,
                    100 + (i % 5) as i64,
                    1,
                    0x80,
                );
                m.ts_recv = 1_000 + i;
                m
            })
            .collect()
    }

    fn bytes_of(records: &[MboMsg]) -> Vec<u8> {
        records.iter().flat_map(record_bytes).collect()
    }

    #[test]
    fn blocks_round_trip_and_reject_corruption() {
        let recs = records(5000);
        let mut enc = Encoder::new().unwrap();
        let mut dec = Decoder::new().unwrap();
        let data = enc.encode_block(&bytes_of(&recs)).unwrap();
        assert!(data.len() < recs.len() * RECORD_LEN / 4, "{}", data.len());
        let back = dec.decode_block(&data, recs.len(), "block 0").unwrap();
        assert_eq!(bytes_of(&back), bytes_of(&recs));
        // another record count, a flipped bit, garbage: typed errors naming the block
        assert!(dec.decode_block(&data, recs.len() - 1, "block 0").is_err());
        let mut flipped = data.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x10;
        let err = dec
            .decode_block(&flipped, recs.len(), "block 7")
            .unwrap_err();
        assert!(err.to_string().contains("block 7"), "{err}");
        assert!(dec.decode_block(b"garbage", 10, "b").is_err());
        assert!(dec.decode_block(&data, usize::MAX / 8, "b").is_err());
    }

    #[test]
    fn shuffling_is_a_byte_transpose_of_any_record_count() {
        for n in [0usize, 1, 7, 8, 9, 4095, 4096] {
            let records: Vec<u8> = (0..n * RECORD_LEN).map(|i| (i * 31 % 251) as u8).collect();
            let mut out = Vec::new();
            shuffle(&records, &mut out);
            for r in 0..n {
                for b in 0..RECORD_LEN {
                    assert_eq!(out[b * n + r], records[r * RECORD_LEN + b], "{n} {r} {b}");
                }
            }
            let mut back = vec![0; out.len()];
            unshuffle(&out, &mut back);
            assert_eq!(back, records);
        }
    }

    #[test]
    fn a_ts_out_length_is_not_trusted() {
        let mut raw = record_bytes(&records(1)[0]);
        raw[0] = 255; // claims 1,020 bytes
                      // SAFETY: any 56 bytes are a valid `MboMsg`.
        let msg = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast::<MboMsg>()) };
        let bytes = record_bytes(&msg);
        assert_eq!(bytes[0] as usize * 4, RECORD_LEN);
    }

    #[test]
    fn checkpoints_restore_books_and_anomalies() {
        let mut market = Market::new();
        for m in records(3000) {
            market.apply(&m);
        }
        let mut cancel = records(1)[0];
        cancel.action = b'C' as _;
        cancel.order_id = 999_999;
        market.apply(&cancel); // an anomaly
        let mut enc = Encoder::new().unwrap();
        let data = enc.encode_checkpoint(&market, Stamp::default()).unwrap();
        let ck = Decoder::new()
            .unwrap()
            .decode_checkpoint(&data, "checkpoint")
            .unwrap();
        let mut restored = Market::new();
        ck.restore(&mut restored, None);
        assert_eq!(
            crate::book::json::market_json(&restored),
            crate::book::json::market_json(&market)
        );
        let mut one = Market::new();
        ck.restore(&mut one, Some((2, 1)));
        assert_eq!(one.keys(), vec![(2, 1)]);
        assert!(Decoder::new()
            .unwrap()
            .decode_checkpoint(&data[..data.len() - 3], "c")
            .is_err());
    }
}
