//! The on-disk format of segment files, byte by byte (docs/ledger.md says the same in prose).
//!
//! A segment file is a fixed-size, zero-filled file (preallocated so that a durable append
//! overwrites existing blocks instead of growing the file, which makes `fdatasync` cheap). It
//! holds a header followed by records back to back. All integers are little-endian.
//!
//! ```text
//! header (96 bytes)
//!   0   8  magic            b"LLMTSEG1"
//!   8   4  format version   1
//!  12   4  header length    96
//!  16   8  first index      index of the first record in this segment
//!  24   8  master key id    first 8 bytes of SHA-256("llmtrail master key id v1" || master key)
//!  32  60  wrapped data key nonce (12) || AES-256-GCM(master key, data key) (32) || tag (16)
//!  92   4  CRC-32C          of bytes 0..92
//!
//! record (at offset 96, then right after the previous record)
//!   0   4  body length L    0 marks the end of the written data (the zero fill)
//!   4   4  CRC-32C          of the L body bytes
//!   8   8  index            position of the record in the Merkle tree
//!  16  16  event id         the event's UUID, for lookups without parsing the leaf
//!  32   4  leaf length N
//!  36   N  leaf             canonical JSON (RFC 8785) of the event metadata; the Merkle leaf
//!                           hash is SHA-256(0x00 || leaf)
//!  36+N 4  content length C 0 when the event has no content or its content was deleted
//!  40+N C  sealed content   nonce (12) || AES-256-GCM(data key, salt (32) || content JSON) || tag
//! ```
//!
//! The sealed content's associated data is `b"llmtrail content v1" || index (8, LE) || leaf
//! hash (32)`, so content cannot be moved to another record. The leaf commits to the content only
//! through `content_digest` = hex SHA-256(`b"llmtrail content v1\0"` || salt || content JSON):
//! the salt is stored only inside the sealed content, so once content is deleted the digest can
//! be neither checked nor brute-forced, and every proof stays valid.

use crate::crypto::WRAPPED_KEY_LEN;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"LLMTSEG1";
/// Current segment format version.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header.
pub const HEADER_LEN: usize = 96;
/// Length of the record prefix (body length and CRC).
pub const RECORD_PREFIX_LEN: usize = 8;
/// Fixed part of a record body before the leaf bytes.
pub const RECORD_FIXED_LEN: usize = 8 + 16 + 4;
/// Upper bound of one record body; anything larger is corruption, not data.
pub const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;
/// Domain prefix of the content associated data and digest.
pub const CONTENT_DOMAIN: &[u8] = b"llmtrail content v1";

/// A decoded segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Index of the first record in the segment.
    pub first_index: u64,
    /// Identifier of the master key that wrapped the data key.
    pub master_key_id: [u8; 8],
    /// The wrapped data key.
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

/// Why a header or record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The header's magic, version, length or checksum is wrong.
    #[error("bad segment header: {0}")]
    BadHeader(&'static str),
    /// A record's length prefix is impossible.
    #[error("bad record length {0}")]
    BadLength(u64),
    /// A record's checksum does not match its body.
    #[error("record checksum mismatch")]
    BadChecksum,
    /// A record's internal lengths do not add up.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    /// The data ended inside a record.
    #[error("record truncated")]
    Truncated,
}

impl SegmentHeader {
    /// Encodes the header into its 96 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(SEGMENT_MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.first_index.to_le_bytes());
        h[24..32].copy_from_slice(&self.master_key_id);
        h[32..92].copy_from_slice(&self.wrapped_key);
        let crc = crc32c::crc32c(&h[..92]);
        h[92..96].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Decodes a header.
    ///
    /// # Errors
    /// [`FormatError::BadHeader`] naming what is wrong.
    pub fn decode(h: &[u8]) -> Result<Self, FormatError> {
        if h.len() < HEADER_LEN {
            return Err(FormatError::BadHeader("shorter than 96 bytes"));
        }
        if &h[0..8] != SEGMENT_MAGIC {
            return Err(FormatError::BadHeader("wrong magic"));
        }
        if u32_at(h, 8) != FORMAT_VERSION {
            return Err(FormatError::BadHeader("unsupported version"));
        }
        if u32_at(h, 12) as usize != HEADER_LEN {
            return Err(FormatError::BadHeader("wrong header length"));
        }
        if crc32c::crc32c(&h[..92]) != u32_at(h, 92) {
            return Err(FormatError::BadHeader("checksum mismatch"));
        }
        let mut master_key_id = [0u8; 8];
        master_key_id.copy_from_slice(&h[24..32]);
        let mut wrapped_key = [0u8; WRAPPED_KEY_LEN];
        wrapped_key.copy_from_slice(&h[32..92]);
        Ok(Self {
            first_index: u64_at(h, 16),
            master_key_id,
            wrapped_key,
        })
    }
}

/// A record as stored, borrowing from the segment bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Tree index.
    pub index: u64,
    /// Event id.
    pub id: [u8; 16],
    /// Canonical metadata JSON, the Merkle leaf.
    pub leaf: &'a [u8],
    /// Sealed content, empty when absent.
    pub sealed: &'a [u8],
}

/// Appends one encoded record (prefix and body) to `out`; `seal` appends the sealed content.
///
/// # Errors
/// Whatever `seal` returns.
pub fn encode_record<E>(
    out: &mut Vec<u8>,
    index: u64,
    id: &[u8; 16],
    leaf: &[u8],
    seal: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_PREFIX_LEN]);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(&(leaf.len() as u32).to_le_bytes());
    out.extend_from_slice(leaf);
    let len_at = out.len();
    out.extend_from_slice(&[0u8; 4]);
    if let Err(e) = seal(out) {
        out.truncate(start);
        return Err(e);
    }
    let content_len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&content_len.to_le_bytes());
    let body_len = (out.len() - start - RECORD_PREFIX_LEN) as u32;
    let crc = crc32c::crc32c(&out[start + RECORD_PREFIX_LEN..]);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Outcome of reading at one offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A well-formed record and the total bytes it takes (prefix included).
    Record(RecordRef<'a>, usize),
    /// The zero fill: no record was ever written here.
    End,
}

/// Decodes the record at the start of `buf`.
///
/// # Errors
/// [`FormatError`] when the bytes are not a complete, intact record.
pub fn decode_record(buf: &[u8]) -> Result<Decoded<'_>, FormatError> {
    if buf.len() < RECORD_PREFIX_LEN {
        return if buf.iter().all(|b| *b == 0) {
            Ok(Decoded::End)
        } else {
            Err(FormatError::Truncated)
        };
    }
    let len = u32_at(buf, 0) as usize;
    if len == 0 {
        return if u32_at(buf, 4) == 0 {
            Ok(Decoded::End)
        } else {
            Err(FormatError::BadLength(0))
        };
    }
    if !(RECORD_FIXED_LEN + 4..=MAX_RECORD_LEN).contains(&len) {
        return Err(FormatError::BadLength(len as u64));
    }
    let Some(body) = buf.get(RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + len) else {
        return Err(FormatError::Truncated);
    };
    if crc32c::crc32c(body) != u32_at(buf, 4) {
        return Err(FormatError::BadChecksum);
    }
    let record = parse_body(body)?;
    Ok(Decoded::Record(record, RECORD_PREFIX_LEN + len))
}

/// Parses a record body whose checksum was already checked.
///
/// # Errors
/// [`FormatError::Malformed`] when the internal lengths do not add up.
pub fn parse_body(body: &[u8]) -> Result<RecordRef<'_>, FormatError> {
    if body.len() < RECORD_FIXED_LEN + 4 {
        return Err(FormatError::Malformed("body too short"));
    }
    let index = u64_at(body, 0);
    let mut id = [0u8; 16];
    id.copy_from_slice(&body[8..24]);
    let leaf_len = u32_at(body, 24) as usize;
    let leaf_end = RECORD_FIXED_LEN
        .checked_add(leaf_len)
        .filter(|end| end + 4 <= body.len())
        .ok_or(FormatError::Malformed("leaf length beyond record"))?;
    let leaf = &body[RECORD_FIXED_LEN..leaf_end];
    let content_len = u32_at(body, leaf_end) as usize;
    if leaf_end + 4 + content_len != body.len() {
        return Err(FormatError::Malformed(
            "content length does not match record length",
        ));
    }
    let sealed = &body[leaf_end + 4..];
    Ok(RecordRef {
        index,
        id,
        leaf,
        sealed,
    })
}

/// Returns the associated data that binds sealed content to its record.
pub fn content_aad(index: u64, leaf_hash: &[u8; 32]) -> [u8; 59] {
    let mut aad = [0u8; 59];
    aad[..19].copy_from_slice(CONTENT_DOMAIN);
    aad[19..27].copy_from_slice(&index.to_le_bytes());
    aad[27..].copy_from_slice(leaf_hash);
    aad
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, leaf: &[u8], content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record::<()>(&mut out, index, &[7u8; 16], leaf, |o| {
            o.extend_from_slice(content);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn header_round_trip_and_checks() {
        let h = SegmentHeader {
            first_index: 42,
            master_key_id: [1; 8],
            wrapped_key: [2; 60],
        };
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes).unwrap(), h);
        let mut bad = bytes;
        bad[20] ^= 1;
        assert_eq!(
            SegmentHeader::decode(&bad),
            Err(FormatError::BadHeader("checksum mismatch"))
        );
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(
            SegmentHeader::decode(&bad),
            Err(FormatError::BadHeader("wrong magic"))
        );
    }

    #[test]
    fn record_round_trip_then_zero_fill_ends() {
        let mut buf = record(9, b"{\"a\":1}", b"sealed");
        let first_len = buf.len();
        buf.extend(record(10, b"{}", b""));
        buf.extend([0u8; 64]);
        let Decoded::Record(r, n) = decode_record(&buf).unwrap() else {
            panic!("record")
        };
        assert_eq!(
            (r.index, r.leaf, r.sealed, n),
            (9, &b"{\"a\":1}"[..], &b"sealed"[..], first_len)
        );
        let Decoded::Record(r, m) = decode_record(&buf[n..]).unwrap() else {
            panic!("record")
        };
        assert_eq!((r.index, r.sealed.len()), (10, 0));
        assert_eq!(decode_record(&buf[n + m..]).unwrap(), Decoded::End);
    }

    #[test]
    fn every_torn_prefix_and_flipped_byte_is_rejected() {
        let buf = record(1, b"{\"kind\":\"audit\"}", b"0123456789");
        for cut in 1..buf.len() {
            let mut torn = buf[..cut].to_vec();
            torn.extend([0u8; 0]);
            assert!(
                decode_record(&torn).is_err() || cut < RECORD_PREFIX_LEN,
                "cut {cut}"
            );
        }
        for i in 0..buf.len() {
            let mut flipped = buf.clone();
            flipped[i] ^= 0x10;
            assert!(decode_record(&flipped).is_err(), "flip at {i}");
        }
    }
}
