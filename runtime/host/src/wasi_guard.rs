//! The WASI calls the sandbox must see through, wrapped around
//! wasmtime-wasi's own implementations:
//!
//! - **Waiting** (`wasi:io/poll` `poll` and `pollable.block`, which is where
//!   a sleep, `wasi:clocks` subscribe + poll, ends up): wasmtime's epoch
//!   interruption fires only in wasm code, so a guest blocked in the host
//!   would outlive `MaxStallSeconds` (and `MaxJobSeconds` when set). Each
//!   wait is bounded by the earlier of the two deadlines (stall.rs) and then
//!   traps naming that limit; the time waited is host time,
//!   never counted against `MaxGuestCpuSeconds`.
//! - **Writing** (`descriptor.write`, `descriptor.set-size`, and the output
//!   stream writes, zeroes and splices): the bytes are counted where they are
//!   written, so a file the guest unlinked (invisible to a directory walk)
//!   counts too. A descriptor write that would pass `MaxWrittenMiB` is
//!   refused before it happens; a stream write is counted right after it (a
//!   stream also carries stdout and stderr, which are subtracted), so no file
//!   passes the limit by more than one write.
//!
//! Every other WASI function is wasmtime-wasi's, unchanged. Stream reads and
//! flushes need no bound: the only streams a job can open are its files and
//! the capped stdout/stderr (no sockets, empty stdin), which never wait on
//! anything but the disk.
//!
//! The functions are replaced by name in the WASI 0.2 version wasmtime-wasi
//! defines (`WASI_VERSION`); the hostile suite's sleep and unlinked-file
//! attacks fail if a wasmtime upgrade moves that version and these wrappers
//! stop applying.

use std::time::Instant;

use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::sync::filesystem::types as fs;
use wasmtime_wasi::p2::bindings::sync::io::streams;
use wasmtime_wasi::p2::{DynPollable, FsError, StreamError};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

use crate::sandbox::JobState;

/// The WASI 0.2 release whose interfaces wasmtime-wasi 48 defines.
const WASI_VERSION: &str = "0.2.12";

type FsReturn<T> = wasmtime::Result<(Result<T, fs::ErrorCode>,)>;
type StreamReturn<T> = wasmtime::Result<(Result<T, streams::StreamError>,)>;

pub fn add_to_linker(linker: &mut Linker<JobState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let added = add(linker);
    linker.allow_shadowing(false);
    added
}

fn add(linker: &mut Linker<JobState>) -> anyhow::Result<()> {
    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI_VERSION}"))?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, JobState>, (pollables,): (Vec<Resource<DynPollable>>,)| {
            let state = store.data_mut();
            let (started, (deadline, hit)) = (Instant::now(), state.deadline());
            let outcome = bounded(deadline, async_poll::Host::poll(state.table(), pollables));
            Ok((state.waited((started, hit), outcome)?,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, JobState>, (pollable,): (Resource<DynPollable>,)| {
            let state = store.data_mut();
            let (started, (deadline, hit)) = (Instant::now(), state.deadline());
            let outcome = bounded(
                deadline,
                async_poll::HostPollable::block(state.table(), pollable),
            );
            state.waited((started, hit), outcome)
        },
    )?;

    let mut types = linker.instance(&format!("wasi:filesystem/types@{WASI_VERSION}"))?;
    types.func_wrap(
        "[method]descriptor.write",
        |mut store: StoreContextMut<'_, JobState>,
         (fd, buffer, offset): (Resource<fs::Descriptor>, Vec<u8>, u64)|
         -> FsReturn<u64> {
            let state = store.data_mut();
            state.count_write(buffer.len() as u64)?;
            let mut view = state.filesystem();
            let result = fs::HostDescriptor::write(&mut view, fd, buffer, offset);
            fs_result(&mut view, result)
        },
    )?;
    types.func_wrap(
        "[method]descriptor.set-size",
        |mut store: StoreContextMut<'_, JobState>,
         (fd, size): (Resource<fs::Descriptor>, u64)|
         -> FsReturn<()> {
            // A size set is counted whole: the file reads as that long,
            // whatever the disk holds.
            let state = store.data_mut();
            state.count_write(size)?;
            let mut view = state.filesystem();
            let result = fs::HostDescriptor::set_size(&mut view, fd, size);
            fs_result(&mut view, result)
        },
    )?;

    let mut io = linker.instance(&format!("wasi:io/streams@{WASI_VERSION}"))?;
    io.func_wrap(
        "[method]output-stream.write",
        |mut store: StoreContextMut<'_, JobState>,
         (stream, bytes): (Resource<streams::OutputStream>, Vec<u8>)|
         -> StreamReturn<()> {
            let len = bytes.len() as u64;
            too_long(len)?;
            let state = store.data_mut();
            let result = streams::HostOutputStream::write(state.table(), stream, bytes);
            stream_result(state, result, |_| len)
        },
    )?;
    io.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut store: StoreContextMut<'_, JobState>,
         (stream, bytes): (Resource<streams::OutputStream>, Vec<u8>)|
         -> StreamReturn<()> {
            let len = bytes.len() as u64;
            too_long(len)?;
            let state = store.data_mut();
            let result =
                streams::HostOutputStream::blocking_write_and_flush(state.table(), stream, bytes);
            stream_result(state, result, |_| len)
        },
    )?;
    io.func_wrap(
        "[method]output-stream.write-zeroes",
        |mut store: StoreContextMut<'_, JobState>,
         (stream, len): (Resource<streams::OutputStream>, u64)|
         -> StreamReturn<()> {
            too_long(len)?;
            let state = store.data_mut();
            let result = streams::HostOutputStream::write_zeroes(state.table(), stream, len);
            stream_result(state, result, |_| len)
        },
    )?;
    io.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut store: StoreContextMut<'_, JobState>,
         (stream, len): (Resource<streams::OutputStream>, u64)|
         -> StreamReturn<()> {
            too_long(len)?;
            let state = store.data_mut();
            let result = streams::HostOutputStream::blocking_write_zeroes_and_flush(
                state.table(),
                stream,
                len,
            );
            stream_result(state, result, |_| len)
        },
    )?;
    io.func_wrap(
        "[method]output-stream.splice",
        |mut store: StoreContextMut<'_, JobState>,
         (dst, src, len): (
            Resource<streams::OutputStream>,
            Resource<streams::InputStream>,
            u64,
        )|
         -> StreamReturn<u64> {
            let state = store.data_mut();
            let result = streams::HostOutputStream::splice(state.table(), dst, src, len);
            stream_result(state, result, |n| *n)
        },
    )?;
    io.func_wrap(
        "[method]output-stream.blocking-splice",
        |mut store: StoreContextMut<'_, JobState>,
         (dst, src, len): (
            Resource<streams::OutputStream>,
            Resource<streams::InputStream>,
            u64,
        )|
         -> StreamReturn<u64> {
            let state = store.data_mut();
            let result = streams::HostOutputStream::blocking_splice(state.table(), dst, src, len);
            stream_result(state, result, |n| *n)
        },
    )?;
    Ok(())
}

/// The most one stream write may carry: what `check-write` grants on every
/// stream a job has (wasmtime-wasi's files, the capped stdout/stderr). WASI
/// requires a write to stay within that grant, but wasmtime-wasi takes a
/// file write of any length whole, and a stream write is counted only as it
/// returns: without this bound one write of `MaxHostCallDataMiB` would pass
/// `MaxWrittenMiB` by that much.
const MAX_STREAM_WRITE: u64 = 64 << 10;

fn too_long(len: u64) -> wasmtime::Result<()> {
    if len > MAX_STREAM_WRITE {
        return Err(wasmtime::Error::msg(format!(
            "the component wrote {len} bytes to a stream at once, more than the {MAX_STREAM_WRITE} bytes check-write grants (a broken WASI contract)"
        )));
    }
    Ok(())
}

/// `future` run to its end or until `deadline`, whichever comes first
/// (`None`). wasmtime-wasi's own sync wrappers block the same way
/// (`in_tokio`), only without a deadline.
fn bounded<R>(
    deadline: Instant,
    future: impl std::future::Future<Output = wasmtime::Result<R>>,
) -> Option<wasmtime::Result<R>> {
    wasmtime_wasi::runtime::in_tokio(async {
        tokio::time::timeout_at(deadline.into(), future).await.ok()
    })
}

fn fs_result<T>(
    view: &mut wasmtime_wasi::filesystem::WasiFilesystemCtxView<'_>,
    result: Result<T, FsError>,
) -> FsReturn<T> {
    match result {
        Ok(v) => Ok((Ok(v),)),
        Err(e) => Ok((Err(fs::Host::convert_error_code(view, e)?),)),
    }
}

fn stream_result<T>(
    state: &mut JobState,
    result: Result<T, StreamError>,
    written: impl Fn(&T) -> u64,
) -> StreamReturn<T> {
    match result {
        Ok(v) => {
            state.count_stream_write(written(&v))?;
            Ok((Ok(v),))
        }
        Err(e) => Ok((Err(streams::Host::convert_stream_error(state.table(), e)?),)),
    }
}
