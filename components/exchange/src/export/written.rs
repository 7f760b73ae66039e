//! The guids an export has written, so each mailbox is written once (a
//! mailbox listed again after a move, by the catch-up pipeline or by a
//! retried pipeline) and the next export knows them (the cookie's
//! `mailboxes`).
//!
//! Memory stays nearly flat in the number of mailboxes, since a wasm
//! instance never gives memory back: holding every guid (16 bytes, more
//! while a list grows) cost some 24 MiB of the component's memory at
//! 1,000,000 mailboxes. Here:
//! - the recent guids (at most [`RUN_LEN`]) are a hash set;
//! - older ones are in sorted runs on disk, in the job's cookie directory,
//!   merged like a binary counter (each run at least twice the size of the
//!   next), so there are O(log n) runs and each guid is rewritten O(log n)
//!   times;
//! - memory keeps one 32-bit fingerprint per guid on disk (sorted, with a
//!   directory of up to 65,536 buckets over them, 256 KiB in wasm), and every
//!   [`INDEX_STEP`]th guid of each run. A guid whose fingerprint is
//!   absent is new (the common case, no disk access); one whose fingerprint
//!   is present is looked up in the runs (a true repeat, or about n / 2^32
//!   of lookups by chance: some 230 at 1,000,000).
//!
//! The runs are the job's scratch files, named after the cookie and removed
//! when the set is dropped (the host commits only what a successful job
//! leaves, and a failed job's directory is discarded).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Guids kept in memory before they go to a run on disk: about 2 MiB of
/// hash set.
pub const RUN_LEN: usize = 1 << 16;

/// Every this many guids of a run, one is kept in memory: a lookup reads at
/// most this many guids (1 KiB) from one place of each run.
pub const INDEX_STEP: usize = 64;

const GUID_LEN: usize = 16;

/// Where runs go: a directory and a file name stem (`<id>_cookie.bin`).
#[derive(Debug, Clone)]
pub struct Spill {
    dir: PathBuf,
    stem: String,
}

impl Spill {
    /// Runs next to `cookie` (the job's staged cookie), named after it.
    pub fn beside(cookie: &Path) -> Spill {
        Spill {
            dir: cookie.parent().unwrap_or(Path::new(".")).to_path_buf(),
            stem: cookie
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "written".to_owned()),
        }
    }
}

#[derive(Debug)]
struct Run {
    path: PathBuf,
    file: File,
    len: usize,
    /// The guid at every [`INDEX_STEP`]th position.
    index: Vec<u128>,
}

impl Run {
    /// Whether `guid` is in the run: one read of at most [`INDEX_STEP`]
    /// guids, placed by the index.
    fn contains(&mut self, guid: u128) -> std::io::Result<bool> {
        let block = match self.index.binary_search(&guid) {
            Ok(_) => return Ok(true),
            Err(0) => return Ok(false),
            Err(at) => at - 1,
        };
        let start = block * INDEX_STEP;
        let count = INDEX_STEP.min(self.len - start);
        let mut bytes = [0u8; INDEX_STEP * GUID_LEN];
        let bytes = &mut bytes[..count * GUID_LEN];
        self.file.seek(SeekFrom::Start((start * GUID_LEN) as u64))?;
        self.file.read_exact(bytes)?;
        Ok(bytes
            .chunks_exact(GUID_LEN)
            .any(|chunk| decode(chunk) == guid))
    }

    /// A second descriptor, not `try_clone`: WASI has no `dup`.
    fn reader(&self) -> std::io::Result<RunReader> {
        let file = File::open(&self.path)?;
        Ok(RunReader {
            reader: BufReader::with_capacity(1 << 16, file),
            left: self.len,
        })
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Best effort: the host discards the staging directory of a job
        // that fails, and a successful job drops every run before it ends.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn decode(chunk: &[u8]) -> u128 {
    let mut bytes = [0u8; GUID_LEN];
    bytes.copy_from_slice(chunk);
    u128::from_le_bytes(bytes)
}

/// A run read in order.
struct RunReader {
    reader: BufReader<File>,
    left: usize,
}

impl RunReader {
    fn next(&mut self) -> std::io::Result<Option<u128>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut bytes = [0u8; GUID_LEN];
        self.reader.read_exact(&mut bytes)?;
        self.left -= 1;
        Ok(Some(u128::from_le_bytes(bytes)))
    }
}

/// Writes a sorted run, building its index as it goes.
struct RunWriter {
    path: PathBuf,
    writer: BufWriter<File>,
    len: usize,
    index: Vec<u128>,
}

impl RunWriter {
    fn create(path: PathBuf) -> std::io::Result<RunWriter> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(RunWriter {
            path,
            writer: BufWriter::with_capacity(1 << 16, file),
            len: 0,
            index: Vec::new(),
        })
    }

    fn push(&mut self, guid: u128) -> std::io::Result<()> {
        if self.len.is_multiple_of(INDEX_STEP) {
            self.index.push(guid);
        }
        self.len += 1;
        self.writer.write_all(&guid.to_le_bytes())
    }

    fn finish(self) -> std::io::Result<Run> {
        let file = self.writer.into_inner().map_err(|e| e.into_error())?;
        let mut index = self.index;
        index.shrink_to_fit();
        Ok(Run {
            path: self.path,
            file,
            len: self.len,
            index,
        })
    }
}

/// A 32-bit digest of a guid. Mixed rather than a slice of the guid, so
/// guids that share bits (sequential ones from a test server, say) do not
/// all collide.
fn fingerprint(guid: u128) -> u32 {
    let folded = (guid as u64) ^ ((guid >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

#[derive(Debug)]
pub struct Written {
    recent: HashSet<u128>,
    run_len: usize,
    /// The fingerprints of every guid in `runs`, sorted.
    fingerprints: Vec<u32>,
    /// Where each bucket's fingerprints start in `fingerprints` (one more
    /// entry for the end); a fingerprint's bucket is its top bits, as many
    /// as the bucket count takes (see [`bucket_of`]). A lookup searches one
    /// bucket, about one fingerprint, instead of binary-searching all of
    /// them (17 dependent reads at 100,000 guids, each a likely cache miss).
    /// Empty until the first run.
    directory: Vec<usize>,
    /// Largest (oldest) first; disjoint, and disjoint from `recent`.
    runs: Vec<Run>,
    spill: Spill,
    next_run: u64,
    /// Buffers reused by every spill: a wasm allocator that frees a
    /// megabyte and asks for a slightly different size later grows the
    /// memory rather than reuse the hole, and the memory never shrinks.
    sorting: Vec<u128>,
    fresh: Vec<u32>,
}

impl Written {
    /// Keeps at most `run_len` guids in memory (`Options.MailboxGuidsInMemory`).
    pub fn with_run_len(spill: Spill, run_len: usize) -> Self {
        Written {
            recent: HashSet::new(),
            run_len: run_len.max(1),
            fingerprints: Vec::new(),
            directory: Vec::new(),
            runs: Vec::new(),
            spill,
            next_run: 0,
            sorting: Vec::new(),
            fresh: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.recent.len() + self.runs.iter().map(|r| r.len).sum::<usize>()
    }

    pub fn contains(&mut self, guid: u128) -> Result<bool, String> {
        if self.recent.contains(&guid) {
            return Ok(true);
        }
        if !self.may_be_on_disk(fingerprint(guid)) {
            return Ok(false);
        }
        for run in &mut self.runs {
            if run
                .contains(guid)
                .map_err(|e| self.spill.error("reading", e))?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether some guid in the runs has this fingerprint.
    fn may_be_on_disk(&self, fingerprint: u32) -> bool {
        let bucket = bucket_of(fingerprint, self.directory.len().saturating_sub(1));
        let (Some(&start), Some(&end)) =
            (self.directory.get(bucket), self.directory.get(bucket + 1))
        else {
            return false;
        };
        self.fingerprints
            .get(start..end)
            .is_some_and(|bucket| bucket.binary_search(&fingerprint).is_ok())
    }

    /// Adds `guid`; `false` if it was there already.
    pub fn insert(&mut self, guid: u128) -> Result<bool, String> {
        if self.contains(guid)? {
            return Ok(false);
        }
        self.insert_new(guid)?;
        Ok(true)
    }

    /// Adds `guid`, which [`Self::contains`] has just said is not there:
    /// the export asks first (a repeat writes no row), so asking again here
    /// would hash and search every mailbox's guid twice.
    pub fn insert_new(&mut self, guid: u128) -> Result<(), String> {
        self.recent.insert(guid);
        if self.recent.len() >= self.run_len {
            self.spill_recent()?;
        }
        Ok(())
    }

    /// What is where, for the export's log: how many guids, and how many
    /// of them went to runs on disk.
    pub fn describe(&self) -> String {
        let on_disk: usize = self.runs.iter().map(|r| r.len).sum();
        format!(
            "{} mailbox guids written, {on_disk} of them in {} sorted runs beside the cookie (Options.MailboxGuidsInMemory {})",
            self.len(),
            self.runs.len(),
            self.run_len
        )
    }

    /// Every guid, sorted, streamed from the runs (for the cookie).
    pub fn into_sorted(mut self) -> Result<Sorted, String> {
        let len = self.len();
        let mut recent: Vec<u128> = self.recent.drain().collect();
        recent.sort_unstable();
        let mut readers = Vec::with_capacity(self.runs.len());
        for run in &self.runs {
            readers.push(run.reader().map_err(|e| self.spill.error("reading", e))?);
        }
        let mut sorted = Sorted {
            len,
            recent: recent.into_iter().peekable(),
            heap: BinaryHeap::new(),
            readers,
            _runs: std::mem::take(&mut self.runs),
            spill: self.spill.clone(),
        };
        for at in 0..sorted.readers.len() {
            sorted.refill(at)?;
        }
        Ok(sorted)
    }

    /// Every guid, sorted, in memory: for the sets an incremental export
    /// writes (the changed mailboxes).
    pub fn into_vec(self) -> Result<Vec<u128>, String> {
        let mut sorted = self.into_sorted()?;
        let mut guids = Vec::with_capacity(sorted.len());
        while let Some(guid) = sorted.next_guid()? {
            guids.push(guid);
        }
        Ok(guids)
    }

    /// Writes the recent guids as a run, then merges runs while the newest
    /// is at least half the size of the one before it.
    fn spill_recent(&mut self) -> Result<(), String> {
        // `drain` keeps the set's table for the next guids.
        self.sorting.clear();
        self.sorting.extend(self.recent.drain());
        self.sorting.sort_unstable();
        let mut writer = self.new_run()?;
        for &guid in &self.sorting {
            writer
                .push(guid)
                .map_err(|e| self.spill.error("writing", e))?;
        }
        let run = writer
            .finish()
            .map_err(|e| self.spill.error("writing", e))?;
        self.runs.push(run);
        self.fresh.clear();
        self.fresh
            .extend(self.sorting.iter().map(|&g| fingerprint(g)));
        self.fresh.sort_unstable();
        merge_into(&mut self.fingerprints, &self.fresh);
        index_buckets(&self.fingerprints, &mut self.directory);
        while let [.., older, newer] = &self.runs[..] {
            if newer.len * 2 < older.len {
                break;
            }
            self.merge_last_two()?;
        }
        Ok(())
    }

    fn merge_last_two(&mut self) -> Result<(), String> {
        let (Some(newer), Some(older)) = (self.runs.pop(), self.runs.pop()) else {
            return Ok(());
        };
        let merged = (|| {
            let mut a = older.reader()?;
            let mut b = newer.reader()?;
            let mut writer = self.new_run().map_err(std::io::Error::other)?;
            let (mut x, mut y) = (a.next()?, b.next()?);
            loop {
                match (x, y) {
                    (Some(p), Some(q)) if p < q => {
                        writer.push(p)?;
                        x = a.next()?;
                    }
                    (Some(_), Some(q)) => {
                        writer.push(q)?;
                        y = b.next()?;
                    }
                    (Some(p), None) => {
                        writer.push(p)?;
                        x = a.next()?;
                    }
                    (None, Some(q)) => {
                        writer.push(q)?;
                        y = b.next()?;
                    }
                    (None, None) => break,
                }
            }
            writer.finish()
        })()
        .map_err(|e| self.spill.error("merging", e))?;
        // `older` and `newer` are dropped here, which removes their files.
        self.runs.push(merged);
        Ok(())
    }

    fn new_run(&mut self) -> Result<RunWriter, String> {
        let path = self
            .spill
            .dir
            .join(format!("{}.run{}.tmp", self.spill.stem, self.next_run));
        self.next_run += 1;
        RunWriter::create(path).map_err(|e| self.spill.error("creating", e))
    }
}

impl Spill {
    fn error(&self, doing: &str, error: std::io::Error) -> String {
        format!(
            "{doing} the list of exported mailboxes ({} in {}) failed: {error}",
            self.stem,
            self.dir.display()
        )
    }
}

/// The most buckets of the directory: 256 KiB of it in wasm from 65,536
/// guids on disk on.
const MAX_BUCKETS: usize = 1 << 16;

/// Rebuilds `directory` over sorted `fingerprints`: about one bucket per
/// fingerprint (a power of two, at most [`MAX_BUCKETS`]), so rebuilding
/// after each run costs no more than merging the run's fingerprints in,
/// even when `Options.MailboxGuidsInMemory` makes runs of one guid.
fn index_buckets(fingerprints: &[u32], directory: &mut Vec<usize>) {
    let buckets = fingerprints.len().next_power_of_two().clamp(1, MAX_BUCKETS);
    directory.clear();
    directory.reserve(buckets + 1);
    let mut at = 0usize;
    for bucket in 0..buckets {
        while fingerprints
            .get(at)
            .is_some_and(|&f| bucket_of(f, buckets) < bucket)
        {
            at += 1;
        }
        directory.push(at);
    }
    directory.push(fingerprints.len());
}

/// A fingerprint's bucket among `buckets` (a power of two): its top bits.
fn bucket_of(fingerprint: u32, buckets: usize) -> usize {
    ((u64::from(fingerprint) * buckets as u64) >> 32) as usize
}

/// Merges the sorted `fresh` into the sorted `all`, in place from the end
/// (no second copy of `all`).
fn merge_into(all: &mut Vec<u32>, fresh: &[u32]) {
    let old = all.len();
    all.resize(old + fresh.len(), 0);
    let (mut i, mut j, mut k) = (old, fresh.len(), all.len());
    while j > 0 {
        k -= 1;
        if i > 0 && all[i - 1] > fresh[j - 1] {
            i -= 1;
            all[k] = all[i];
        } else {
            j -= 1;
            all[k] = fresh[j];
        }
    }
}

/// The guids of a [`Written`], in order: a k-way merge of its runs and
/// its recent guids. Holds the runs until it is dropped.
pub struct Sorted {
    len: usize,
    recent: std::iter::Peekable<std::vec::IntoIter<u128>>,
    heap: BinaryHeap<Reverse<(u128, usize)>>,
    readers: Vec<RunReader>,
    _runs: Vec<Run>,
    spill: Spill,
}

impl Sorted {
    pub fn len(&self) -> usize {
        self.len
    }

    fn refill(&mut self, at: usize) -> Result<(), String> {
        if let Some(guid) = self.readers[at]
            .next()
            .map_err(|e| self.spill.error("reading", e))?
        {
            self.heap.push(Reverse((guid, at)));
        }
        Ok(())
    }

    pub fn next_guid(&mut self) -> Result<Option<u128>, String> {
        let from_runs = self.heap.peek().map(|Reverse((guid, _))| *guid);
        match (from_runs, self.recent.peek().copied()) {
            (Some(run), Some(recent)) if recent < run => Ok(self.recent.next()),
            (Some(_), _) => {
                let Some(Reverse((guid, at))) = self.heap.pop() else {
                    return Ok(None);
                };
                self.refill(at)?;
                Ok(Some(guid))
            }
            (None, _) => Ok(self.recent.next()),
        }
    }
}

#[cfg(test)]
#[path = "written_tests.rs"]
mod tests;
