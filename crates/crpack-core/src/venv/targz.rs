//! Byte-reproducible `.tar.gz` writing.
//!
//! The archive's bytes depend only on the entries given (their order, paths, contents and the one
//! timestamp), never on the machine, the user, the clock, the thread count or the scheduling:
//!
//! - [`ParallelGzWriter`] compresses on every core, like `pigz --independent`: the input is cut into
//!   fixed [`BLOCK_SIZE`] blocks, each compressed on its own as raw deflate at [`LEVEL`] and ended
//!   with a sync flush (byte-aligned, not final); the blocks are written in order, then one empty
//!   final block. The gzip header is fixed (MTIME 0, no name, OS 255) and the trailer's CRC-32 is
//!   combined from the blocks' CRCs. The result is one ordinary gzip member.
//! - [`TarWriter`] writes POSIX ustar headers with every varying field fixed: uid/gid 0, empty
//!   user and group names, one mtime, modes 0644/0755/0777, device numbers 0. Paths and link
//!   targets longer than the 100 bytes ustar holds go into a PAX extended header (`././@PaxHeader`,
//!   as Python's `tarfile` writes it). The archive ends with two zero blocks, padded to a whole
//!   10240-byte record like GNU tar and `tarfile` do.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::{Arc, mpsc};

use flate2::{Compress, Compression, Crc, FlushCompress};
use rayon::prelude::*;

/// The input is cut into blocks of this many bytes, each compressed independently. Part of the
/// output format: changing it changes every archive's bytes.
pub const BLOCK_SIZE: usize = 1 << 20;

/// The deflate level of every block. Part of the output format like [`BLOCK_SIZE`].
pub const LEVEL: u32 = 6;

/// At most this many blocks are buffered and compressed at once, whatever the core count, so
/// memory stays bounded (input plus output of one batch: about 2 × 16 MiB).
const MAX_BATCH_BLOCKS: usize = 16;

/// Magic, CM=8 (deflate), FLG=0, MTIME=0, XFL=0, OS=255 (unknown).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final fixed-Huffman block holding only the end-of-block code.
const EMPTY_FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The timestamp used when `SOURCE_DATE_EPOCH` is not set: 1980-01-01T00:00:00Z, the earliest a
/// zip can hold (the same default as the bundle).
pub const DEFAULT_MTIME: u64 = 315_532_800;

/// What can go wrong while writing an archive.
#[derive(Debug, thiserror::Error)]
pub enum TargzError {
    #[error(
        "SOURCE_DATE_EPOCH={0:?} is not a whole, non-negative number of seconds since 1970; set it to one \
         (e.g. `git log -1 --format=%ct`) or unset it"
    )]
    BadSourceDateEpoch(String),

    #[error(
        "cannot archive {path:?}: the path {reason}; give a relative, `/`-separated path without `.` or `..`"
    )]
    BadPath { path: String, reason: &'static str },

    #[error("cannot archive the symlink {path:?}: its target {target:?} {reason}; point it at a real path")]
    BadLinkTarget {
        path: String,
        target: String,
        reason: &'static str,
    },

    #[error("{0:?} is already in the archive; each path can be added once, so drop the duplicate")]
    Duplicate(String),

    #[error(
        "{path}: expected {expected} bytes but the data ended after {actual}; the file changed while it was \
         archived, build again"
    )]
    TooShort {
        path: String,
        expected: u64,
        actual: u64,
    },

    #[error(
        "{path}: the data is longer than the expected {expected} bytes; the file changed while it was archived, \
         build again"
    )]
    TooLong { path: String, expected: u64 },

    #[error("{path}: reading the data failed: {source}")]
    Read { path: String, source: io::Error },

    #[error("writing the archive failed at {path}: {source}; check the output's free space and permissions")]
    Write { path: String, source: io::Error },

    #[error("an earlier entry failed while it was written, so the archive is incomplete; build it again")]
    Incomplete,
}

impl From<TargzError> for io::Error {
    fn from(e: TargzError) -> Self {
        // Keep the kind of an I/O failure, and the path in the message.
        let kind = match &e {
            TargzError::Read { source, .. } | TargzError::Write { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The archive timestamp: `SOURCE_DATE_EPOCH` when set, else [`DEFAULT_MTIME`].
pub fn mtime_from_env() -> Result<u64, TargzError> {
    mtime_from(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// The archive timestamp for a `SOURCE_DATE_EPOCH` value (`None`, empty or blank: the default).
pub fn mtime_from(value: Option<&str>) -> Result<u64, TargzError> {
    match value.map(str::trim) {
        None | Some("") => Ok(DEFAULT_MTIME),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse::<u64>()
            .map_err(|_| TargzError::BadSourceDateEpoch(v.to_string())),
        Some(_) => Err(TargzError::BadSourceDateEpoch(
            value.unwrap_or_default().to_string(),
        )),
    }
}

// ------------------------------------------------------------------------------------------------
// gzip

/// A gzip writer whose output depends only on its input, compressing on all cores.
///
/// Input is buffered until a batch of blocks is full; [`Write::flush`] only flushes what is
/// already compressed (flushing the partial block would make the output depend on the flush
/// points). Call [`ParallelGzWriter::finish`] to end the stream: dropping the writer loses the
/// buffered input and leaves the gzip stream unterminated.
pub struct ParallelGzWriter<W: Write> {
    out: W,
    pool: Option<Arc<rayon::ThreadPool>>,
    block_size: usize,
    batch_blocks: usize,
    pending: Vec<u8>,
    /// The batch being compressed in the background while the next one fills: its blocks'
    /// results arrive here, in order.
    inflight: Option<mpsc::Receiver<Vec<BlockResult>>>,
    crc: Crc,
    header_written: bool,
    failed: bool,
}

impl<W: Write> ParallelGzWriter<W> {
    /// A writer compressing on rayon's global thread pool.
    pub fn new(out: W) -> Self {
        Self::build(out, None, rayon::current_num_threads(), BLOCK_SIZE)
    }

    /// A writer compressing on its own pool of `threads` threads (0: one per core). The output is
    /// the same as [`ParallelGzWriter::new`]'s.
    pub fn with_threads(out: W, threads: usize) -> io::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| io::Error::other(format!("cannot start {threads} compression threads: {e}")))?;
        let n = pool.current_num_threads();
        Ok(Self::build(out, Some(pool), n, BLOCK_SIZE))
    }

    fn build(out: W, pool: Option<rayon::ThreadPool>, threads: usize, block_size: usize) -> Self {
        ParallelGzWriter {
            out,
            pool: pool.map(Arc::new),
            block_size,
            batch_blocks: threads.saturating_mul(2).clamp(1, MAX_BATCH_BLOCKS),
            pending: Vec::new(),
            inflight: None,
            crc: Crc::new(),
            header_written: false,
            failed: false,
        }
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Compresses what is buffered, ends the stream with the empty final block and the trailer,
    /// flushes, and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.check()?;
        self.compress_pending()?;
        self.write_header()?;
        let mut trailer = [0u8; 10];
        trailer[..2].copy_from_slice(&EMPTY_FINAL_BLOCK);
        trailer[2..6].copy_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the input length modulo 2^32, which is what `amount` counts.
        trailer[6..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.out.write_all(&trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn check(&self) -> io::Result<()> {
        if self.failed {
            return Err(TargzError::Incomplete.into());
        }
        Ok(())
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_all(&GZIP_HEADER)?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Compresses the buffered blocks in parallel and writes them in order, waiting for the
    /// batch in flight first.
    fn compress_pending(&mut self) -> io::Result<()> {
        let result = self.wait_inflight().and_then(|()| {
            if self.pending.is_empty() {
                return Ok(());
            }
            let batch = std::mem::take(&mut self.pending);
            let results = match &self.pool {
                Some(pool) => pool.install(|| compress_batch(&batch, self.block_size)),
                None => compress_batch(&batch, self.block_size),
            };
            self.write_results(results)
        });
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Hands the full batch to the pool and returns at once, so the caller fills the next batch
    /// while this one compresses; the results are written, in order, before the next batch
    /// is handed over. The output does not depend on this overlap.
    fn compress_in_background(&mut self) -> io::Result<()> {
        let result = self.wait_inflight().map(|()| {
            let batch = std::mem::replace(
                &mut self.pending,
                Vec::with_capacity(self.block_size * self.batch_blocks),
            );
            let block_size = self.block_size;
            let (tx, rx) = mpsc::channel();
            let job = move || {
                // The receiver is gone only when the writer was dropped: nothing to report to.
                let _ = tx.send(compress_batch(&batch, block_size));
            };
            match &self.pool {
                Some(pool) => pool.spawn(job),
                None => rayon::spawn(job),
            }
            self.inflight = Some(rx);
        });
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn wait_inflight(&mut self) -> io::Result<()> {
        let Some(rx) = self.inflight.take() else {
            return Ok(());
        };
        let results = rx
            .recv()
            .map_err(|_| io::Error::other("a compression thread stopped before finishing its batch"))?;
        self.write_results(results)
    }

    fn write_results(&mut self, results: Vec<BlockResult>) -> io::Result<()> {
        self.write_header()?;
        for result in results {
            let (bytes, crc) = result?;
            self.out.write_all(&bytes)?;
            self.crc.combine(&crc);
        }
        Ok(())
    }
}

/// One compressed block and the CRC of its input.
type BlockResult = io::Result<(Vec<u8>, Crc)>;

/// Compresses a batch's blocks in parallel on the current pool, in order.
fn compress_batch(batch: &[u8], block_size: usize) -> Vec<BlockResult> {
    batch
        .chunks(block_size)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|block| compress_block(block))
        .collect()
}

/// One block as raw deflate ended with a sync flush, and its CRC.
fn compress_block(block: &[u8]) -> io::Result<(Vec<u8>, Crc)> {
    let mut crc = Crc::new();
    crc.update(block);
    let mut deflate = Compress::new(Compression::new(LEVEL), false);
    // Above zlib's bound for deflate at level 6 plus the flush marker, so one call does it all;
    // the loop only guards against a backend needing more. The capacity depends only on the
    // block's length, so the calls (and the bytes) are the same on every run.
    let mut out = Vec::with_capacity(block.len() + block.len() / 1024 + 64);
    loop {
        let (before_in, before_out) = (deflate.total_in(), deflate.total_out());
        let start = usize::try_from(before_in).unwrap_or(usize::MAX).min(block.len());
        deflate
            .compress_vec(&block[start..], &mut out, FlushCompress::Sync)
            .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
        let all_in = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX) >= block.len();
        let room_left = out.len() < out.capacity();
        if all_in && room_left {
            return Ok((out, crc));
        }
        if room_left && deflate.total_in() == before_in && deflate.total_out() == before_out {
            return Err(io::Error::other("deflate made no progress on a block"));
        }
        out.reserve(block.len() / 4 + 64);
    }
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        let batch = self.block_size * self.batch_blocks;
        if self.pending.capacity() < batch {
            self.pending.reserve_exact(batch - self.pending.len());
        }
        let n = buf.len().min(batch - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == batch {
            self.compress_in_background()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        self.out.flush()
    }
}

// ------------------------------------------------------------------------------------------------
// tar

const TAR_BLOCK: usize = 512;
/// GNU tar and Python's `tarfile` pad archives to whole records of 20 blocks.
const TAR_RECORD: u64 = 20 * TAR_BLOCK as u64;
/// The largest value an 11-digit octal field holds.
const OCTAL_11_MAX: u64 = 0o777_7777_7777;
const NAME_LEN: usize = 100;
const COPY_BUFFER: usize = 64 * 1024;

const TYPE_FILE: u8 = b'0';
const TYPE_SYMLINK: u8 = b'2';
const TYPE_DIR: u8 = b'5';
const TYPE_PAX: u8 = b'x';

/// A deterministic tar writer for regular files, directories and symlinks, added in the order
/// the caller chooses (sort them for a reproducible archive).
///
/// A failure while an entry is being written leaves the archive incomplete: every later call
/// then fails. A rejected path writes nothing and the archive stays usable.
pub struct TarWriter<W: Write> {
    out: W,
    mtime: u64,
    written: u64,
    seen: HashSet<String>,
    buffer: Vec<u8>,
    failed: bool,
}

impl<W: Write> TarWriter<W> {
    /// A writer stamping every entry with `mtime` (seconds since 1970).
    pub fn new(out: W, mtime: u64) -> Self {
        TarWriter {
            out,
            mtime,
            written: 0,
            seen: HashSet::new(),
            buffer: Vec::new(),
            failed: false,
        }
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Adds a directory (mode 0755); a trailing `/` on `path` is optional.
    pub fn dir(&mut self, path: &str) -> Result<(), TargzError> {
        let bare = path.strip_suffix('/').unwrap_or(path);
        self.admit(bare)?;
        let name = format!("{bare}/");
        self.entry(bare, name.as_bytes(), b"", TYPE_DIR, 0o755, 0)
    }

    /// Adds a regular file of `size` bytes read from `data` (mode 0755 when `executable`, else
    /// 0644). `data` must give exactly `size` bytes.
    pub fn file(
        &mut self,
        path: &str,
        size: u64,
        executable: bool,
        data: &mut dyn Read,
    ) -> Result<(), TargzError> {
        self.admit(path)?;
        let mode = if executable { 0o755 } else { 0o644 };
        self.entry(path, path.as_bytes(), b"", TYPE_FILE, mode, size)?;
        let result = self.copy(path, size, data);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Adds a symlink (mode 0777) pointing at `target`, which is stored as given.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), TargzError> {
        let reason = if target.is_empty() {
            Some("is empty")
        } else if target.contains('\0') {
            Some("contains a NUL byte")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(TargzError::BadLinkTarget {
                path: path.to_string(),
                target: target.to_string(),
                reason,
            });
        }
        self.admit(path)?;
        self.entry(path, path.as_bytes(), target.as_bytes(), TYPE_SYMLINK, 0o777, 0)
    }

    /// Ends the archive (two zero blocks, padded to a whole record) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.failed {
            return Err(TargzError::Incomplete.into());
        }
        let end = self.written + 2 * TAR_BLOCK as u64;
        let padded = end.div_ceil(TAR_RECORD) * TAR_RECORD;
        let zeros = vec![0u8; usize::try_from(padded - self.written).map_err(io::Error::other)?];
        self.out.write_all(&zeros)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Checks a path and records it; nothing is written.
    fn admit(&mut self, path: &str) -> Result<(), TargzError> {
        if self.failed {
            return Err(TargzError::Incomplete);
        }
        check_path(path)?;
        if !self.seen.insert(path.to_string()) {
            return Err(TargzError::Duplicate(path.to_string()));
        }
        Ok(())
    }

    /// Writes an entry's header (after a PAX header when a field does not fit ustar).
    fn entry(
        &mut self,
        path: &str,
        name: &[u8],
        link: &[u8],
        kind: u8,
        mode: u32,
        size: u64,
    ) -> Result<(), TargzError> {
        let mut records = Vec::new();
        if name.len() > NAME_LEN {
            pax_record(&mut records, "path", name);
        }
        if link.len() > NAME_LEN {
            pax_record(&mut records, "linkpath", link);
        }
        if size > OCTAL_11_MAX {
            pax_record(&mut records, "size", size.to_string().as_bytes());
        }
        if self.mtime > OCTAL_11_MAX {
            pax_record(&mut records, "mtime", self.mtime.to_string().as_bytes());
        }
        if !records.is_empty() {
            let pax = ustar_header(
                b"././@PaxHeader",
                b"",
                TYPE_PAX,
                0o644,
                records.len() as u64,
                self.mtime,
            );
            self.put(path, &pax)?;
            self.put(path, &records)?;
            self.pad(path, records.len() as u64)?;
        }
        let header = ustar_header(name, link, kind, mode, size, self.mtime);
        self.put(path, &header)
    }

    /// Copies exactly `size` bytes of `data` into the archive, then pads to a whole block.
    fn copy(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<(), TargzError> {
        if self.buffer.is_empty() {
            self.buffer = vec![0u8; COPY_BUFFER];
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = (|| {
            let mut copied = 0u64;
            while copied < size {
                let want = usize::try_from(size - copied)
                    .unwrap_or(usize::MAX)
                    .min(buffer.len());
                let n = read_some(path, data, &mut buffer[..want])?;
                if n == 0 {
                    return Err(TargzError::TooShort {
                        path: path.to_string(),
                        expected: size,
                        actual: copied,
                    });
                }
                self.put(path, &buffer[..n])?;
                copied += n as u64;
            }
            if read_some(path, data, &mut buffer[..1])? != 0 {
                return Err(TargzError::TooLong {
                    path: path.to_string(),
                    expected: size,
                });
            }
            self.pad(path, size)
        })();
        self.buffer = buffer;
        result
    }

    /// Zeros up to the next block boundary after `len` bytes of data.
    fn pad(&mut self, path: &str, len: u64) -> Result<(), TargzError> {
        let rest = (len % TAR_BLOCK as u64) as usize;
        if rest != 0 {
            self.put(path, &[0u8; TAR_BLOCK][rest..])?;
        }
        Ok(())
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<(), TargzError> {
        if let Err(source) = self.out.write_all(bytes) {
            self.failed = true;
            return Err(TargzError::Write {
                path: path.to_string(),
                source,
            });
        }
        self.written += bytes.len() as u64;
        Ok(())
    }
}

fn read_some(path: &str, data: &mut dyn Read, buf: &mut [u8]) -> Result<usize, TargzError> {
    loop {
        match data.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(TargzError::Read {
                    path: path.to_string(),
                    source,
                });
            }
        }
    }
}

/// A path must be relative, `/`-separated, without empty, `.` or `..` components, and without NUL.
fn check_path(path: &str) -> Result<(), TargzError> {
    let reason = if path.is_empty() {
        Some("is empty")
    } else if path.contains('\0') {
        Some("contains a NUL byte")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.split('/').any(|c| c == "..") {
        Some("has a `..` component")
    } else if path.split('/').any(|c| c == ".") {
        Some("has a `.` component")
    } else if path.split('/').any(str::is_empty) {
        Some("has an empty component (`//` or a trailing `/`)")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TargzError::BadPath {
            path: path.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Appends one PAX record, `"<length> <key>=<value>\n"`, where the length counts itself.
fn pax_record(records: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() + rest != len {
        len = rest + len.to_string().len();
    }
    records.extend_from_slice(len.to_string().as_bytes());
    records.push(b' ');
    records.extend_from_slice(key.as_bytes());
    records.push(b'=');
    records.extend_from_slice(value);
    records.push(b'\n');
}

/// A ustar header. Fields too long or too large for it are truncated or zero; the caller puts
/// their real values in a PAX header first.
fn ustar_header(name: &[u8], link: &[u8], kind: u8, mode: u32, size: u64, mtime: u64) -> [u8; TAR_BLOCK] {
    let mut h = [0u8; TAR_BLOCK];
    let name = &name[..name.len().min(NAME_LEN)];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], if size > OCTAL_11_MAX { 0 } else { size });
    octal(&mut h[136..148], if mtime > OCTAL_11_MAX { 0 } else { mtime });
    h[156] = kind;
    let link = &link[..link.len().min(NAME_LEN)];
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // uname 265..297 and gname 297..329 stay empty.
    octal(&mut h[329..337], 0); // devmajor
    octal(&mut h[337..345], 0); // devminor
    // The checksum is the byte sum with its own field counted as spaces: six octal digits,
    // NUL, space.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let digits = format!("{sum:06o}");
    h[148..154].copy_from_slice(&digits.as_bytes()[digits.len() - 6..]);
    h[154] = 0;
    h
}

/// Zero-padded octal digits filling the field but its last byte, which is NUL.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    let digits = &digits.as_bytes()[digits.len().saturating_sub(width)..];
    field[..width].copy_from_slice(digits);
    field[width] = 0;
}

// ------------------------------------------------------------------------------------------------
// both

/// A tar writer compressing into `out` with [`ParallelGzWriter`]; end it with
/// [`TarWriter::finish_gz`].
pub fn tar_gz<W: Write>(out: W, mtime: u64) -> TarWriter<ParallelGzWriter<W>> {
    TarWriter::new(ParallelGzWriter::new(out), mtime)
}

impl<W: Write> TarWriter<ParallelGzWriter<W>> {
    /// Ends the archive and the gzip stream and returns the underlying writer.
    pub fn finish_gz(self) -> io::Result<W> {
        self.finish()?.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;
    use crate::testing::python3;
    use flate2::read::{GzDecoder, MultiGzDecoder};
    use proptest::prelude::*;

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    /// Stretches of random bytes, text and zeros, so blocks compress very differently.
    fn mixed(len: usize) -> Vec<u8> {
        let text = b"def handler(event, context):\n    return {'rows': len(event['rows'])}\n";
        let mut data = Vec::with_capacity(len);
        let mut i = 0u64;
        while data.len() < len {
            let n = 40_000 + (i as usize * 7919) % 300_000;
            match i % 3 {
                0 => data.extend(noise(n, i)),
                1 => data.extend(text.iter().cycle().take(n)),
                _ => data.extend(std::iter::repeat_n(0u8, n)),
            }
            i += 1;
        }
        data.truncate(len);
        data
    }

    fn gz_with(data: &[u8], threads: usize, block_size: usize, chunk: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut w = ParallelGzWriter::build(Vec::new(), Some(pool), threads, block_size);
        for piece in data.chunks(chunk.max(1)) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut multi = Vec::new();
        MultiGzDecoder::new(gz).read_to_end(&mut multi).unwrap();
        // It is one gzip member: a single-member reader must see all of it too.
        let mut single = Vec::new();
        GzDecoder::new(gz).read_to_end(&mut single).unwrap();
        assert_eq!(single, multi);
        multi
    }

    /// Writes `bytes` to a file `name` and runs `script` on it: it must print 0.
    fn python_finds_nothing(bytes: &[u8], name: &str, script: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(python3(script, [&path]).trim(), "0");
    }

    #[test]
    fn output_is_the_same_with_1_2_and_4_threads() {
        let data = mixed(3 * BLOCK_SIZE + 123_457);
        let one = gz_with(&data, 1, BLOCK_SIZE, data.len());
        assert_eq!(gz_with(&data, 2, BLOCK_SIZE, 100_003), one);
        assert_eq!(gz_with(&data, 4, BLOCK_SIZE, 4096), one);
        let mut global = ParallelGzWriter::new(Vec::new());
        global.write_all(&data).unwrap();
        assert_eq!(global.finish().unwrap(), one);
        let mut own = ParallelGzWriter::with_threads(Vec::new(), 3).unwrap();
        own.write_all(&data).unwrap();
        assert_eq!(own.finish().unwrap(), one);
        assert!(
            gunzip(&one) == data,
            "the output does not decompress to the input"
        );
        assert!(
            one.len() < data.len() / 2,
            "mixed data should compress: {} bytes",
            one.len()
        );
    }

    #[test]
    fn header_and_trailer_are_fixed() {
        let data = mixed(BLOCK_SIZE + 10);
        let gz = gz_with(&data, 2, BLOCK_SIZE, 65_536);
        assert_eq!(gz[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        let mut crc = Crc::new();
        crc.update(&data);
        let n = gz.len();
        assert_eq!(gz[n - 8..n - 4], crc.sum().to_le_bytes());
        assert_eq!(gz[n - 4..], (data.len() as u32).to_le_bytes());
        // The empty final block comes last, after the sync flush marker of the last block.
        assert_eq!(gz[n - 14..n - 8], [0, 0, 0xff, 0xff, 0x03, 0x00]);
    }

    #[test]
    fn empty_input_is_a_valid_gzip() {
        let gz = ParallelGzWriter::new(Vec::new()).finish().unwrap();
        let mut expected = GZIP_HEADER.to_vec();
        expected.extend([0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(gz, expected);
        assert!(gunzip(&gz).is_empty());
        python_finds_nothing(
            &gz,
            "empty.gz",
            "import gzip, sys; print(len(gzip.open(sys.argv[1]).read()))",
        );
    }

    #[test]
    fn python_gzip_reads_a_multi_block_stream() {
        let data = mixed(2 * BLOCK_SIZE + 77);
        let gz = gz_with(&data, 2, BLOCK_SIZE, 1 << 16);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.gz");
        std::fs::write(&path, &gz).unwrap();
        let out = python3(
            "import gzip, hashlib, sys\n\
             d = gzip.open(sys.argv[1]).read()\n\
             print(len(d), hashlib.sha256(d).hexdigest())",
            [&path],
        );
        assert_eq!(
            out.trim(),
            format!("{} {}", data.len(), Sha256Digest::of(&data).to_hex())
        );
    }

    #[test]
    fn inputs_of_whole_blocks_round_trip() {
        for len in [0, 1, 4095, 4096, 4097, 8192, 3 * 4096] {
            let data = noise(len, len as u64);
            let gz = gz_with(&data, 2, 4096, 1000);
            assert_eq!(gunzip(&gz), data, "length {len}");
            assert_eq!(gz_with(&data, 1, 4096, len), gz, "length {len}");
        }
    }

    #[test]
    fn flush_does_not_change_the_output() {
        let data = mixed(300_000);
        let plain = gz_with(&data, 2, 4096, data.len());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let mut w = ParallelGzWriter::build(Vec::new(), Some(pool), 2, 4096);
        for piece in data.chunks(7_001) {
            w.write_all(piece).unwrap();
            w.flush().unwrap();
        }
        assert_eq!(w.finish().unwrap(), plain);
    }

    enum Entry {
        Dir(String),
        File(String, Vec<u8>, bool),
        Link(String, String),
    }

    /// Gives at most 7 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn long_path() -> String {
        let p = format!("lib/python3.11/site-packages/{}.py", "p".repeat(150 - 29 - 3));
        assert_eq!(p.len(), 150);
        p
    }

    fn long_target() -> String {
        let t = format!("/opt/{}", "t".repeat(145));
        assert_eq!(t.len(), 150);
        t
    }

    fn long_dir() -> String {
        format!("lib/{}", "d".repeat(116))
    }

    fn sample() -> Vec<Entry> {
        let s = |x: &str| x.to_string();
        vec![
            Entry::Dir(s("bin")),
            Entry::Link(s("bin/python"), s("python3.11")),
            Entry::Link(s("bin/python3.11"), s("/usr/bin/python3.11")),
            Entry::File(
                s("bin/tool"),
                b"#!/usr/bin/env python3\nprint('hi')\n".to_vec(),
                true,
            ),
            Entry::Dir(s("lib/")),
            Entry::File(s("lib/donn\u{e9}es.txt"), Vec::new(), false),
            Entry::Dir(long_dir()),
            Entry::File(long_path(), mixed(70_000), false),
            Entry::Link(s("lib/far"), long_target()),
            Entry::Link(s("lib64"), s("lib")),
            Entry::File(s("pyvenv.cfg"), b"home = /usr/bin\n".to_vec(), false),
        ]
    }

    fn write_sample<W: Write>(tw: &mut TarWriter<W>) {
        for e in sample() {
            match e {
                Entry::Dir(p) => tw.dir(&p).unwrap(),
                Entry::File(p, data, x) => tw.file(&p, data.len() as u64, x, &mut Trickle(&data)).unwrap(),
                Entry::Link(p, t) => tw.symlink(&p, &t).unwrap(),
            }
        }
    }

    const MTIME: u64 = 1_700_000_000;

    #[test]
    fn tar_crate_reads_back_every_field() {
        let mut tw = tar_gz(Vec::new(), MTIME);
        write_sample(&mut tw);
        let gz = tw.finish_gz().unwrap();
        let mut archive = tar::Archive::new(MultiGzDecoder::new(&gz[..]));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let h = entry.header().clone();
            assert_eq!(h.mtime().unwrap(), MTIME, "{path}");
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0), "{path}");
            assert_eq!(h.username_bytes(), Some(&b""[..]), "{path}");
            assert_eq!(h.groupname_bytes(), Some(&b""[..]), "{path}");
            assert_eq!(
                (h.device_major().unwrap(), h.device_minor().unwrap()),
                (Some(0), Some(0))
            );
            let link = entry
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap());
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((path, h.entry_type(), h.mode().unwrap(), link, data));
        }
        let expected: Vec<_> = sample()
            .into_iter()
            .map(|e| match e {
                Entry::Dir(p) => {
                    let p = format!("{}/", p.trim_end_matches('/'));
                    (p, tar::EntryType::Directory, 0o755, None, Vec::new())
                }
                Entry::File(p, data, x) => (
                    p,
                    tar::EntryType::Regular,
                    if x { 0o755 } else { 0o644 },
                    None,
                    data,
                ),
                Entry::Link(p, t) => (p, tar::EntryType::Symlink, 0o777, Some(t), Vec::new()),
            })
            .collect();
        assert_eq!(seen.len(), expected.len());
        for (got, want) in seen.iter().zip(&expected) {
            assert!(
                got == want,
                "got {:?} {:?} {:o} {:?}, want {:?}",
                got.0,
                got.1,
                got.2,
                got.3,
                want.0
            );
        }
    }

    #[test]
    fn python_tarfile_lists_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.tar.gz");
        let mut tw = tar_gz(std::fs::File::create(&path).unwrap(), MTIME);
        write_sample(&mut tw);
        tw.finish_gz().unwrap();
        let mut plain = TarWriter::new(Vec::new(), MTIME);
        write_sample(&mut plain);
        let plain = plain.finish().unwrap();
        assert_eq!(plain.len() % 10240, 0);

        let out = python3(
            "import gzip, hashlib, json, sys, tarfile\n\
             rows = []\n\
             with tarfile.open(sys.argv[1], 'r:gz') as tf:\n\
             \x20   for m in tf.getmembers():\n\
             \x20       d = hashlib.sha256(tf.extractfile(m).read()).hexdigest() if m.isfile() else None\n\
             \x20       rows.append([m.name, m.type.decode(), oct(m.mode), m.mtime, m.uid, m.gid, m.uname,\n\
             \x20                    m.gname, m.linkname, m.size, d])\n\
             raw = gzip.open(sys.argv[1]).read()\n\
             print(json.dumps({'rows': rows, 'tar': hashlib.sha256(raw).hexdigest()}))",
            [&path],
        );
        let got: serde_json::Value = serde_json::from_str(&out).unwrap();
        let row = |name: &str, kind: &str, mode: &str, link: &str, data: Option<&[u8]>| {
            serde_json::json!([
                name,
                kind,
                mode,
                MTIME,
                0,
                0,
                "",
                "",
                link,
                data.map_or(0, <[u8]>::len),
                data.map(|d| Sha256Digest::of(d).to_hex())
            ])
        };
        let expected: Vec<_> = sample()
            .iter()
            .map(|e| match e {
                // tarfile drops the trailing `/` of directory names.
                Entry::Dir(p) => row(p.trim_end_matches('/'), "5", "0o755", "", None),
                Entry::File(p, d, x) => row(p, "0", if *x { "0o755" } else { "0o644" }, "", Some(d)),
                Entry::Link(p, t) => row(p, "2", "0o777", t, None),
            })
            .collect();
        assert_eq!(got["rows"], serde_json::Value::Array(expected));
        assert_eq!(got["tar"], Sha256Digest::of(&plain).to_hex().as_str());
        // The long path and target are really 150 bytes there, not truncated.
        assert!(out.contains(&long_path()) && out.contains(&long_target()));
    }

    #[test]
    fn empty_archive_is_valid() {
        let gz = tar_gz(Vec::new(), DEFAULT_MTIME).finish_gz().unwrap();
        assert_eq!(gunzip(&gz), vec![0u8; 10240]);
        python_finds_nothing(
            &gz,
            "empty.tar.gz",
            "import sys, tarfile\nprint(len(tarfile.open(sys.argv[1], 'r:gz').getmembers()))",
        );
    }

    #[test]
    fn archives_are_byte_identical_across_runs_and_threads() {
        let build = |threads: usize| {
            let gz = ParallelGzWriter::with_threads(Vec::new(), threads).unwrap();
            let mut tw = TarWriter::new(gz, MTIME);
            write_sample(&mut tw);
            tw.finish_gz().unwrap()
        };
        let one = build(1);
        assert_eq!(build(2), one);
        assert_eq!(build(4), one);
    }

    #[test]
    fn huge_mtime_goes_into_a_pax_record() {
        let mtime = 100_000_000_000; // past what 11 octal digits hold (year 2242)
        let mut tw = TarWriter::new(Vec::new(), mtime);
        tw.file("a.txt", 2, false, &mut &b"hi"[..]).unwrap();
        let tar = tw.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tar");
        std::fs::write(&path, &tar).unwrap();
        let out = python3(
            "import sys, tarfile\n\
             for m in tarfile.open(sys.argv[1]):\n\
             \x20   print(m.name, int(m.mtime), m.size)",
            [&path],
        );
        assert_eq!(out.trim(), "a.txt 100000000000 2");
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        for value_len in 0..2000 {
            let mut r = Vec::new();
            pax_record(&mut r, "path", "v".repeat(value_len).as_bytes());
            let text = String::from_utf8(r.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len(), "{text:?}");
        }
    }

    #[test]
    fn bad_paths_are_rejected_and_write_nothing() {
        let mut tw = TarWriter::new(Vec::new(), MTIME);
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../up", "`..`"),
            ("a/../../b", "`..`"),
            ("a/..", "`..`"),
            ("./a", "`.`"),
            ("a//b", "empty component"),
            ("a\0b", "NUL"),
        ];
        for (path, why) in cases {
            let err = tw.file(path, 0, false, &mut io::empty()).unwrap_err();
            assert!(matches!(err, TargzError::BadPath { .. }), "{path:?}: {err}");
            assert!(err.to_string().contains(why), "{path:?}: {err}");
            assert!(tw.dir(path).is_err(), "{path:?}");
            assert!(tw.symlink(path, "x").is_err(), "{path:?}");
        }
        assert!(
            tw.file("a/", 0, false, &mut io::empty()).is_err(),
            "a trailing / on a file"
        );
        assert!(matches!(
            tw.symlink("l", ""),
            Err(TargzError::BadLinkTarget { .. })
        ));
        assert!(matches!(
            tw.symlink("l", "a\0"),
            Err(TargzError::BadLinkTarget { .. })
        ));
        assert!(tw.get_ref().is_empty(), "a rejected entry wrote bytes");
        tw.dir("a").unwrap();
        let err = tw.file("a", 0, false, &mut io::empty()).unwrap_err();
        assert!(matches!(err, TargzError::Duplicate(_)), "{err}");
        assert!(tw.dir("a/").is_err());
        // Symlink targets may leave the archive: the venv's interpreter link does.
        tw.symlink("up", "../../x").unwrap();
        assert_eq!(tw.finish().unwrap().len(), 10240);
    }

    #[test]
    fn size_and_data_must_agree() {
        let mut tw = TarWriter::new(Vec::new(), MTIME);
        let err = tw.file("short", 10, false, &mut &b"12345"[..]).unwrap_err();
        assert!(
            matches!(
                err,
                TargzError::TooShort {
                    expected: 10,
                    actual: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("short"), "{err}");
        // The archive is now incomplete: nothing more can be added and finishing fails.
        assert!(matches!(tw.dir("d"), Err(TargzError::Incomplete)));
        assert!(tw.finish().is_err());

        let mut tw = TarWriter::new(Vec::new(), MTIME);
        let err = tw.file("long", 3, false, &mut &b"12345"[..]).unwrap_err();
        assert!(matches!(err, TargzError::TooLong { expected: 3, .. }), "{err}");
        assert!(tw.finish().is_err());

        let mut tw = TarWriter::new(Vec::new(), MTIME);
        tw.file("exact", 5, false, &mut &b"12345"[..]).unwrap();
        tw.finish().unwrap();
    }

    #[test]
    fn write_failures_are_reported_and_stick() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut w = ParallelGzWriter::build(Full, Some(pool), 1, 16);
        assert!(w.write_all(&[1; 100]).is_err());
        assert!(w.write(&[1]).is_err(), "a failed writer accepted more input");
        assert!(w.finish().is_err());

        let mut tw = TarWriter::new(Full, MTIME);
        let err = tw.dir("bin").unwrap_err();
        assert!(
            matches!(err, TargzError::Write { .. }) && err.to_string().contains("bin"),
            "{err}"
        );
        let io_err = io::Error::from(err);
        assert_eq!(io_err.kind(), io::ErrorKind::StorageFull);
        assert!(io_err.to_string().contains("bin"), "{io_err}");
        assert!(tw.finish().is_err());
    }

    #[test]
    fn mtime_comes_from_source_date_epoch() {
        assert_eq!(mtime_from(None).unwrap(), 315_532_800);
        assert_eq!(mtime_from(Some("")).unwrap(), DEFAULT_MTIME);
        assert_eq!(mtime_from(Some("1700000000")).unwrap(), 1_700_000_000);
        assert_eq!(mtime_from(Some(" 0\n")).unwrap(), 0);
        for bad in ["-1", "yesterday", "1.5", "+3", "99999999999999999999999"] {
            let err = mtime_from(Some(bad)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("SOURCE_DATE_EPOCH") && msg.contains(bad), "{msg}");
        }
    }

    /// Pieces of random bytes and runs of one byte.
    fn pieces() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec((any::<u8>(), 1usize..3000, any::<bool>()), 0..24).prop_map(|parts| {
            let mut data = Vec::new();
            for (byte, len, run) in parts {
                if run {
                    data.extend(std::iter::repeat_n(byte, len));
                } else {
                    data.extend(noise(len, u64::from(byte)));
                }
            }
            data
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn chunking_and_threads_do_not_change_the_bytes(
            data in pieces(),
            cuts in prop::collection::vec(1usize..5000, 1..12),
            threads in 1usize..=4,
            block in prop::sample::select(vec![512usize, 4096]),
        ) {
            let reference = gz_with(&data, 1, block, data.len());
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut w = ParallelGzWriter::build(Vec::new(), Some(pool), threads, block);
            let mut rest = &data[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let n = (*cut).min(rest.len());
                w.write_all(&rest[..n]).unwrap();
                rest = &rest[n..];
            }
            let gz = w.finish().unwrap();
            prop_assert_eq!(&gz, &reference);
            prop_assert_eq!(gunzip(&gz), data);
        }
    }
}
