//! The sample data files the tests read, found where tests/conftest.py finds them: in
//! `MBO_FAST_DATA_DIR` when it is set, else in `shared/data` next to the checkout. A test whose
//! file is absent says so on stderr ("skipped: …", shown with `--nocapture`) and returns.
//!
//! Shared by the unit tests (`crate::testing`) and the integration tests (`tests/`, which
//! include this file by path): std only.

use std::path::PathBuf;

/// `CLX5_mbo.dbn`: DBN v3, plain, 38,212 records.
pub const CLX5: &str = "CLX5_mbo.dbn";
/// `esh4-glbx-mdp3-20231225.mbo.dbn.zst`: DBN v1, zstd, 68,792 records.
pub const ESH4: &str = "esh4-glbx-mdp3-20231225.mbo.dbn.zst";

/// The directory of the sample files.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("MBO_FAST_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        // rust/core -> the checkout -> the directory beside it
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// The path of sample file `name`, or `None` after saying that the calling test is skipped.
pub fn sample_path(name: &str) -> Option<PathBuf> {
    let path = data_dir().join(name);
    if path.is_file() {
        return Some(path);
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!(
        "skipped: sample data not found at {} ({test}; set MBO_FAST_DATA_DIR)",
        path.display()
    );
    None
}

/// The bytes of sample file `name`, or `None` (the test is skipped, as [`sample_path`] says).
pub fn sample_bytes(name: &str) -> Option<Vec<u8>> {
    let path = sample_path(name)?;
    Some(std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display())))
}
