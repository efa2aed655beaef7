//! [`pump`]: the live socket's whole read-decode-apply loop, run without Python.

use std::io::{ErrorKind, Read};
use std::sync::{Mutex, PoisonError};

use super::LiveMarket;
use crate::error::{Error, Result};

/// Read size of [`pump`]: several ms of a 1 M msg/s feed, and small enough to stay in L2.
const PUMP_READ_BYTES: usize = 256 << 10;

/// Feed everything `reader` yields into `live` until the stream ends (`Ok`: the peer closed it
/// or it was shut down), a read fails ([`Error::Source`]) or the bytes are not an MBO DBN stream
/// ([`Error::Decode`], [`Error::Schema`]). The lock is held only while a read's bytes are applied,
/// and `on_applied` runs after each read that applied records, with the lock released.
///
/// This is the live reader's whole loop, so a caller can run it on a thread of its own that never
/// needs Python's GIL: the server's event loop, publishing, is then never waited on by ingest,
/// nor ingest by it. `reader` must block: a non-blocking one ends the loop with a `WouldBlock`
/// read error rather than spinning.
pub fn pump(
    reader: &mut impl Read,
    live: &Mutex<LiveMarket>,
    mut on_applied: impl FnMut(),
) -> Result<()> {
    let mut buf = vec![0u8; PUMP_READ_BYTES];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(Error::Source {
                    path: "<live stream>".into(),
                    source,
                })
            }
        };
        let applied = live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .feed(&buf[..n])?;
        if applied > 0 {
            on_applied();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::json::market_json;
    use crate::book::market::Market;
    use crate::dbn::Source;
    use crate::testing::clx5;

    /// A reader handing out the stream in pieces of the given sizes, then `end`.
    struct Pieces<'a> {
        bytes: &'a [u8],
        sizes: std::iter::Cycle<std::vec::IntoIter<usize>>,
        end: Option<ErrorKind>,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.bytes.is_empty() {
                return match self.end.take() {
                    Some(kind) => Err(kind.into()),
                    None => Ok(0),
                };
            }
            let n = self
                .sizes
                .next()
                .unwrap()
                .min(out.len())
                .min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn pieces(bytes: &[u8], sizes: Vec<usize>, end: Option<ErrorKind>) -> Pieces<'_> {
        Pieces {
            bytes,
            sizes: sizes.into_iter().cycle(),
            end,
        }
    }

    #[test]
    fn pump_feeds_a_stream_to_its_end_and_wakes_per_applied_read() {
        let Some(bytes) = clx5() else { return };
        let mut whole = Market::new();
        let n = whole.apply_stream(Source::Bytes(&bytes)).unwrap();
        let live = Mutex::new(LiveMarket::new(0));
        let mut wakes = 0;
        // 3-byte reads make many reads that complete no record: those must not wake.
        let mut reader = pieces(&bytes, vec![3, 3, 3, 50_000, 1, 700], None);
        pump(&mut reader, &live, || wakes += 1).unwrap();
        let live = live.into_inner().unwrap();
        assert_eq!(live.stats().records, n);
        assert_eq!(market_json(live.market()), market_json(&whole));
        assert!(wakes > 0 && wakes < bytes.len() / 3, "{wakes} wakes");
    }

    #[test]
    fn pump_reports_read_errors_and_garbage() {
        let live = Mutex::new(LiveMarket::new(0));
        let mut reader = pieces(b"", vec![1], Some(ErrorKind::ConnectionReset));
        let err = pump(&mut reader, &live, || {}).unwrap_err();
        assert!(
            matches!(err, Error::Source { ref source, .. } if source.kind() == ErrorKind::ConnectionReset)
        );
        let mut reader = pieces(b"", vec![1], Some(ErrorKind::Interrupted));
        pump(&mut reader, &live, || {}).unwrap(); // retried, then the end
        let mut reader = pieces(b"not a DBN stream", vec![4], None);
        let err = pump(&mut reader, &live, || panic!("nothing applied")).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }));
    }
}
