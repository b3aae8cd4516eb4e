//! Gzip (RFC 1952): member headers, every member of a stream in a row, and a bounded count of
//! the decompressed bytes.

use std::io::{self, BufRead, Read};
use std::mem;

use flate2::Crc;
use flate2::bufread::DeflateDecoder;

use super::{Field, SHOWN_TEXT};
use crate::digest::{Hasher, Sha256Digest};

/// A gzip member header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzHeader {
    pub mtime: u32,
    pub xfl: u8,
    pub os: u8,
    pub name: Option<Field>,
    pub comment: Option<Field>,
    pub extra: Option<Field>,
    pub header_crc: bool,
}

pub(super) fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads a zero-terminated header field, keeping at most `SHOWN_TEXT` bytes but hashing all.
fn read_cstring<R: BufRead>(reader: &mut R) -> io::Result<Field> {
    let mut head = Vec::new();
    let mut hasher = Hasher::new();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the gzip header ends inside a zero-terminated field",
            ));
        }
        let (part, done) = match buf.iter().position(|b| *b == 0) {
            Some(p) => (&buf[..p], true),
            None => (buf, false),
        };
        hasher.update(part);
        if head.len() < SHOWN_TEXT {
            let take = (SHOWN_TEXT - head.len()).min(part.len());
            head.extend_from_slice(&part[..take]);
        }
        let used = part.len() + usize::from(done);
        reader.consume(used);
        if done {
            let (digest, len) = hasher.finish();
            return Ok(Field { head, len, digest });
        }
    }
}

/// Parses one gzip member header (RFC 1952), leaving `reader` at the deflate data.
pub(super) fn read_gzip_header<R: BufRead>(reader: &mut R) -> io::Result<GzHeader> {
    let mut fixed = [0u8; 10];
    reader.read_exact(&mut fixed)?;
    if fixed[..2] != [0x1f, 0x8b] {
        return Err(invalid("not a gzip member (bad magic bytes)"));
    }
    if fixed[2] != 8 {
        return Err(invalid(format!(
            "gzip compression method {} is not deflate",
            fixed[2]
        )));
    }
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err(invalid("reserved gzip header flags are set"));
    }
    let mtime = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let extra = if flags & 0x04 != 0 {
        let mut len = [0u8; 2];
        reader.read_exact(&mut len)?;
        let mut data = vec![0u8; usize::from(u16::from_le_bytes(len))];
        reader.read_exact(&mut data)?;
        Some(Field::new(&data))
    } else {
        None
    };
    let name = if flags & 0x08 != 0 {
        Some(read_cstring(reader)?)
    } else {
        None
    };
    let comment = if flags & 0x10 != 0 {
        Some(read_cstring(reader)?)
    } else {
        None
    };
    let header_crc = flags & 0x02 != 0;
    if header_crc {
        let mut crc = [0u8; 2];
        reader.read_exact(&mut crc)?;
    }
    Ok(GzHeader {
        mtime,
        xfl: fixed[8],
        os: fixed[9],
        name,
        comment,
        extra,
        header_crc,
    })
}

enum GzState<R> {
    Body(Box<DeflateDecoder<R>>, Crc),
    Between(R),
    Done,
    Failed,
}

/// The decompressed data of every gzip member in a row; bytes after the last member that do
/// not start another member are counted as trailing data. The first header must already have
/// been read.
pub(super) struct GzMembers<R> {
    state: GzState<R>,
    pub(super) members: usize,
    pub(super) trailing: u64,
    pub(super) trailing_nonzero: bool,
}

impl<R: BufRead> GzMembers<R> {
    pub(super) fn new(reader: R) -> Self {
        GzMembers {
            state: GzState::Body(Box::new(DeflateDecoder::new(reader)), Crc::new()),
            members: 1,
            trailing: 0,
            trailing_nonzero: false,
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match mem::replace(&mut self.state, GzState::Failed) {
                GzState::Body(mut decoder, mut crc) => {
                    let n = decoder.read(out)?;
                    if n > 0 {
                        crc.update(&out[..n]);
                        self.state = GzState::Body(decoder, crc);
                        return Ok(n);
                    }
                    let mut reader = decoder.into_inner();
                    let mut trailer = [0u8; 8];
                    reader.read_exact(&mut trailer).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the gzip data is truncated (no CRC trailer)",
                        )
                    })?;
                    let sum = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    if sum != crc.sum() || size != crc.amount() {
                        return Err(invalid("gzip CRC or length mismatch"));
                    }
                    self.state = GzState::Between(reader);
                }
                GzState::Between(mut reader) => {
                    let next = reader.fill_buf()?.first().copied();
                    match next {
                        None => {
                            self.state = GzState::Done;
                            return Ok(0);
                        }
                        Some(0x1f) => {
                            read_gzip_header(&mut reader)?;
                            self.members += 1;
                            self.state = GzState::Body(Box::new(DeflateDecoder::new(reader)), Crc::new());
                        }
                        Some(_) => {
                            loop {
                                let buf = reader.fill_buf()?;
                                if buf.is_empty() {
                                    break;
                                }
                                self.trailing_nonzero |= buf.iter().any(|b| *b != 0);
                                self.trailing += buf.len() as u64;
                                let n = buf.len();
                                reader.consume(n);
                            }
                            self.state = GzState::Done;
                            return Ok(0);
                        }
                    }
                }
                GzState::Done => {
                    self.state = GzState::Done;
                    return Ok(0);
                }
                GzState::Failed => return Err(invalid("the gzip stream failed earlier")),
            }
        }
    }
}

/// Counts, hashes (when asked) and bounds the decompressed tar stream.
pub(super) struct Counted<R> {
    pub(super) inner: R,
    hasher: Option<Hasher>,
    count: u64,
    limit: u64,
    pub(super) exceeded: bool,
}

impl<R> Counted<R> {
    pub(super) fn new(inner: R, limit: u64, hash: bool) -> Self {
        Counted {
            inner,
            hasher: hash.then(Hasher::new),
            count: 0,
            limit,
            exceeded: false,
        }
    }

    /// The bytes read so far and, when hashed, their digest.
    pub(super) fn finish(self) -> (R, u64, Option<Sha256Digest>) {
        let digest = self.hasher.map(|h| h.finish().0);
        (self.inner, self.count, digest)
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        let n = self.inner.read(out)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&out[..n]);
        }
        self.count += n as u64;
        if self.count > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        Ok(n)
    }
}
