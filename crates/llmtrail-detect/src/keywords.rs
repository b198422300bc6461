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
//! [`KeywordIndex`] instead tests, at each position, the hash of the next four bytes (folded
//! to lowercase) against one bitset and of the next three against another, both small
//! enough for the L1 cache — independent loads that the CPU overlaps —, and compares the
//! few keywords of that trigram only where a bit is set (about 2% of positions in prose).
//!
//! # Contract
//!
//! [`KeywordIndex::find`] reports every (position, keyword) pair such that the text at that
//! byte position starts with the keyword, ignoring ASCII case (bytes outside ASCII compare
//! exactly): the same as an overlapping Aho-Corasick search with ASCII case folding.
//! Keywords are at least 2 bytes long (the engine rejects shorter ones).

use regex_syntax::hir::{Class, Hir, HirKind};

/// Bits in the hashed filters: 2^17 (16 KiB each; the stage-1 filter stays in the L1 data
/// cache).
const STAGE1_BITS: usize = 1 << 17;
/// Bits in the byte-pair filter and number of trigram buckets: 2^16.
const PAIR_BITS: usize = 1 << 16;

/// A bitset of `2^17` bits; a fixed size lets the compiler drop bounds checks.
type Stage1 = Box<[u64; STAGE1_BITS / 64]>;
/// A bitset of `2^16` bits, indexed by two folded bytes.
type Pairs = Box<[u64; PAIR_BITS / 64]>;

/// Finds every occurrence of a fixed set of keywords.
#[derive(Debug, Clone)]
pub(crate) struct KeywordIndex {
    /// The keywords, lowercased (ASCII), end to end; keyword `id` is
    /// `bytes[spans[id].0..spans[id].1]`.
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    /// Stage 1: bit per hashed folded trigram that starts a keyword, or starts with a
    /// two-byte keyword.
    triples: Stage1,
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
        let mut triples: Stage1 = Box::new([0; STAGE1_BITS / 64]);
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
                    // Any third byte (folded bytes all have bit 5 set).
                    for c in (0..=255u8).filter(|c| c & 0x20 != 0) {
                        set1(&mut triples, hash3(pack(&[w[0], w[1], c])));
                    }
                    pairs.push(id);
                }
                3 => {
                    set1(&mut triples, hash3(pack(&w)));
                    set1(&mut whole_triples, hash3(pack(&w)));
                    buckets.push((bucket(pack(&w)), id));
                }
                n if n >= 4 => {
                    set1(&mut triples, hash3(pack(&w[..3])));
                    set1(&mut quads, hash4(pack(&w[..4])));
                    buckets4.push((bucket4(pack(&w[..4])), id));
                }
                _ => {}
            }
        }
        let (starts, ids) = bucket_table(buckets);
        let (starts4, ids4) = bucket_table(buckets4);
        KeywordIndex {
            bytes,
            spans,
            triples,
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
        const FOLD: u32 = 0x2020_2020;
        let bytes = text.as_bytes();
        // The hot loop loads four bytes, hashes the first three and tests one bit: nothing
        // is carried from one position to the next, so the CPU overlaps positions.
        // Everything else is out of line.
        for (at, w) in bytes.windows(4).enumerate() {
            let packed = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) | FOLD;
            if test1(&self.triples, hash3(packed)) {
                self.verify(bytes, at, packed, true, &mut found);
            }
        }
        // The last three positions have fewer than four bytes left.
        for at in bytes.len().saturating_sub(3)..bytes.len() {
            match bytes.get(at..) {
                Some(tail @ [_, _, _]) if test1(&self.triples, hash3(pack(tail))) => {
                    self.verify(bytes, at, pack(tail), false, &mut found);
                }
                Some([_, _]) => self.verify_pairs(bytes, at, &mut found),
                _ => {}
            }
        }
    }

    /// Stage 2 at `at` (`packed`: the folded bytes there, four when `four`, else three):
    /// a two-byte keyword, a whole three-byte one, or the first four bytes of a longer one
    /// (common English trigrams such as `her` and `for` stop here); then the keywords of the
    /// trigram's bucket are compared in full.
    #[inline(never)]
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
    let fits = match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .all(|r| add(u32::from(r.start()), u32::from(r.end()))),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .all(|r| add(u32::from(r.start()), u32::from(r.end()))),
    };
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
    }

    fn anchored(pattern: &str, keywords: &[&str]) -> bool {
        let hir = regex_syntax::Parser::new()
            .parse(pattern)
            .unwrap_or_else(|e| panic!("{e}"));
        let keywords: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        starts_with_keyword(&[hir], &keywords)
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
