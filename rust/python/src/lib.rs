//! The private `mbo_fast._core` extension module: bindings only. Book logic lives in
//! `mbo-fast-core`; the public API is the `mbo_fast` Python package.

mod backtest;
mod book;
mod capture;
mod dbn;
mod derive;
mod errors;
mod live;
mod replay;
mod source;
mod store;
mod synth;

use pyo3::prelude::*;

/// Large blocks (the output columns) huge-page aligned and briefly kept for reuse: see
/// `mbo_fast_core::hugepages`.
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: mbo_fast_core::hugepages::HugePageAlloc =
    mbo_fast_core::hugepages::HugePageAlloc::new();

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("UNDEF_PRICE", mbo_fast_core::UNDEF_PRICE)?;
    m.add("MAX_DEPTH", mbo_fast_core::capture::MAX_DEPTH)?;
    m.add("MAX_METADATA_LEN", mbo_fast_core::dbn::MAX_METADATA_LEN)?;
    m.add_class::<book::Bbo>()?;
    m.add_class::<book::auction::Uncross>()?;
    m.add_class::<book::PyBook>()?;
    m.add_class::<book::PyConsolidated>()?;
    m.add_class::<book::market::PyMarket>()?;
    m.add_class::<replay::cursor::PyReplay>()?;
    m.add_class::<replay::player::PyPlayer>()?;
    m.add_class::<live::PyLiveMarket>()?;
    m.add_class::<backtest::PyBacktest>()?;
    m.add_class::<backtest::PyFill>()?;
    m.add_class::<backtest::PyOrderState>()?;
    m.add_class::<capture::export::PyDepthExport>()?;
    m.add_class::<capture::batches::PyBatches>()?;
    m.add_class::<synth::engine::PyMatchingEngine>()?;
    m.add_class::<dbn::PyMboChunks>()?;
    m.add_class::<derive::PyConversion>()?;
    m.add_class::<store::PyRecording>()?;
    m.add_class::<store::PyBlockImport>()?;
    m.add_class::<store::PyBlockBuilder>()?;
    m.add_function(wrap_pyfunction!(store::block_cache_stats, m)?)?;
    m.add_function(wrap_pyfunction!(dbn::mbo_record_fields, m)?)?;
    m.add_function(wrap_pyfunction!(derive::derived_record_fields, m)?)?;
    m.add_function(wrap_pyfunction!(store::set_block_cache_budget, m)?)?;
    m.add_function(wrap_pyfunction!(dbn::write_dbn_columns, m)?)?;
    m.add_function(wrap_pyfunction!(capture::read_bbo_columns, m)?)?;
    m.add_function(wrap_pyfunction!(capture::read_depth_columns, m)?)?;
    m.add_function(wrap_pyfunction!(capture::read_records, m)?)?;
    m.add_function(wrap_pyfunction!(capture::arrow::arrow_c_array, m)?)?;
    m.add_function(wrap_pyfunction!(capture::arrow::arrow_c_stream, m)?)?;
    m.add_function(wrap_pyfunction!(capture::arrow::column_role, m)?)?;
    m.add_function(wrap_pyfunction!(capture::batches::write_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(capture::read_snapshot_columns, m)?)?;
    m.add_function(wrap_pyfunction!(capture::export_depth_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(capture::info, m)?)?;
    m.add_function(wrap_pyfunction!(synth::session::simulate_session, m)?)?;
    Ok(())
}
