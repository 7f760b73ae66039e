//! Guest stdout/stderr: kept in memory up to a cap, then dropped, so a
//! chatty or hostile guest can neither fill the host's memory nor fail its
//! job by writing too much.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Clone)]
pub struct CappedLog {
    cap: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
    truncated: Arc<AtomicBool>,
    /// Every byte written, kept or not (the write quota subtracts them
    /// from the guest's stream writes).
    received: Arc<AtomicU64>,
}

impl CappedLog {
    pub fn new(cap: usize) -> Self {
        CappedLog {
            cap,
            buffer: Arc::new(Mutex::new(Vec::new())),
            truncated: Arc::new(AtomicBool::new(false)),
            received: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn contents(&self) -> Vec<u8> {
        self.buffer.lock().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn truncated(&self) -> bool {
        self.truncated.load(Ordering::Relaxed)
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn append(&self, bytes: &[u8]) {
        self.received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if let Ok(mut buf) = self.buffer.lock() {
            let room = self.cap.saturating_sub(buf.len());
            if bytes.len() > room {
                self.truncated.store(true, Ordering::Relaxed);
            }
            buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

impl IsTerminal for CappedLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CappedLog {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always accepting keeps the guest going; what is past the cap is
        // dropped and reported as truncated.
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedLog {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
