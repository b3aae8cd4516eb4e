//! SHA-256 digests: computed while streaming, shown as lowercase hex (what `sha256sum` prints),
//! parsed from hex or base64 (S3's `x-amz-checksum-sha256`), compared as 32 raw bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Read buffer for hashing: large enough to amortise syscalls, small enough to keep memory flat.
pub const BUFFER_SIZE: usize = 1 << 20;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest([u8; 32]);

/// A string that is neither 64 hex digits nor the base64 of 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SHA-256 digest (expected 64 hex digits or 44 base64 characters)")]
pub struct ParseDigestError(pub String);

impl Sha256Digest {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Lowercase hex, as `sha256sum` prints it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Base64 of the 32 bytes, as S3's `x-amz-checksum-sha256` carries it.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// The first `n` hex digits, for short names.
    pub fn short(&self, n: usize) -> String {
        let mut hex = self.to_hex();
        hex.truncate(n);
        hex
    }

    /// Parses 64 hex digits (any case) or standard base64 of 32 bytes, surrounding whitespace
    /// ignored. The service may report either; both decode to the same 32 bytes.
    pub fn parse(text: &str) -> Result<Self, ParseDigestError> {
        let t = text.trim();
        let t = t.strip_prefix("sha256:").unwrap_or(t);
        let mut out = [0u8; 32];
        if t.len() == 64 && hex::decode_to_slice(t, &mut out).is_ok() {
            return Ok(Self(out));
        }
        if let Ok(bytes) = BASE64.decode(t)
            && let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(Self(arr));
        }
        Err(ParseDigestError(text.to_string()))
    }

    /// Hashes a reader to its end; returns the digest and the number of bytes read.
    pub fn of_reader(reader: impl Read) -> io::Result<(Self, u64)> {
        Self::of_reader_with(reader, |_| Ok(()))
    }

    /// Hashes a reader to its end, handing each chunk to `each` after hashing it (to copy the
    /// bytes as they are hashed); returns the digest and the number of bytes read.
    pub fn of_reader_with(
        mut reader: impl Read,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<(Self, u64)> {
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; BUFFER_SIZE];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    each(&buf[..n])?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(hasher.finish())
    }

    /// Hashes a file; returns the digest and its size.
    ///
    /// Large files are read on a second thread while this one hashes, so copying from the page
    /// cache overlaps with the SHA-256 rounds; a few fixed buffers circulate between the two
    /// threads, so memory stays flat whatever the file's size.
    pub fn of_file(path: &Path) -> io::Result<(Self, u64)> {
        let file = File::open(path)?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < PIPELINE_MIN {
            return Self::of_reader(file);
        }
        Self::of_reader_pipelined(file)
    }

    /// Hashes a reader with reading and hashing on two threads.
    pub fn of_reader_pipelined<R: Read + Send>(reader: R) -> io::Result<(Self, u64)> {
        Self::pipelined(reader, |_| Ok(()))
    }

    /// Reads `reader` on a second thread and hashes the bytes on this one, handing each chunk
    /// to `sink` too (to copy it while hashing, say). Returns the digest and the length.
    pub fn pipelined<R: Read + Send>(
        mut reader: R,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<(Self, u64)> {
        use std::sync::mpsc;
        let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(PIPELINE_BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(PIPELINE_BUFFERS);
        for _ in 0..PIPELINE_BUFFERS {
            empty_tx
                .send(vec![0u8; PIPELINE_CHUNK])
                .expect("channel has room");
        }
        std::thread::scope(|scope| {
            let read = scope.spawn(move || -> io::Result<()> {
                while let Ok(mut buf) = empty_rx.recv() {
                    let mut filled = 0;
                    while filled < buf.len() {
                        match reader.read(&mut buf[filled..]) {
                            Ok(0) => break,
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    let done = filled < buf.len();
                    if full_tx.send((buf, filled)).is_err() || done {
                        return Ok(());
                    }
                }
                Ok(())
            });
            let mut hasher = Hasher::new();
            let mut sink_result = Ok(());
            while let Ok((buf, filled)) = full_rx.recv() {
                hasher.update(&buf[..filled]);
                if sink_result.is_ok() {
                    sink_result = sink(&buf[..filled]);
                }
                // The reader may already be done; the chunks still queued must be hashed anyway.
                let _ = empty_tx.send(buf);
                if sink_result.is_err() {
                    break;
                }
            }
            drop(full_rx);
            drop(empty_tx);
            read.join()
                .unwrap_or_else(|_| Err(io::Error::other("the reading thread panicked")))?;
            sink_result?;
            Ok(hasher.finish())
        })
    }
}

/// Files at least this large are hashed with reading and hashing overlapped.
pub const PIPELINE_MIN: u64 = 8 << 20;
/// Chunk size and number of buffers for overlapped hashing (4 × 2 MiB in flight at most).
const PIPELINE_CHUNK: usize = 2 << 20;
const PIPELINE_BUFFERS: usize = 4;

/// An incremental hasher that also counts bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> (Sha256Digest, u64) {
        (Sha256Digest(self.inner.finalize().into()), self.len)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = ParseDigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_vectors() {
        assert_eq!(Sha256Digest::of(b"").to_hex(), EMPTY);
        assert_eq!(
            Sha256Digest::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Sha256Digest::of(b"").to_base64(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn parses_hex_any_case_and_base64_to_the_same_bytes() {
        let d = Sha256Digest::of(b"");
        assert_eq!(Sha256Digest::parse(EMPTY).unwrap(), d);
        assert_eq!(Sha256Digest::parse(&EMPTY.to_uppercase()).unwrap(), d);
        assert_eq!(Sha256Digest::parse(&format!(" {EMPTY}\n")).unwrap(), d);
        assert_eq!(Sha256Digest::parse(&format!("sha256:{EMPTY}")).unwrap(), d);
        assert_eq!(Sha256Digest::parse(&d.to_base64()).unwrap(), d);
    }

    #[test]
    fn rejects_other_strings() {
        for bad in ["", "abc", &EMPTY[..63], "zz", "AAAA", &format!("{EMPTY}00")] {
            assert!(Sha256Digest::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reader_counts_bytes() {
        let data = vec![7u8; BUFFER_SIZE * 2 + 3];
        let (d, n) = Sha256Digest::of_reader(&data[..]).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Sha256Digest::of(&data));
    }

    #[test]
    fn pipelined_hashing_equals_plain_hashing() {
        for len in [
            0usize,
            1,
            PIPELINE_CHUNK - 1,
            PIPELINE_CHUNK,
            PIPELINE_CHUNK * 5 + 17,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let (d, n) = Sha256Digest::of_reader_pipelined(&data[..]).unwrap();
            assert_eq!((d, n), (Sha256Digest::of(&data), len as u64), "length {len}");
        }
    }

    #[test]
    fn serde_round_trip_is_hex() {
        let d = Sha256Digest::of(b"abc");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{}\"", d.to_hex()));
        assert_eq!(serde_json::from_str::<Sha256Digest>(&json).unwrap(), d);
    }
}
