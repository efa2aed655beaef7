//! JSON forms of books: the final-state document (`mbo-fast book`) and the JSON-lines depth
//! export (`mbo-fast export`). Written by hand: every value is an integer, a bool or a string we
//! format ourselves, and the export runs over millions of rows.

use std::fmt::Write as _;
use std::io::Write;

use crate::book::{Book, Side};
use dbn::MboMsg;

use crate::capture::{for_each_boundary, Boundary, Filter};
use crate::decode::Source;
use crate::error::{Error, Result};
use crate::fmt::{write_iso_nanos, write_price};
use crate::market::Market;

/// `{"books":[...]}` with every book's levels, L3 queues and anomalies, books sorted by key.
pub fn market_json(market: &Market) -> String {
    let mut out = String::from("{\"books\":[");
    for (i, book) in market.books().into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_book_json(&mut out, book);
    }
    out.push_str("]}");
    out
}

pub fn write_book_json(out: &mut String, book: &Book) {
    let _ = write!(
        out,
        "{{\"instrument_id\":{},\"publisher_id\":{},\"bids\":",
        book.instrument_id, book.publisher_id
    );
    write_levels(out, book, Side::Bid, usize::MAX);
    out.push_str(",\"asks\":");
    write_levels(out, book, Side::Ask, usize::MAX);
    out.push_str(",\"bid_orders\":");
    write_queues(out, book, Side::Bid);
    out.push_str(",\"ask_orders\":");
    write_queues(out, book, Side::Ask);
    out.push_str(",\"anomalies\":{");
    for (i, (name, count)) in book.anomalies.as_pairs().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{name}\":{count}");
    }
    out.push_str("}}");
}

/// `[[price,size,count],...]`, best first.
fn write_levels(out: &mut String, book: &Book, side: Side, depth: usize) {
    out.push('[');
    for (i, level) in book.levels(side).take(depth).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{},{},{}]", level.price, level.size, level.count);
    }
    out.push(']');
}

/// `[{"price":px,"orders":[[order_id,size],...]},...]`, best level first, queue order inside.
fn write_queues(out: &mut String, book: &Book, side: Side) {
    out.push('[');
    for (i, level) in book.levels(side).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"price\":{},\"orders\":[", level.price);
        for (j, (order_id, size)) in book.queue(level).enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{order_id},{size}]");
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// One JSON line per F_LAST boundary:
/// `{"index":…,"ts_recv":…,"ts_recv_iso":"…","ts_event":…,"ts_event_iso":"…","instrument_id":…,
/// "publisher_id":…,"action":"A","side":"B","flags":130,"crossed":false,
/// "bids":[["65.43",12,3],…],"asks":[…]}` with decimal-string prices, best level first.
/// Returns the number of lines written.
pub fn export_depth_jsonl(
    source: Source<'_>,
    depth: usize,
    filter: Filter,
    writer: &mut dyn Write,
    output_name: &str,
) -> Result<u64> {
    let mut sink = JsonLines {
        depth,
        writer,
        line: String::with_capacity(512),
        lines: 0,
        error: None,
    };
    for_each_boundary(source, filter, &mut sink)?;
    let output_error = |err| Error::Output {
        path: output_name.to_owned(),
        source: err,
    };
    if let Some(err) = sink.error {
        return Err(output_error(err));
    }
    sink.writer.flush().map_err(output_error)?;
    Ok(sink.lines)
}

struct JsonLines<'w> {
    depth: usize,
    writer: &'w mut dyn Write,
    line: String,
    lines: u64,
    /// The first write error; later boundaries are skipped.
    error: Option<std::io::Error>,
}

impl Boundary for JsonLines<'_> {
    fn visit(&mut self, index: u64, msg: &MboMsg, book: &Book) {
        if self.error.is_some() {
            return;
        }
        let line = &mut self.line;
        line.clear();
        let _ = write!(
            line,
            "{{\"index\":{index},\"ts_recv\":{},\"ts_recv_iso\":\"",
            msg.ts_recv
        );
        write_iso_nanos(line, msg.ts_recv);
        let _ = write!(
            line,
            "\",\"ts_event\":{},\"ts_event_iso\":\"",
            msg.hd.ts_event
        );
        write_iso_nanos(line, msg.hd.ts_event);
        let _ = write!(
            line,
            "\",\"instrument_id\":{},\"publisher_id\":{},\"action\":\"{}\",\"side\":\"{}\",\
             \"flags\":{},\"crossed\":{},\"bids\":",
            msg.hd.instrument_id,
            msg.hd.publisher_id,
            json_char(msg.action as u8),
            json_char(msg.side as u8),
            msg.flags.raw(),
            book.crossed()
        );
        write_decimal_levels(line, book, Side::Bid, self.depth);
        line.push_str(",\"asks\":");
        write_decimal_levels(line, book, Side::Ask, self.depth);
        line.push_str("}\n");
        match self.writer.write_all(line.as_bytes()) {
            Ok(()) => self.lines += 1,
            Err(err) => self.error = Some(err),
        }
    }

    fn stopped(&self) -> bool {
        self.error.is_some()
    }
}

fn write_decimal_levels(out: &mut String, book: &Book, side: Side, depth: usize) {
    out.push('[');
    for (i, level) in book.levels(side).take(depth).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        write_price(out, level.price);
        let _ = write!(out, "\",{},{}]", level.size, level.count);
    }
    out.push(']');
}

/// A record's action/side byte as a JSON-safe one-character string.
fn json_char(byte: u8) -> char {
    if byte.is_ascii_alphanumeric() {
        byte as char
    } else {
        '?'
    }
}
