//! The keyword pass of the rule engine: every occurrence of every rule keyword in a text,
//! ASCII case-insensitively, in one pass; and the analysis that tells which rules' matches
//! always begin with one of their keywords.
//!
//! # Why not an Aho-Corasick automaton
//!
//! An Aho-Corasick DFA over the few hundred keywords of the built-in packs walks its table
//! on every byte (short vendor prefixes such as `sk_` and `pa-` start with almost any
//! letter, so no prefilter applies), and that walk is bound by memory latency: measured at
//! 170 MB/s on the development machine, below the issue's 300 MB/s for the whole engine.
//!
//! # Stage 1: shift-or over trigrams in eight buckets
//!
//! [`KeywordIndex`] splits the keywords into eight buckets (two- and three-byte keywords in
//! three of them, four and five bytes in two, longer ones in three, so that short keywords
//! do not loosen the filter of long ones). Two tables, both small enough for the L1 cache,
//! say what a piece of text rules out:
//!
//! - per hashed trigram of (case-folded) bytes, a 64-bit word whose byte lane `7 - j` has
//!   bit `b` set when no keyword of bucket `b` has that trigram ending at its offset `j`
//!   (2 to 7; past a keyword's end anything is allowed);
//! - per hashed pair, a byte with bit `b` set when no keyword of bucket `b` begins with it
//!   (offset 1, lane 6).
//!
//! Walking the text, the two words of each byte are or-ed into a running state shifted by
//! one lane per byte; a start position is ruled out for a bucket as soon as one of its first
//! eight bytes cannot belong to any keyword of that bucket at that offset (the idea of the
//! "FDR" literal matcher of Intel's Hyperscan). Only the state is carried from one byte to
//! the next (a shift and two ors), so the CPU overlaps the table loads of successive bytes.
//! On the scan bench's corpus 3.3 % of positions survive, most of them true keyword
//! occurrences of common words (`user`, `token`, `prompt`), against 15 % for the trigram
//! bitset this replaced; the pass went from 205 to about 400 MB/s.
//!
//! # Stage 2
//!
//! At a surviving position, a two-byte keyword is looked up by its pair, a three-byte one by
//! a hashed trigram bitset, a longer one by a hashed bitset of its first four bytes; then
//! the few keywords of that trigram's or four bytes' bucket are compared in full (one masked
//! 64-bit comparison rejects almost all of them).
//!
//! # Contract
//!
//! [`KeywordIndex::find`] reports every (position, keyword) pair such that the text at that
//! byte position starts with the keyword, ignoring ASCII case (bytes outside ASCII compare
//! exactly): the same as an overlapping Aho-Corasick search with ASCII case folding.
//! Keywords are at least 2 bytes long (the engine rejects shorter ones).

use regex_syntax::hir::{Class, Hir, HirKind};

/// Bits in the hashed stage-2 filters: 2^17 (16 KiB each).
const STAGE1_BITS: usize = 1 << 17;
/// Bits in the byte-pair filter and number of trigram buckets: 2^16.
const PAIR_BITS: usize = 1 << 16;

/// A bitset of `2^17` bits; a fixed size lets the compiler drop bounds checks.
type Stage1 = Box<[u64; STAGE1_BITS / 64]>;
/// A bitset of `2^16` bits, indexed by two folded bytes.
type Pairs = Box<[u64; PAIR_BITS / 64]>;

/// Hashed byte pairs in the shift-or table: 2^12 words of 8 bytes (32 KiB).
const PAIR_HASH_BITS: u32 = 12;

/// The shift-or table: one 64-bit word per hashed pair.
type ShiftOr = Box<[u64; 1 << PAIR_HASH_BITS]>;

/// The first-pair table: one byte (a bit per bucket) per hashed pair.
type FirstPair = Box<[u8; 1 << PAIR_HASH_BITS]>;

/// Finds every occurrence of a fixed set of keywords.
#[derive(Debug, Clone)]
pub(crate) struct KeywordIndex {
    /// The keywords, lowercased (ASCII), end to end; keyword `id` is
    /// `bytes[spans[id].0..spans[id].1]`.
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    /// Stage 1 (module docs): per hashed folded byte pair, the buckets and offsets it rules
    /// out.
    shift_or: ShiftOr,
    /// Stage 1: per hashed folded byte pair, the buckets none of whose keywords start with it.
    first_pair: FirstPair,
    /// Stage 2: bit per hashed first four bytes (folded) of a keyword of four bytes or more.
    quads: Stage1,
    /// Stage 2: bit per hashed folded trigram that is a whole three-byte keyword.
    whole_triples: Stage1,
    /// Ids of keywords of exactly two bytes.
    pairs: Vec<u32>,
    /// Bit per folded byte pair that is a two-byte keyword.
    pair_filter: Pairs,
    /// For trigram bucket `b` ([`bucket`]), the ids of the three-byte keywords are
    /// `ids[starts[b]..starts[b + 1]]`.
    starts: Vec<u32>,
    ids: Vec<u32>,
    /// For bucket `b` of a hashed first four bytes ([`bucket4`]), the ids of the keywords of
    /// four bytes or more are `ids4[starts4[b]..starts4[b + 1]]`.
    starts4: Vec<u32>,
    ids4: Vec<u32>,
    /// Per keyword, its first eight bytes (zero-padded) and the mask that folds ASCII case
    /// where the keyword has a letter and keeps the length: one comparison rejects almost
    /// every candidate.
    heads: Vec<(u64, u64, u64)>,
}

/// Folds ASCII letters to lowercase; other bytes may collide (`@` and `` ` ``), which only
/// costs a comparison, never a missed keyword.
#[inline]
fn fold(b: u8) -> u8 {
    b | 0x20
}

/// The offsets (`starts`, one more than buckets) and ids of a bucketed keyword list.
fn bucket_table(mut buckets: Vec<(usize, u32)>) -> (Vec<u32>, Vec<u32>) {
    buckets.sort_unstable();
    let mut starts = vec![0u32; PAIR_BITS + 1];
    for &(b, _) in &buckets {
        starts[b + 1] += 1;
    }
    for b in 0..PAIR_BITS {
        starts[b + 1] += starts[b];
    }
    (starts, buckets.into_iter().map(|(_, id)| id).collect())
}

/// Packs three or four bytes little-endian, folded.
fn pack(bytes: &[u8]) -> u32 {
    let mut four = [0u8; 4];
    for (slot, &b) in four.iter_mut().zip(bytes) {
        *slot = fold(b);
    }
    u32::from_le_bytes(four)
}

/// The first-pair slot of two adjacent bytes, folded, packed little-endian.
#[inline]
fn hash_pair(packed: u16) -> usize {
    (u32::from(packed).wrapping_mul(0x2545_f491) >> (32 - PAIR_HASH_BITS)) as usize
}

/// The shift-or slot of three adjacent bytes, folded, packed little-endian.
#[inline]
fn hash_trigram(packed: u32) -> usize {
    (packed.wrapping_mul(0x9e37_79b1) >> (32 - PAIR_HASH_BITS)) as usize
}

/// Splits keywords (lowercased) into the eight shift-or buckets: keywords of two or three
/// bytes into buckets 0 and 1, four or five bytes into 2 and 3, longer ones into 4 to 7,
/// each group in sorted order so that keywords with the same beginning share a bucket.
fn assign_buckets(words: &[Vec<u8>]) -> Vec<u8> {
    let mut bucket_of = vec![0u8; words.len()];
    for (first, count, lengths) in [(0u8, 3, 0..=3usize), (3, 2, 4..=5), (5, 3, 6..=usize::MAX)] {
        let mut group: Vec<usize> = (0..words.len())
            .filter(|&i| lengths.contains(&words[i].len()))
            .collect();
        group.sort_by(|&a, &b| words[a].cmp(&words[b]));
        let per = group.len().div_ceil(count).max(1);
        for (n, &i) in group.iter().enumerate() {
            bucket_of[i] = first + (n / per) as u8;
        }
    }
    bucket_of
}

/// Builds the shift-or tables (module docs) for keywords (lowercased) and their buckets:
/// per hashed trigram, the buckets ruled out at offsets 2 to 7 (lanes 5 to 0), and per
/// hashed pair, the buckets ruled out at offset 1 (lane 6).
fn shift_or_tables(words: &[Vec<u8>], bucket_of: &[u8]) -> (ShiftOr, FirstPair) {
    let mut trigrams: ShiftOr = Box::new([0x0000_ffff_ffff_ffff; 1 << PAIR_HASH_BITS]);
    let mut pairs: FirstPair = Box::new([0xff; 1 << PAIR_HASH_BITS]);
    for (word, &bucket) in words.iter().zip(bucket_of) {
        let &[a, b, ..] = word.as_slice() else {
            continue;
        };
        pairs[hash_pair(u16::from(fold(a)) | u16::from(fold(b)) << 8)] &= !(1 << bucket);
        for j in 2..8usize {
            let allow = !(1u64 << bucket << (8 * (7 - j)));
            match word.get(j - 2..=j) {
                Some(&[a, b, c]) => trigrams[hash_trigram(pack(&[a, b, c]))] &= allow,
                // Past the keyword's end anything is allowed.
                _ => trigrams.iter_mut().for_each(|w| *w &= allow),
            }
        }
    }
    (trigrams, pairs)
}

#[inline]
fn hash3(packed: u32) -> usize {
    ((packed & 0x00ff_ffff).wrapping_mul(0x9e37_79b1) >> 15) as usize
}

#[inline]
fn hash4(packed: u32) -> usize {
    (packed.wrapping_mul(0x85eb_ca6b) >> 15) as usize
}

/// The bucket of a packed (folded) first four bytes.
#[inline]
fn bucket4(packed: u32) -> usize {
    (packed.wrapping_mul(0x2545_f491) >> 16) as usize
}

/// `(head, fold, keep)` for a lowercased keyword: text bytes `t` at a position match the
/// keyword's first eight when `(t | fold) & keep == head`.
fn head(word: &[u8]) -> (u64, u64, u64) {
    let mut head = [0u8; 8];
    let mut fold = [0u8; 8];
    let mut keep = [0u8; 8];
    for (i, &b) in word.iter().take(8).enumerate() {
        head[i] = b;
        keep[i] = 0xff;
        if b.is_ascii_lowercase() {
            fold[i] = 0x20;
        }
    }
    (
        u64::from_le_bytes(head),
        u64::from_le_bytes(fold),
        u64::from_le_bytes(keep),
    )
}

/// The trigram bucket of a packed (folded) trigram.
#[inline]
fn bucket(packed: u32) -> usize {
    ((packed & 0x00ff_ffff).wrapping_mul(0x2545_f491) >> 16) as usize
}

#[inline]
fn test1(filter: &Stage1, bit: usize) -> bool {
    filter[(bit >> 6) & (STAGE1_BITS / 64 - 1)] >> (bit & 63) & 1 != 0
}

fn set1(filter: &mut Stage1, bit: usize) {
    filter[(bit >> 6) & (STAGE1_BITS / 64 - 1)] |= 1 << (bit & 63);
}

impl KeywordIndex {
    /// Builds the index; keyword ids are positions in `words`. Keywords shorter than two
    /// bytes are never found.
    pub(crate) fn new(words: &[String]) -> KeywordIndex {
        let mut bytes = Vec::new();
        let mut spans = Vec::with_capacity(words.len());
        let mut quads: Stage1 = Box::new([0; STAGE1_BITS / 64]);
        let mut whole_triples: Stage1 = Box::new([0; STAGE1_BITS / 64]);
        let mut pair_filter: Pairs = Box::new([0; PAIR_BITS / 64]);
        let mut pairs = Vec::new();
        let mut buckets: Vec<(usize, u32)> = Vec::new();
        let mut buckets4: Vec<(usize, u32)> = Vec::new();
        let mut heads = Vec::with_capacity(words.len());
        for (id, word) in words.iter().enumerate() {
            let id = id as u32;
            let w = word.as_bytes().to_ascii_lowercase();
            spans.push((bytes.len() as u32, (bytes.len() + w.len()) as u32));
            heads.push(head(&w));
            bytes.extend_from_slice(&w);
            match w.len() {
                2 => {
                    let pair = usize::from(fold(w[0])) << 8 | usize::from(fold(w[1]));
                    pair_filter[pair >> 6] |= 1 << (pair & 63);
                    pairs.push(id);
                }
                3 => {
                    set1(&mut whole_triples, hash3(pack(&w)));
                    buckets.push((bucket(pack(&w)), id));
                }
                n if n >= 4 => {
                    set1(&mut quads, hash4(pack(&w[..4])));
                    buckets4.push((bucket4(pack(&w[..4])), id));
                }
                _ => {}
            }
        }
        let (starts, ids) = bucket_table(buckets);
        let (starts4, ids4) = bucket_table(buckets4);
        let lowered: Vec<Vec<u8>> = words
            .iter()
            .map(|w| w.as_bytes().to_ascii_lowercase())
            .collect();
        let (shift_or, first_pair) = shift_or_tables(&lowered, &assign_buckets(&lowered));
        KeywordIndex {
            bytes,
            spans,
            shift_or,
            first_pair,
            quads,
            whole_triples,
            pairs,
            pair_filter,
            starts,
            ids,
            starts4,
            ids4,
            heads,
        }
    }

    /// Calls `found(position, keyword id)` for every occurrence, by increasing position.
    pub(crate) fn find(&self, text: &str, mut found: impl FnMut(usize, usize)) {
        let bytes = text.as_bytes();
        // After the pair ending at byte `q`, lane `i` of `state` holds what rules out a
        // keyword starting at `q - 7 + i`; lane 0 has seen all seven pairs of its position.
        let mut state = 0u64;
        // After the trigram ending at byte `q`, lane `i` of `state` holds the buckets ruled out
        // for a keyword starting at `q - 7 + i`; lane 0 has seen all of its position's bytes.
        // The first pair:
        if let [a, b, ..] = bytes {
            state = self.first_pair_lane(*a, *b);
        }
        // The hot loop: two independent table loads, a shift and two ors per byte; the rare
        // surviving positions are handled out of line. Eight bytes are loaded (and folded)
        // at once for four positions.
        let mut step = |q: usize, folded: u32, state: &mut u64| {
            *state = *state >> 8
                | self.shift_or[hash_trigram(folded & 0x00ff_ffff)]
                | u64::from(self.first_pair[hash_pair((folded >> 8) as u16)]) << 48;
            if *state & 0xff != 0xff && q >= 5 {
                self.candidate(bytes, q - 5, &mut found);
            }
        };
        let mut q = 0;
        while let Some(eight) = bytes.get(q..q + 8) {
            let word =
                u64::from_le_bytes(eight.try_into().unwrap_or_default()) | 0x2020_2020_2020_2020;
            step(q, word as u32, &mut state);
            step(q + 1, (word >> 8) as u32, &mut state);
            step(q + 2, (word >> 16) as u32, &mut state);
            step(q + 3, (word >> 24) as u32, &mut state);
            q += 4;
        }
        for (i, three) in bytes[q..].windows(3).enumerate() {
            let folded = u32::from_le_bytes([three[0], three[1], three[2], 0]) | 0x0020_2020;
            step(q + i, folded, &mut state);
        }
        // The last seven positions (or all of a short text): no pairs past the end.
        let first = bytes.len().saturating_sub(7);
        let seen = bytes.len().saturating_sub(1);
        state >>= 8 * (first + 7 - seen).min(7);
        for at in first..bytes.len() {
            if state & 0xff != 0xff {
                self.candidate(bytes, at, &mut found);
            }
            state >>= 8;
        }
    }

    /// The first-pair table's word for a pair starting a keyword one byte ago (lane 6).
    #[inline]
    fn first_pair_lane(&self, a: u8, b: u8) -> u64 {
        let packed = u16::from_le_bytes([a, b]) | 0x2020;
        u64::from(self.first_pair[hash_pair(packed)]) << 48
    }

    /// Stage 2 at a position stage 1 did not rule out.
    #[inline(never)]
    fn candidate(&self, bytes: &[u8], at: usize, found: &mut impl FnMut(usize, usize)) {
        const FOLD: u32 = 0x2020_2020;
        match bytes.get(at..) {
            Some([a, b, c, d, ..]) => {
                let packed = u32::from_le_bytes([*a, *b, *c, *d]) | FOLD;
                self.verify(bytes, at, packed, true, found);
            }
            Some(tail @ [_, _, _]) => self.verify(bytes, at, pack(tail), false, found),
            Some([_, _]) => self.verify_pairs(bytes, at, found),
            _ => {}
        }
    }

    /// At `at` (`packed`: the folded bytes there, four when `four`, else three):
    /// a two-byte keyword, a whole three-byte one, or the first four bytes of a longer one
    /// (common English trigrams such as `her` and `for` stop here); then the keywords of the
    /// trigram's bucket are compared in full.
    #[inline]
    fn verify(
        &self,
        bytes: &[u8],
        at: usize,
        packed: u32,
        four: bool,
        found: &mut impl FnMut(usize, usize),
    ) {
        self.verify_pairs(bytes, at, found);
        if !(test1(&self.whole_triples, hash3(packed)) || four && test1(&self.quads, hash4(packed)))
        {
            return;
        }
        // Up to eight bytes from `at`, zero-padded at the end of the text.
        let text = match bytes.get(at..at + 8) {
            Some(eight) => u64::from_le_bytes(eight.try_into().unwrap_or_default()),
            None => {
                let mut eight = [0u8; 8];
                let tail = &bytes[at..];
                eight[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(eight)
            }
        };
        let b = bucket(packed & 0x00ff_ffff);
        for &id in &self.ids[self.starts[b] as usize..self.starts[b + 1] as usize] {
            if self.matches(bytes, at, text, id) {
                found(at, id as usize);
            }
        }
        if four {
            let b = bucket4(packed);
            for &id in &self.ids4[self.starts4[b] as usize..self.starts4[b + 1] as usize] {
                if self.matches(bytes, at, text, id) {
                    found(at, id as usize);
                }
            }
        }
    }

    fn verify_pairs(&self, bytes: &[u8], at: usize, found: &mut impl FnMut(usize, usize)) {
        let [a, b, ..] = bytes.get(at..).unwrap_or_default() else {
            return;
        };
        let pair = usize::from(fold(*a)) << 8 | usize::from(fold(*b));
        if self.pair_filter[pair >> 6] >> (pair & 63) & 1 == 0 {
            return;
        }
        for &id in &self.pairs {
            if self.matches_slow(bytes, at, id) {
                found(at, id as usize);
            }
        }
    }

    /// Whether keyword `id` starts at `at`; `text` holds the (zero-padded) eight bytes there.
    #[inline]
    fn matches(&self, bytes: &[u8], at: usize, text: u64, id: u32) -> bool {
        let (head, fold, keep) = self.heads[id as usize];
        (text | fold) & keep == head && self.matches_slow(bytes, at, id)
    }

    fn matches_slow(&self, bytes: &[u8], at: usize, id: u32) -> bool {
        let (start, end) = self.spans[id as usize];
        let word = &self.bytes[start as usize..end as usize];
        bytes.len() - at >= word.len() && bytes[at..at + word.len()].eq_ignore_ascii_case(word)
    }
}

/// Tells whether every match of every pattern begins with one of `keywords` (ASCII
/// case-insensitively): then a rule needs to be tried only where a keyword starts.
///
/// Conservative: `false` whenever the leading strings of a pattern cannot be listed in full
/// (a class of more than four ASCII characters, an optional element, too many strings).
/// Non-ASCII members of a class are ignored, as the keyword pass ignores non-ASCII case:
/// under `(?i)`, `s` also matches `ſ` (U+017F), which no keyword `s…` would find anyway.
pub(crate) fn starts_with_keyword(patterns: &[Hir], keywords: &[String]) -> bool {
    let keywords: Vec<Vec<u8>> = keywords
        .iter()
        .map(|k| k.as_bytes().to_ascii_lowercase())
        .collect();
    !keywords.is_empty()
        && patterns.iter().all(|hir| {
            let p = prefixes(hir);
            !p.set.is_empty()
                && p.set
                    .iter()
                    .all(|s| keywords.iter().any(|k| !k.is_empty() && s.starts_with(k)))
        })
}

/// Tells whether every match of every pattern contains one of `keywords` whole (ASCII
/// case-insensitively): then a match overlaps, and lies near, an occurrence the keyword
/// pass finds. Conservative like [`starts_with_keyword`]: `false` when unsure.
pub(crate) fn contains_keyword(patterns: &[Hir], keywords: &[String]) -> bool {
    let keywords: Vec<Vec<u8>> = keywords
        .iter()
        .map(|k| k.as_bytes().to_ascii_lowercase())
        .collect();
    !keywords.is_empty() && patterns.iter().all(|hir| contains(hir, &keywords))
}

fn contains(hir: &Hir, keywords: &[Vec<u8>]) -> bool {
    match hir.kind() {
        HirKind::Capture(cap) => contains(&cap.sub, keywords),
        HirKind::Repetition(rep) => rep.min > 0 && contains(&rep.sub, keywords),
        HirKind::Alternation(subs) => subs.iter().all(|sub| contains(sub, keywords)),
        // A part that always holds a keyword, or a run of parts whose matches always begin
        // with a string holding one.
        HirKind::Concat(subs) => {
            subs.iter().any(|sub| contains(sub, keywords))
                || (0..subs.len()).any(|i| {
                    all_hold_keyword(&prefixes(&Hir::concat(subs[i..].to_vec())), keywords)
                })
        }
        _ => all_hold_keyword(&prefixes(hir), keywords),
    }
}

fn all_hold_keyword(p: &Prefixes, keywords: &[Vec<u8>]) -> bool {
    !p.set.is_empty()
        && p.set.iter().all(|s| {
            keywords
                .iter()
                .any(|k| !k.is_empty() && s.windows(k.len()).any(|w| w == k.as_slice()))
        })
}

/// Lowercased byte strings one of which begins every match; `exact` when the strings are
/// the whole of what the expression matches.
struct Prefixes {
    set: Vec<Vec<u8>>,
    exact: bool,
}

const MAX_STRINGS: usize = 64;
const MAX_STRING_LEN: usize = 64;
const MAX_CLASS: usize = 4;

fn unknown() -> Prefixes {
    Prefixes {
        set: vec![Vec::new()],
        exact: false,
    }
}

fn prefixes(hir: &Hir) -> Prefixes {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Prefixes {
            set: vec![Vec::new()],
            exact: true,
        },
        HirKind::Literal(lit) => Prefixes {
            set: vec![lit.0.to_ascii_lowercase()],
            exact: true,
        },
        HirKind::Class(class) => match class_bytes(class) {
            Some(bytes) => Prefixes {
                set: bytes.into_iter().map(|b| vec![b]).collect(),
                exact: true,
            },
            None => unknown(),
        },
        HirKind::Capture(cap) => prefixes(&cap.sub),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                return unknown();
            }
            let mut p = prefixes(&rep.sub);
            p.exact &= rep.min == 1 && rep.max == Some(1);
            p
        }
        HirKind::Concat(subs) => {
            let mut acc = Prefixes {
                set: vec![Vec::new()],
                exact: true,
            };
            for sub in subs {
                let next = prefixes(sub);
                if acc.set.len() * next.set.len() > MAX_STRINGS {
                    acc.exact = false;
                    break;
                }
                let mut product = Vec::with_capacity(acc.set.len() * next.set.len());
                for head in &acc.set {
                    for tail in &next.set {
                        let mut s = head.clone();
                        s.extend_from_slice(tail);
                        product.push(s);
                    }
                }
                if product.iter().any(|s| s.len() > MAX_STRING_LEN) {
                    acc.exact = false;
                    break;
                }
                acc.set = product;
                if !next.exact {
                    acc.exact = false;
                    break;
                }
            }
            acc
        }
        HirKind::Alternation(subs) => {
            let mut set = Vec::new();
            let mut exact = true;
            for sub in subs {
                let p = prefixes(sub);
                exact &= p.exact;
                set.extend(p.set);
                if set.len() > MAX_STRINGS {
                    return unknown();
                }
            }
            set.sort_unstable();
            set.dedup();
            Prefixes { set, exact }
        }
    }
}

/// Whether `f` holds for every range of the class, as code points (Unicode classes) or byte
/// values (byte classes), in order; stops at the first range it rejects.
pub(crate) fn all_ranges(class: &Class, mut f: impl FnMut(u32, u32) -> bool) -> bool {
    match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .all(|r| f(u32::from(r.start()), u32::from(r.end()))),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .all(|r| f(u32::from(r.start()), u32::from(r.end()))),
    }
}

/// The lowercased ASCII bytes a class matches, when there are at most [`MAX_CLASS`].
fn class_bytes(class: &Class) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut add = |lo: u32, hi: u32| -> bool {
        for cp in lo..=hi.min(0x7f) {
            let b = (cp as u8).to_ascii_lowercase();
            if !out.contains(&b) {
                if out.len() == MAX_CLASS {
                    return false;
                }
                out.push(b);
            }
        }
        true
    };
    let fits = all_ranges(class, &mut add);
    (fits && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn index(words: &[&str]) -> KeywordIndex {
        KeywordIndex::new(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>())
    }

    fn all(index: &KeywordIndex, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        index.find(text, |at, id| out.push((at, id)));
        out
    }

    /// The specification: every position, every keyword.
    fn naive(words: &[&str], text: &str) -> Vec<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        for at in 0..bytes.len() {
            for (id, w) in words.iter().enumerate() {
                let w = w.as_bytes();
                if w.len() >= 2
                    && bytes.len() - at >= w.len()
                    && bytes[at..at + w.len()].eq_ignore_ascii_case(w)
                {
                    out.push((at, id));
                }
            }
        }
        out
    }

    #[test]
    fn finds_overlapping_and_nested_keywords_in_any_ascii_case() {
        let words = ["sk-", "sk-ant-", "ant", "rm", "Token", "é~"];
        let text = "SK-ANT-x rm token TOKEN é~ Rm";
        let mut found = all(&index(&words), text);
        found.sort_unstable();
        assert_eq!(found, naive(&words, text));
        assert_eq!(found.len(), 8, "{found:?}");
        // Two-byte keywords at the very end.
        assert_eq!(all(&index(&["rm"]), "form"), [(2, 0)]);
        assert_eq!(all(&index(&["rm"]), "rm"), [(0, 0)]);
        assert!(all(&index(&["rm"]), "r").is_empty());
        assert!(all(&index(&["rm"]), "").is_empty());
    }

    #[test]
    fn non_ascii_bytes_compare_exactly() {
        assert!(all(&index(&["éa"]), "Éa").is_empty());
        assert_eq!(all(&index(&["éa"]), "xéA"), [(1, 0)]);
    }

    proptest! {
        #[test]
        fn agrees_with_the_naive_search(text in "[a-cA-C_\\-é ]{0,60}", words in prop::collection::vec("[a-cA-C_\\-é]{2,5}", 1..8)) {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            // By increasing position; the order at one position is unspecified.
            let mut found = all(&index(&words), &text);
            prop_assert!(found.windows(2).all(|w| w[0].0 <= w[1].0));
            found.sort_unstable();
            prop_assert_eq!(found, naive(&words, &text));
        }

        /// Enough keywords of every length to fill all eight buckets of stage 1.
        #[test]
        fn agrees_with_the_naive_search_with_many_keywords(text in "[a-dA-D_:\\-é ]{0,300}", words in prop::collection::vec("[a-dA-D_:\\-é]{2,12}", 1..300)) {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let mut found = all(&index(&words), &text);
            prop_assert!(found.windows(2).all(|w| w[0].0 <= w[1].0));
            found.sort_unstable();
            found.dedup();
            let mut expected = naive(&words, &text);
            expected.dedup();
            prop_assert_eq!(found, expected);
        }
    }

    fn anchored(pattern: &str, keywords: &[&str]) -> bool {
        let hir = regex_syntax::Parser::new()
            .parse(pattern)
            .unwrap_or_else(|e| panic!("{e}"));
        let keywords: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        starts_with_keyword(&[hir], &keywords)
    }

    fn contained(pattern: &str, keywords: &[&str]) -> bool {
        let hir = regex_syntax::Parser::new()
            .parse(pattern)
            .unwrap_or_else(|e| panic!("{e}"));
        let keywords: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        contains_keyword(&[hir], &keywords)
    }

    #[test]
    fn knows_which_patterns_contain_a_keyword() {
        // A label after the value.
        assert!(contained(
            r"(?i)(\d{3}-\d{4})(?:x[0-9]{1,6})?[ -](?:office|fax)",
            &["office", "fax"]
        ));
        // In the middle, and at the start.
        assert!(contained(r"\d+ secret \d+", &["secret"]));
        assert!(contained(r"(?i)ignore\s+previous", &["ignore"]));
        // Every branch must hold one.
        assert!(contained(r"(?:a office|b fax)", &["office", "fax"]));
        assert!(!contained(r"(?:a office|b phone)", &["office", "fax"]));
        // Optional, or only part of the keyword.
        assert!(!contained(r"\d+(?: office)?", &["office"]));
        assert!(!contained(r"offi\w+", &["office"]));
        assert!(!contained(r"\d+", &["office"]));
        assert!(!contained(r"office", &[]));
    }

    #[test]
    fn knows_which_patterns_begin_with_a_keyword() {
        assert!(anchored(r"\b(ghp_[A-Za-z0-9]{36})\b", &["ghp_"]));
        assert!(anchored(
            r"\b(sq[upa]_[a-f0-9]{40})\b",
            &["squ_", "sqp_", "sqa_"]
        ));
        assert!(anchored(
            r"(?i)(?:password|passwd|pwd)\s*=",
            &["password", "passwd", "pwd"]
        ));
        assert!(anchored(r"(?i)\bhttps?://x", &["http"]));
        assert!(anchored(r"(?i)ignore\s+previous", &["IGNORE"]));
        // A keyword that is only a prefix of what the pattern starts with is enough.
        assert!(anchored(r"xoxb-[0-9]+", &["xox"]));

        assert!(!anchored(r"\b[0-9a-f]{32}\b", &["datadog"]));
        assert!(!anchored(r"(?:^|[^A-Za-z0-9])(tok_[a-z]+)", &["tok_"]));
        assert!(!anchored(r"(?i)api[_\-.]?key", &["api_key"]));
        assert!(!anchored(r"(?:sk|pk)_live_", &["sk_live_"]));
        assert!(!anchored(r"x?ghp_", &["ghp_"]));
        assert!(!anchored(r"ghp_", &[]));
        // Too many case variants to list is "unknown", not a wrong answer.
        assert!(!anchored(r"[a-z][a-z][a-z]", &["abc"]));
    }
}
