//! The export's CSV files, written with positioned writes.
//!
//! In the sandbox a plain `File::write` becomes WASI stream writes of at most
//! 4 KiB each, every one a host call: 22,000 of them for the 90 MB of a
//! 100,000-mailbox export. A positioned write (`pwrite`, WASI's
//! `descriptor.write`) hands the host a whole buffer in one call.

use std::fs::File;
use std::io::{self, Write};

/// Appends to a file it created, through positioned writes.
pub struct OutputFile {
    file: File,
    offset: u64,
}

impl OutputFile {
    pub fn new(file: File) -> Self {
        OutputFile { file, offset: 0 }
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = write_at(&self.file, buf, self.offset)?;
        self.offset += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "wasi")]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let offset = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::other("the file is too large to write at its end"))?;
    // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call, and
    // the descriptor belongs to `file`, which outlives the call.
    let written = unsafe { libc::pwrite(file.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset) };
    usize::try_from(written).map_err(|_| io::Error::last_os_error())
}

/// Natively (the tests and the benchmark's harness) the file's own cursor
/// is the same offset: it is only ever appended to.
#[cfg(not(target_os = "wasi"))]
fn write_at(file: &File, buf: &[u8], _offset: u64) -> io::Result<usize> {
    (&*file).write(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_append_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut out = OutputFile::new(File::create(&path).unwrap());
        out.write_all(b"Command,Guid\n").unwrap();
        out.write_all(b"Insert,1\n").unwrap();
        out.flush().unwrap();
        drop(out.into_file());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "Command,Guid\nInsert,1\n"
        );
    }
}
