//! A plain file mapped read-only into memory, for decoding without copying it.
//!
//! Reading a file copies every byte from the page cache into our buffer: for a 100 MB file that
//! copy is about a sixth of `read_bbo`'s time. A mapping hands the decoder the page-cache pages
//! themselves. Pages already decoded are given back (`release_before`), so the resident set
//! stays a window's worth instead of growing with the file.
//!
//! The one hazard of mappings: if another process truncates the file while it is mapped,
//! touching the lost pages raises SIGBUS. Each window's pages are therefore mapped in one call
//! before the decoder touches them (`populate`), which reports a file that shrank as an error
//! instead; what remains is a truncation landing inside the few milliseconds a window is read.
//! DBN files are written once and appended to, never truncated in place, which is why mapping
//! is the default for plain files; set `MBO_FAST_NO_MMAP=1` to read them instead.

use std::fs::File;

/// Linux 5.14+; not every libc version of the `libc` crate names it.
const MADV_POPULATE_READ: libc::c_int = 22;

/// Plain files smaller than this are read: mapping them saves nothing measurable.
pub const MIN_MAPPED_LEN: u64 = 4 << 20;

pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
    /// Bytes `..released` have been given back to the kernel.
    released: usize,
}

// SAFETY: the mapping is read-only and owned by this value; sharing or sending the pointer
// across threads is no different from sharing a `&[u8]`.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map `len` bytes of `file`, or `None` when mapping is disabled or fails (the caller then
    /// reads the file instead).
    pub fn new(file: &File, len: u64) -> Option<Mapping> {
        if len < MIN_MAPPED_LEN || std::env::var_os("MBO_FAST_NO_MMAP").is_some() {
            return None;
        }
        map(file, usize::try_from(len).ok()?)
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Map the pages of bytes `from..to` in one call instead of one page fault at a time.
    /// `false` when part of the range is no longer backed by the file (it was truncated):
    /// touching those bytes would raise SIGBUS.
    #[must_use]
    pub fn populate(&self, from: usize, to: usize) -> bool {
        let start = from & !(page_size() - 1);
        let end = to.min(self.len);
        if end <= start {
            return true;
        }
        // SAFETY: a range inside our own mapping. Kernels before 5.14 reject the advice with
        // EINVAL, which only loses the speed-up and the check.
        let failed = unsafe {
            libc::madvise(
                self.ptr.cast::<u8>().add(start).cast(),
                end - start,
                MADV_POPULATE_READ,
            ) != 0
        };
        !(failed && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT))
    }

    /// Drop the pages wholly before byte `offset` from the resident set. They are not unmapped:
    /// touching them again would read them back from the page cache.
    pub fn release_before(&mut self, offset: usize) {
        let end = offset.min(self.len) & !(page_size() - 1);
        if end <= self.released {
            return;
        }
        // SAFETY: the range is page-aligned and inside the mapping. MADV_DONTNEED on a private
        // read-only file mapping only drops page-table entries; contents are unchanged.
        unsafe {
            libc::madvise(
                self.ptr.cast::<u8>().add(self.released).cast(),
                end - self.released,
                libc::MADV_DONTNEED,
            );
        }
        self.released = end;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

fn map(file: &File, len: usize) -> Option<Mapping> {
    use std::os::fd::AsRawFd;
    // SAFETY: a fresh read-only private mapping of an open file; the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: advice on our own mapping; failure is harmless.
    unsafe {
        libc::madvise(ptr, len, libc::MADV_SEQUENTIAL);
    }
    Some(Mapping {
        ptr,
        len,
        released: 0,
    })
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_and_releases_without_changing_contents() {
        let mut file = tempfile_with(
            &(0..(MIN_MAPPED_LEN as usize + 5000))
                .map(|i| i as u8)
                .collect::<Vec<_>>(),
        );
        file.flush().unwrap();
        let path = file_path();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let mut map = Mapping::new(&file, len).expect("mapped");
        assert_eq!(map.len() as u64, len);
        map.release_before(3 * 4096 + 17);
        // Released pages read back the same bytes.
        assert!(map.bytes().iter().enumerate().all(|(i, &b)| b == i as u8));
        std::fs::remove_file(path).unwrap();
    }

    fn file_path() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("mbo-fast-mapped-{}", std::process::id()))
    }

    fn tempfile_with(bytes: &[u8]) -> File {
        let mut file = File::create(file_path()).unwrap();
        file.write_all(bytes).unwrap();
        file
    }
}
