//! Paged history over a [`Recording`]: the BBO after every event boundary, the trades and the
//! raw records of a range, as the JSON items the server sends (`GET /api/v1/bbo`, `/trades`,
//! `/records`). Derived from the blocks on demand (nothing besides the blocks is stored): a page
//! restores the newest checkpoint before its first row, then reads forward until it is full.

use std::fmt::Write as _;

use dbn::{flags, MboMsg, UNDEF_PRICE};

use super::recording::{market_at, Recording};
use crate::book::market::BookKey;
use crate::book::{Side, Top};
use crate::error::Result;

/// Which rows a page holds: those of one book (or every book), with index > `after`, with
/// `start <= ts_recv`, among the records up to `end` (as `Replay.seek(ts=end)` counts them),
/// at most `limit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageQuery {
    pub key: Option<BookKey>,
    pub after: Option<u64>,
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub limit: usize,
}

/// A page of JSON items (`[{…},…]`), how many, and the index of the last one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub json: String,
    pub rows: usize,
    pub last_index: Option<u64>,
}

impl Page {
    fn open() -> Self {
        Page {
            json: String::from("["),
            rows: 0,
            last_index: None,
        }
    }

    fn item(&mut self, index: u64) -> &mut String {
        if self.rows > 0 {
            self.json.push(',');
        }
        self.rows += 1;
        self.last_index = Some(index);
        &mut self.json
    }

    fn close(mut self) -> Self {
        self.json.push(']');
        self
    }
}

/// The record range `[from, to)` a query reads.
fn range(recording: &Recording, q: &PageQuery) -> Result<(usize, usize)> {
    let mut from = q.after.map_or(0, |a| a.saturating_add(1) as usize);
    if let Some(start) = q.start.filter(|&s| s > 0) {
        from = from.max(recording.position_at_ts(start - 1)?);
    }
    let to = match q.end {
        Some(end) => recording.position_at_ts(end)?,
        None => recording.len(),
    };
    Ok((from, to))
}

fn in_book(q: &PageQuery, msg: &MboMsg) -> bool {
    q.key
        .is_none_or(|k| k == (msg.hd.instrument_id, msg.hd.publisher_id))
}

fn in_time(q: &PageQuery, msg: &MboMsg) -> bool {
    q.start.is_none_or(|s| msg.ts_recv >= s)
}

fn push_px(out: &mut String, px: i64) {
    if px == UNDEF_PRICE {
        out.push_str("null");
    } else {
        let _ = write!(out, "{px}");
    }
}

fn side_char(byte: u8) -> char {
    match byte {
        b'A' | b'B' => byte as char,
        _ => 'N',
    }
}

fn head(out: &mut String, index: u64, msg: &MboMsg) {
    let _ = write!(
        out,
        "{{\"index\":{index},\"ts_recv\":{},\"ts_event\":{},\"instrument_id\":{},\"publisher_id\":{}",
        msg.ts_recv, msg.hd.ts_event, msg.hd.instrument_id, msg.hd.publisher_id
    );
}

fn top(out: &mut String, name: &str, t: Top) {
    let _ = write!(out, ",\"{name}_px\":");
    push_px(out, t.price);
    let size = u32::try_from(t.size).unwrap_or(u32::MAX);
    let _ = write!(out, ",\"{name}_sz\":{size},\"{name}_ct\":{}", t.count);
}

/// The best bid and offer after every F_LAST record of the page's range (`read_bbo`'s rows).
pub fn bbo_page(recording: &Recording, q: &PageQuery) -> Result<Page> {
    let (from, to) = range(recording, q)?;
    let mut page = Page::open();
    if from >= to || q.limit == 0 {
        return Ok(page.close());
    }
    let mut market = market_at(recording, from, q.key)?;
    recording.for_each(from, to, |index, msg| {
        if !in_book(q, msg) {
            return true;
        }
        let slot = market.apply(msg);
        if msg.flags.raw() & flags::LAST != 0 && in_time(q, msg) {
            let book = market.book_at(slot);
            let out = page.item(index as u64);
            head(out, index as u64, msg);
            top(out, "bid", book.top(Side::Bid));
            top(out, "ask", book.top(Side::Ask));
            out.push('}');
        }
        page.rows < q.limit
    })?;
    Ok(page.close())
}

/// The trades (`T` records) of the page's range.
pub fn trades_page(recording: &Recording, q: &PageQuery) -> Result<Page> {
    let (from, to) = range(recording, q)?;
    let mut page = Page::open();
    if q.limit == 0 {
        return Ok(page.close());
    }
    recording.for_each(from, to, |index, msg| {
        if msg.action as u8 == b'T' && in_book(q, msg) && in_time(q, msg) {
            let out = page.item(index as u64);
            head(out, index as u64, msg);
            out.push_str(",\"price\":");
            push_px(out, msg.price);
            let _ = write!(
                out,
                ",\"size\":{},\"side\":\"{}\"}}",
                msg.size,
                side_char(msg.side as u8)
            );
        }
        page.rows < q.limit
    })?;
    Ok(page.close())
}

/// The raw MBO records of the page's range.
pub fn records_page(recording: &Recording, q: &PageQuery) -> Result<Page> {
    let (from, to) = range(recording, q)?;
    let mut page = Page::open();
    if q.limit == 0 {
        return Ok(page.close());
    }
    recording.for_each(from, to, |index, msg| {
        if in_book(q, msg) && in_time(q, msg) {
            let out = page.item(index as u64);
            head(out, index as u64, msg);
            let _ = write!(out, ",\"order_id\":{},\"price\":", msg.order_id);
            push_px(out, msg.price);
            let action = msg.action as u8;
            let action = if action.is_ascii_graphic() {
                action as char
            } else {
                '?'
            };
            let _ = write!(
                out,
                ",\"size\":{},\"flags\":{},\"action\":\"{action}\",\"side\":\"{}\",\
                 \"sequence\":{},\"channel_id\":{},\"ts_in_delta\":{}}}",
                msg.size,
                msg.flags.raw(),
                side_char(msg.side as u8),
                msg.sequence,
                msg.channel_id,
                msg.ts_in_delta
            );
        }
        page.rows < q.limit
    })?;
    Ok(page.close())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{read_bbo, Filter};
    use crate::dbn::Source;
    use crate::store::Layout;

    fn session() -> Vec<u8> {
        let config = crate::synth::session::SessionConfig {
            seed: 2,
            records: 60_000,
            instruments: 2,
            ..Default::default()
        };
        crate::synth::session::simulate_dbn_bytes(&config, false).unwrap()
    }

    #[test]
    fn bbo_pages_are_read_bbo_rows_in_order() {
        let bytes = session();
        let rec = Recording::open(Source::Bytes(&bytes), Layout::new(1024, 4096).unwrap()).unwrap();
        let all = read_bbo(
            Source::Bytes(&bytes),
            Filter {
                instrument_id: Some(2),
                publisher_id: Some(1),
            },
        )
        .unwrap();
        let mut after = None;
        let mut seen = 0;
        loop {
            let q = PageQuery {
                key: Some((2, 1)),
                after,
                limit: 777,
                ..Default::default()
            };
            let page = bbo_page(&rec, &q).unwrap();
            if page.rows == 0 {
                break;
            }
            let first = all.keys.index[seen];
            assert!(page.json.starts_with(&format!("[{{\"index\":{first},")));
            seen += page.rows;
            assert_eq!(page.last_index, Some(all.keys.index[seen - 1]));
            let last_bid = all.bid.px[seen - 1];
            let expect = if last_bid == UNDEF_PRICE {
                "\"bid_px\":null".to_string()
            } else {
                format!("\"bid_px\":{last_bid}")
            };
            let last_item = page.json.rsplit("{\"index\"").next().unwrap();
            assert!(last_item.contains(&expect), "{last_item}");
            after = page.last_index;
        }
        assert_eq!(seen, all.keys.len());
    }

    #[test]
    fn time_ranges_and_trades() {
        let bytes = session();
        let rec = Recording::open(Source::Bytes(&bytes), Layout::new(1024, 4096).unwrap()).unwrap();
        let mut ts = Vec::new();
        rec.for_each(0, rec.len(), |_, m| {
            ts.push(m.ts_recv);
            true
        })
        .unwrap();
        let (start, end) = (ts[10_000], ts[20_000]);
        let q = PageQuery {
            start: Some(start),
            end: Some(end),
            limit: 1_000_000,
            ..Default::default()
        };
        let page = records_page(&rec, &q).unwrap();
        let expected = ts.iter().filter(|&&t| t >= start && t <= end).count();
        assert_eq!(page.rows, expected);
        let trades = trades_page(&rec, &q).unwrap();
        assert!(trades.rows > 0 && trades.json.contains("\"side\":"));
    }
}
