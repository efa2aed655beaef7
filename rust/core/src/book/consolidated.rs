//! Consolidated depth: one instrument's book summed over all its publishers. At each price, the
//! sizes and order counts of every publisher's level at that price add up, and the publishers
//! quoting it are listed. The top `depth` consolidated levels need only the top `depth` levels
//! of each publisher (a price among the best `depth` consolidated is among the best `depth` of
//! every publisher quoting it), so the work is O(depth × publishers), whatever the books' size.

use std::fmt::Write as _;

use super::json::write_level_object;
use super::market::Market;
use super::{Book, Level, Side, Top};

/// One consolidated price level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsolidatedLevel {
    pub price: i64,
    /// Summed over the publishers quoting the price.
    pub size: u64,
    pub count: u64,
    /// The publishers quoting the price, ascending.
    pub publishers: Vec<u16>,
}

/// The top levels of each side of one instrument's consolidated book, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consolidated {
    pub bids: Vec<ConsolidatedLevel>,
    pub asks: Vec<ConsolidatedLevel>,
}

impl Consolidated {
    /// Both sides present and the best bid at or through the best ask (crossed or locked).
    pub fn crossed(&self) -> bool {
        match (self.bids.first(), self.asks.first()) {
            (Some(bid), Some(ask)) => bid.price >= ask.price,
            _ => false,
        }
    }

    /// `{"bids":[…],"asks":[…],"crossed":…}`, each level `{"price","size","count"}`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"bids\":");
        write_levels(out, &self.bids);
        out.push_str(",\"asks\":");
        write_levels(out, &self.asks);
        let _ = write!(out, ",\"crossed\":{}}}", self.crossed());
    }
}

fn write_levels(out: &mut String, levels: &[ConsolidatedLevel]) {
    out.push('[');
    for (i, level) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_level_object(out, level.price, level.size, level.count);
        out.push('}');
    }
    out.push(']');
}

/// The top `depth` consolidated levels of one side over `books` (in publisher order).
fn merge_side(books: &[&Book], side: Side, depth: usize) -> Vec<ConsolidatedLevel> {
    let mut heads: Vec<_> = books
        .iter()
        .map(|book| (book.publisher_id, book.levels(side).peekable()))
        .collect();
    // "better" is "greater" under the side's sort key (bids by price, asks by inverted price)
    let key = |level: &Level| side.key(level.price);
    let mut out = Vec::new();
    while out.len() < depth {
        let Some(best) = heads
            .iter_mut()
            .filter_map(|(_, levels)| levels.peek().map(|l| key(l)))
            .max()
        else {
            break;
        };
        let mut merged: Option<ConsolidatedLevel> = None;
        for (publisher, levels) in &mut heads {
            let Some(level) = levels.next_if(|l| key(l) == best) else {
                continue;
            };
            let at = merged.get_or_insert_with(|| ConsolidatedLevel {
                price: level.price,
                size: 0,
                count: 0,
                publishers: Vec::new(),
            });
            at.size += level.size;
            at.count += u64::from(level.count);
            at.publishers.push(*publisher);
        }
        out.extend(merged);
    }
    out
}

impl Market {
    /// The books of one instrument, in publisher order.
    fn books_of(&self, instrument_id: u32) -> Vec<&Book> {
        let mut books = self.books();
        books.retain(|b| b.instrument_id == instrument_id);
        books
    }

    /// The top `depth` levels of each side of one instrument's book summed over its publishers
    /// (empty sides when the instrument has no book).
    pub fn consolidated(&self, instrument_id: u32, depth: usize) -> Consolidated {
        let books = self.books_of(instrument_id);
        Consolidated {
            bids: merge_side(&books, Side::Bid, depth),
            asks: merge_side(&books, Side::Ask, depth),
        }
    }

    /// Best bid and ask for an instrument across all of its publishers' books. At the best
    /// price, sizes and counts are summed over the books quoting it.
    pub fn consolidated_top(&self, instrument_id: u32) -> (Top, Top) {
        let top = |levels: Vec<ConsolidatedLevel>| {
            levels.first().map_or(Top::EMPTY, |l| Top {
                price: l.price,
                size: l.size,
                count: u32::try_from(l.count).unwrap_or(u32::MAX),
            })
        };
        let books = self.books_of(instrument_id);
        (
            top(merge_side(&books, Side::Bid, 1)),
            top(merge_side(&books, Side::Ask, 1)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{mbo_for, xorshift};

    /// Every publisher's every level summed per price by brute force, best first, cut at `depth`.
    fn brute_force(
        market: &Market,
        instrument_id: u32,
        side: Side,
        depth: usize,
    ) -> Vec<ConsolidatedLevel> {
        let mut by_price: std::collections::BTreeMap<i64, ConsolidatedLevel> = Default::default();
        for book in market.books() {
            if book.instrument_id != instrument_id {
                continue;
            }
            for level in book.levels(side) {
                let at = by_price.entry(level.price).or_insert(ConsolidatedLevel {
                    price: level.price,
                    size: 0,
                    count: 0,
                    publishers: Vec::new(),
                });
                at.size += level.size;
                at.count += u64::from(level.count);
                at.publishers.push(book.publisher_id);
            }
        }
        let mut levels: Vec<_> = by_price.into_values().collect();
        if side == Side::Bid {
            levels.reverse();
        }
        levels.truncate(depth);
        levels
    }

    #[test]
    fn matches_a_brute_force_sum_over_publishers() {
        let mut seed = 17u64;
        let mut market = Market::new();
        for order_id in 0..20_000u64 {
            let r = xorshift(&mut seed);
            let instrument_id = 1 + (r % 2) as u32;
            let publisher_id = 1 + (r >> 8) as u16 % 4;
            let side = if r >> 16 & 1 == 0 { b'B' } else { b'A' };
            // bids around 100, asks around 110: some overlap, so books cross at times
            let base = if side == b'B' { 100 } else { 110 };
            let price = base + (r >> 20) as i64 % 15 - 7;
            let action = if (r >> 40).is_multiple_of(3) && order_id > 10 {
                b'C'
            } else {
                b'A'
            };
            let id = if action == b'C' {
                order_id - 1 - (r >> 44) % 10
            } else {
                order_id
            };
            let size = 1 + (r >> 50) as u32 % 9;
            let msg = mbo_for(
                instrument_id,
                publisher_id,
                action,
                side,
                id,
                price,
                size,
                0x80,
            );
            market.apply(&msg);
            if order_id % 997 == 0 {
                for iid in [1, 2, 3] {
                    for depth in [1, 3, 10, 1000] {
                        let got = market.consolidated(iid, depth);
                        assert_eq!(got.bids, brute_force(&market, iid, Side::Bid, depth));
                        assert_eq!(got.asks, brute_force(&market, iid, Side::Ask, depth));
                    }
                    let (bid, ask) = market.consolidated_top(iid);
                    let first = |levels: Vec<ConsolidatedLevel>| {
                        levels.first().map_or(Top::EMPTY, |l| Top {
                            price: l.price,
                            size: l.size,
                            count: l.count as u32,
                        })
                    };
                    assert_eq!(bid, first(brute_force(&market, iid, Side::Bid, 1)));
                    assert_eq!(ask, first(brute_force(&market, iid, Side::Ask, 1)));
                }
            }
        }
        assert!(market
            .consolidated(1, 5)
            .bids
            .iter()
            .any(|l| l.publishers.len() > 1));
    }

    #[test]
    fn json_has_the_server_shape() {
        let mut market = Market::new();
        market.apply(&mbo_for(1, 1, b'A', b'B', 1, 100, 5, 0x80));
        market.apply(&mbo_for(1, 2, b'A', b'B', 2, 100, 3, 0x80));
        market.apply(&mbo_for(1, 2, b'A', b'A', 3, 100, 1, 0x80));
        let mut out = String::new();
        market.consolidated(1, 10).write_json(&mut out);
        assert_eq!(
            out,
            r#"{"bids":[{"price":100,"size":8,"count":2}],"asks":[{"price":100,"size":1,"count":1}],"crossed":true}"#
        );
    }
}
