//! The indicative uncross of a crossed (or locked) book: the single price at which an opening
//! auction would match the most volume, without touching the book.
//!
//! Rules, in order (see the README's "Indicative uncross"):
//! 1. maximise the executable volume `min(bids at >= p, asks at <= p)`;
//! 2. then minimise `|imbalance|` (`bids at >= p - asks at <= p`);
//! 3. then the price nearest the reference: the caller's (e.g. the last trade or the previous
//!    settlement), else the midpoint of the best bid and the best ask, compared exactly (in
//!    half-ticks of 1e-9, no rounding);
//! 4. then the lower price.
//!
//! Candidates are the level prices of both sides. Only prices in `[best ask, best bid]` can
//! execute anything, so only the levels in that range are read: O(crossing levels).

use crate::book::{Book, Side};

/// The result of [`indicative_uncross`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uncross {
    /// The uncross price (a level price of one of the sides), 1e-9 units.
    pub price: i64,
    /// Executable volume at `price`: `min(bid_volume, ask_volume)` (always > 0).
    pub volume: u64,
    /// Cumulative bid size at prices >= `price`.
    pub bid_volume: u64,
    /// Cumulative ask size at prices <= `price`.
    pub ask_volume: u64,
    /// `bid_volume - ask_volume` (saturated to the i64 range): > 0 leaves buyers unfilled.
    pub imbalance: i64,
}

/// The indicative uncross of `book`, or `None` when nothing can execute (a side is empty or the
/// best bid is below the best ask). `reference` breaks ties between prices matching the same
/// volume with the same imbalance; `None` uses the midpoint of the best bid and best ask.
pub fn indicative_uncross(book: &Book, reference: Option<i64>) -> Option<Uncross> {
    let best_bid = book.levels(Side::Bid).next()?.price;
    let best_ask = book.levels(Side::Ask).next()?.price;
    if best_bid < best_ask {
        return None;
    }
    // The crossing levels: bids at >= best ask (best first = descending price) and asks at
    // <= best bid, reversed to descending price too, so one descending walk serves both.
    let bids: Vec<(i64, u64)> = book
        .levels(Side::Bid)
        .take_while(|l| l.price >= best_ask)
        .map(|l| (l.price, l.size))
        .collect();
    let mut asks: Vec<(i64, u64)> = book
        .levels(Side::Ask)
        .take_while(|l| l.price <= best_bid)
        .map(|l| (l.price, l.size))
        .collect();
    asks.reverse();

    // Distances are compared doubled so the midpoint needs no rounding.
    let reference2 = match reference {
        Some(price) => 2 * i128::from(price),
        None => i128::from(best_bid) + i128::from(best_ask),
    };

    // Walk the candidate prices from the highest down: the bid volume at >= p grows as bids are
    // passed; the ask volume at <= p starts at the total and shrinks as asks are passed.
    let mut ask_volume: u64 = asks.iter().map(|&(_, size)| size).sum();
    let mut bid_volume: u64 = 0;
    let (mut i, mut j) = (0, 0);
    let mut best: Option<(Uncross, u64, u128)> = None;
    loop {
        let price = match (bids.get(i), asks.get(j)) {
            (Some(&(bp, _)), Some(&(ap, _))) => bp.max(ap),
            (Some(&(bp, _)), None) => bp,
            (None, Some(&(ap, _))) => ap,
            (None, None) => break,
        };
        if let Some(&(bp, size)) = bids.get(i) {
            if bp == price {
                bid_volume += size;
                i += 1;
            }
        }
        let volume = bid_volume.min(ask_volume);
        if volume > 0 {
            let imbalance = i128::from(bid_volume) - i128::from(ask_volume);
            let candidate = Uncross {
                price,
                volume,
                bid_volume,
                ask_volume,
                imbalance: imbalance.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            };
            let abs_imbalance = imbalance.unsigned_abs() as u64;
            let distance = (2 * i128::from(price) - reference2).unsigned_abs();
            // Descending walk: on a full tie the later (lower) price wins, hence `<=`.
            let better = match &best {
                None => true,
                Some((b, b_imb, b_dist)) => {
                    (std::cmp::Reverse(volume), abs_imbalance, distance)
                        <= (std::cmp::Reverse(b.volume), *b_imb, *b_dist)
                }
            };
            if better {
                best = Some((candidate, abs_imbalance, distance));
            }
        }
        // An ask at this price counts here, not at the lower prices that follow.
        if let Some(&(ap, size)) = asks.get(j) {
            if ap == price {
                ask_volume -= size;
                j += 1;
            }
        }
    }
    best.map(|(uncross, _, _)| uncross)
}

impl Book {
    /// [`indicative_uncross`] of this book.
    pub fn indicative_uncross(&self, reference: Option<i64>) -> Option<Uncross> {
        indicative_uncross(self, reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mbo;
    use dbn::UNDEF_PRICE;

    /// A book from `(side, price, size)` orders (ids 1, 2, ...), each record with F_LAST.
    fn book(orders: &[(u8, i64, u32)]) -> Book {
        let mut book = Book::new(1, 1);
        for (id, &(side, price, size)) in orders.iter().enumerate() {
            book.apply(&mbo(b'A', side, id as u64 + 1, price, size, 0x80));
        }
        book
    }

    fn uncross(price: i64, bid_volume: u64, ask_volume: u64) -> Uncross {
        Uncross {
            price,
            volume: bid_volume.min(ask_volume),
            bid_volume,
            ask_volume,
            imbalance: bid_volume as i64 - ask_volume as i64,
        }
    }

    #[test]
    fn simple_cross() {
        // bids 103x5, 101x10, 99x7 ; asks 100x4, 102x6, 104x3.
        // p=100: bids>=100 15, asks<=100 4 -> 4; p=101: 15 vs 4 -> 4;
        // p=102: 5 vs 10 -> 5; p=103: 5 vs 10 -> 5. Tie at 5: |imb| 5 both; mid = 101.5,
        // 102 is nearer than 103.
        let b = book(&[
            (b'B', 103, 5),
            (b'B', 101, 10),
            (b'B', 99, 7),
            (b'A', 100, 4),
            (b'A', 102, 6),
            (b'A', 104, 3),
        ]);
        assert_eq!(indicative_uncross(&b, None), Some(uncross(102, 5, 10)));
    }

    #[test]
    fn single_crossing_levels() {
        // bid 105x3 vs ask 100x8: candidates 100 and 105 both give 3 with imbalance -5; mid
        // 102.5 is equidistant: the lower price wins.
        let b = book(&[(b'B', 105, 3), (b'A', 100, 8)]);
        assert_eq!(indicative_uncross(&b, None), Some(uncross(100, 3, 8)));
        // A reference decides.
        assert_eq!(indicative_uncross(&b, Some(104)), Some(uncross(105, 3, 8)));
        assert_eq!(indicative_uncross(&b, Some(102)), Some(uncross(100, 3, 8)));
    }

    #[test]
    fn locked_book() {
        let b = book(&[
            (b'B', 100, 5),
            (b'B', 99, 9),
            (b'A', 100, 3),
            (b'A', 101, 9),
        ]);
        assert!(b.crossed());
        assert_eq!(indicative_uncross(&b, None), Some(uncross(100, 5, 3)));
    }

    #[test]
    fn volume_tie_decided_by_imbalance() {
        // bids 104x6, 102x4 ; asks 101x6, 103x2.
        // p=101: 10 vs 6 -> 6 (imb 4); p=102: 10 vs 6 -> 6 (imb 4); p=103: 6 vs 8 -> 6 (imb -2);
        // p=104: 6 vs 8 -> 6 (imb -2). |imb| 2 at 103 and 104; mid 102.5 -> 103.
        let b = book(&[
            (b'B', 104, 6),
            (b'B', 102, 4),
            (b'A', 101, 6),
            (b'A', 103, 2),
        ]);
        assert_eq!(indicative_uncross(&b, None), Some(uncross(103, 6, 8)));
        // The reference only breaks ties left by the imbalance: 101 is not chosen even there.
        assert_eq!(indicative_uncross(&b, Some(101)), Some(uncross(103, 6, 8)));
        assert_eq!(indicative_uncross(&b, Some(110)), Some(uncross(104, 6, 8)));
    }

    #[test]
    fn volume_beats_imbalance() {
        // bids 105x10 ; asks 100x2, 104x8. p=100: 10 vs 2 -> 2; p=104: 10 vs 10 -> 10;
        // p=105: 10 vs 10 -> 10 (imb 0 both); mid 102.5 -> 104.
        let b = book(&[(b'B', 105, 10), (b'A', 100, 2), (b'A', 104, 8)]);
        assert_eq!(indicative_uncross(&b, None), Some(uncross(104, 10, 10)));
    }

    #[test]
    fn ties_decided_by_reference() {
        // bids 110x5 ; asks 100x5: 100..=110 all give 5 with imbalance 0.
        let b = book(&[
            (b'B', 110, 5),
            (b'A', 100, 5),
            (b'B', 90, 1),
            (b'A', 120, 1),
        ]);
        assert_eq!(indicative_uncross(&b, Some(109)).unwrap().price, 110);
        assert_eq!(indicative_uncross(&b, Some(50)).unwrap().price, 100);
        // Mid 105 equidistant from 100 and 110: the lower.
        assert_eq!(indicative_uncross(&b, None).unwrap().price, 100);
        // Extreme references do not overflow.
        assert_eq!(indicative_uncross(&b, Some(i64::MAX)).unwrap().price, 110);
        assert_eq!(indicative_uncross(&b, Some(i64::MIN)).unwrap().price, 100);
    }

    #[test]
    fn not_crossed_one_sided_or_empty_is_none() {
        assert_eq!(indicative_uncross(&Book::new(1, 1), None), None);
        assert_eq!(indicative_uncross(&book(&[(b'B', 100, 5)]), None), None);
        assert_eq!(
            indicative_uncross(&book(&[(b'A', 100, 5)]), Some(100)),
            None
        );
        let spread = book(&[(b'B', 99, 5), (b'A', 100, 5)]);
        assert!(!spread.crossed());
        assert_eq!(indicative_uncross(&spread, None), None);
    }

    #[test]
    fn top_of_book_levels_without_orders_count() {
        let mut b = Book::new(1, 1);
        b.apply(&mbo(b'A', b'B', 0, 101, 20, 0x80 | 0x40));
        b.apply(&mbo(b'A', b'A', 0, 100, 7, 0x80 | 0x40));
        assert_eq!(b.top(Side::Bid).count, 0);
        assert_eq!(indicative_uncross(&b, None), Some(uncross(100, 20, 7)));
        b.apply(&mbo(b'A', b'A', 0, UNDEF_PRICE, 0, 0x80 | 0x40));
        assert_eq!(indicative_uncross(&b, None), None);
    }

    #[test]
    fn levels_outside_the_cross_are_ignored() {
        // Deep bids below the best ask and asks above the best bid never execute.
        let b = book(&[
            (b'B', 102, 4),
            (b'B', 90, 100),
            (b'A', 101, 3),
            (b'A', 150, 100),
        ]);
        assert_eq!(indicative_uncross(&b, None), Some(uncross(101, 4, 3)));
    }

    /// Brute force over every level price with the same rules, on pseudo-random books.
    #[test]
    fn matches_brute_force_on_random_books() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let mut orders = Vec::new();
            for _ in 0..1 + next(12) {
                let side = if next(2) == 0 { b'B' } else { b'A' };
                orders.push((side, 100 + next(10) as i64, 1 + next(5) as u32));
            }
            let b = book(&orders);
            let reference = (next(3) == 0).then(|| 95 + next(20) as i64);
            assert_eq!(
                indicative_uncross(&b, reference),
                brute_force(&b, reference)
            );
        }
    }

    fn brute_force(b: &Book, reference: Option<i64>) -> Option<Uncross> {
        let bids: Vec<(i64, u64)> = b.levels(Side::Bid).map(|l| (l.price, l.size)).collect();
        let asks: Vec<(i64, u64)> = b.levels(Side::Ask).map(|l| (l.price, l.size)).collect();
        let reference2 = match reference {
            Some(r) => 2 * i128::from(r),
            None => i128::from(bids.first()?.0) + i128::from(asks.first()?.0),
        };
        let mut prices: Vec<i64> = bids.iter().chain(&asks).map(|&(p, _)| p).collect();
        prices.sort_unstable();
        prices.dedup();
        prices
            .into_iter()
            .map(|p| {
                let bv: u64 = bids.iter().filter(|l| l.0 >= p).map(|l| l.1).sum();
                let av: u64 = asks.iter().filter(|l| l.0 <= p).map(|l| l.1).sum();
                uncross(p, bv, av)
            })
            .filter(|u| u.volume > 0)
            .min_by_key(|u| {
                let distance = (2 * i128::from(u.price) - reference2).abs();
                (
                    std::cmp::Reverse(u.volume),
                    u.imbalance.abs(),
                    distance,
                    u.price,
                )
            })
    }
}
