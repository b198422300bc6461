//! What every match of a rule must hold: at least `k` bytes of one byte class (the digits,
//! `@`, `:`, …) within its longest match.
//!
//! A phone number holds ten digits within twenty bytes; an e-mail address holds an `@`. The
//! engine uses this to search a rule only where the text can hold a match:
//!
//! - a rule without keywords is searched only over the spans where `k` bytes of its class
//!   lie within its longest match `L` (a match holds them, so it starts no later than the
//!   first of them and no earlier than `L` bytes before the last), or, when its matches have
//!   no bounded length, over the whole text when the text holds `k` of them at all;
//! - a window opened by a keyword is searched only when the span the search may cover
//!   holds `k` bytes of the class.
//!
//! Both are exact: they skip only text where the rule cannot match. The class is chosen
//! per rule from a fixed list, by how rarely its bytes occur in ordinary text and how many
//! of them a match needs ([`choose`]).

use memchr::memchr_iter;
use regex_syntax::hir::{Class, Hir, HirKind};

/// The byte classes a requirement can be about: the ASCII digits, `[A-Z0-9]` (only counted in
/// a span, as a second test), then single punctuation bytes, each with a rough share of the
/// bytes of ordinary prose, code and configuration (used only to pick the most selective
/// class for a rule).
const CLASSES: &[(Kind, f64)] = &[
    (Kind::Digits, 0.03),
    (Kind::UpperDigits, 0.06),
    (Kind::Byte(b'@'), 0.0005),
    (Kind::Byte(b'$'), 0.0005),
    (Kind::Byte(b'#'), 0.0005),
    (Kind::Byte(b'%'), 0.0005),
    (Kind::Byte(b'\\'), 0.0005),
    (Kind::Byte(b'|'), 0.0005),
    (Kind::Byte(b'~'), 0.0002),
    (Kind::Byte(b'^'), 0.0002),
    (Kind::Byte(b'+'), 0.001),
    (Kind::Byte(b'&'), 0.001),
    (Kind::Byte(b'<'), 0.001),
    (Kind::Byte(b'>'), 0.001),
    (Kind::Byte(b'['), 0.001),
    (Kind::Byte(b'{'), 0.001),
    (Kind::Byte(b'*'), 0.001),
    (Kind::Byte(b'!'), 0.001),
    (Kind::Byte(b'`'), 0.001),
    (Kind::Byte(b'('), 0.003),
    (Kind::Byte(b'?'), 0.002),
    (Kind::Byte(b';'), 0.002),
    (Kind::Byte(b'='), 0.004),
    (Kind::Byte(b'_'), 0.005),
    (Kind::Byte(b'/'), 0.006),
    (Kind::Byte(b'-'), 0.006),
    (Kind::Byte(b'\''), 0.005),
    (Kind::Byte(b':'), 0.01),
    (Kind::Byte(b'"'), 0.01),
    (Kind::Byte(b'.'), 0.015),
    (Kind::Byte(b','), 0.015),
];

/// Above this share of positions that may start a match, a requirement is not worth its
/// scan; the rule is searched as if it had none.
const MAX_SCORE: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Digits,
    /// `[A-Z0-9]`: counted in a span, never listed (too common to list cheaply).
    UpperDigits,
    Byte(u8),
}

impl Kind {
    fn has(self, b: u8) -> bool {
        match self {
            Kind::Digits => b.is_ascii_digit(),
            Kind::UpperDigits => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Kind::Byte(x) => b == x,
        }
    }

    /// Whether the engine lists this class's positions in a text (else it only counts
    /// them in a span).
    fn listed(self) -> bool {
        !matches!(self, Kind::UpperDigits)
    }
}

/// A rule's requirement: every match holds at least `k` bytes of class `class` (an index
/// into the engine's position lists, see [`Positions`]) and, when `longest` is set, is at
/// most that many bytes long; and, when `also` is set, at least `also.1` bytes of class
/// `also.0`, counted in a span rather than listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) class: usize,
    pub(crate) k: usize,
    pub(crate) longest: Option<usize>,
    pub(crate) also: Option<(usize, usize)>,
}

/// Picks the most selective requirement every match of every pattern meets, if any is
/// selective enough to pay for itself. `longest` is the longest match of all patterns
/// (`None` when one is unbounded).
pub(crate) fn choose(patterns: &[Hir], longest: Option<usize>) -> Option<Requirement> {
    let mut best: Option<(f64, Requirement)> = None;
    let mut best_count: Option<(f64, (usize, usize))> = None;
    for (class, &(kind, share)) in CLASSES.iter().enumerate() {
        let k = patterns
            .iter()
            .map(|hir| min_count(hir, kind))
            .min()
            .unwrap_or(0);
        if k == 0 {
            continue;
        }
        let score = score(share, k, longest);
        if !kind.listed() {
            if best_count.is_none_or(|(s, _)| score < s) {
                best_count = Some((score, (class, k)));
            }
        } else if score <= MAX_SCORE && best.is_none_or(|(s, _)| score < s) {
            best = Some((
                score,
                Requirement {
                    class,
                    k,
                    longest,
                    also: None,
                },
            ));
        }
    }
    let (score, mut need) = best?;
    // A counted class is worth its count when it is far more selective than the listed one.
    if let Some((s, also)) = best_count
        && s * 10.0 < score
    {
        need.also = Some(also);
    }
    Some(need)
}

/// About how many positions per byte of text start a span the rule must search: a byte of
/// the class, followed by `k - 1` more within `longest` (Poisson); when the length is
/// unbounded, any byte of the class makes the whole text searched.
fn score(share: f64, k: usize, longest: Option<usize>) -> f64 {
    match longest {
        None => share * 10.0,
        Some(len) => {
            let rate = share * len as f64;
            let mut more = 1.0;
            for i in 1..k {
                more *= rate / i as f64;
            }
            share * more.min(1.0)
        }
    }
}

/// The fewest bytes of `kind` any match of `hir` holds.
fn min_count(hir: &Hir, kind: Kind) -> usize {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(lit) => lit.0.iter().filter(|&&b| kind.has(b)).count(),
        HirKind::Class(class) => usize::from(class_within(class, kind)),
        HirKind::Repetition(rep) => usize::try_from(rep.min).map_or(usize::MAX, |min| {
            min.saturating_mul(min_count(&rep.sub, kind))
        }),
        HirKind::Capture(cap) => min_count(&cap.sub, kind),
        HirKind::Concat(subs) => subs
            .iter()
            .map(|sub| min_count(sub, kind))
            .fold(0, usize::saturating_add),
        HirKind::Alternation(subs) => subs
            .iter()
            .map(|sub| min_count(sub, kind))
            .min()
            .unwrap_or(0),
    }
}

/// Whether every character the class matches is one byte of `kind`.
fn class_within(class: &Class, kind: Kind) -> bool {
    crate::keywords::all_ranges(class, |lo, hi| {
        hi <= 0x7f && (lo..=hi).all(|b| kind.has(b as u8))
    })
}

/// The positions of each class's bytes in one text, found the first time a rule asks.
pub(crate) struct Positions<'t> {
    text: &'t [u8],
    lists: Vec<Option<Vec<usize>>>,
}

impl<'t> Positions<'t> {
    pub(crate) fn new(text: &'t str) -> Positions<'t> {
        Positions {
            text: text.as_bytes(),
            lists: vec![None; CLASSES.len()],
        }
    }

    /// The sorted positions of the bytes of class `class`.
    pub(crate) fn of(&mut self, class: usize) -> &[usize] {
        let text = self.text;
        self.lists[class].get_or_insert_with(|| match CLASSES[class].0 {
            Kind::Byte(b) => memchr_iter(b, text).collect(),
            Kind::Digits => digits(text),
            Kind::UpperDigits => (0..text.len())
                .filter(|&i| Kind::UpperDigits.has(text[i]))
                .collect(),
        })
    }

    /// Whether `span` holds what the requirement asks for.
    pub(crate) fn holds(&mut self, need: &Requirement, span: std::ops::Range<usize>) -> bool {
        let text = self.text;
        let list = self.of(need.class);
        let from = list.partition_point(|&p| p < span.start);
        list.get(from + need.k - 1).is_some_and(|&p| p < span.end)
            && need.also.is_none_or(|(class, k)| {
                let kind = CLASSES[class].0;
                let bytes = text.get(span).unwrap_or_default();
                bytes.iter().filter(|&&b| kind.has(b)).count() >= k
            })
    }

    /// Appends the windows (ranges of match starts, as the engine's windows) of a rule
    /// without keywords: where `k` bytes of the class lie within the longest match, or the
    /// whole text when matches are unbounded and the text holds `k` of them.
    pub(crate) fn windows(&mut self, need: &Requirement, out: &mut Vec<(usize, usize)>) {
        let len = self.text.len();
        let list = self.of(need.class);
        let k = need.k;
        if list.len() < k {
            return;
        }
        let Some(longest) = need.longest else {
            out.push((0, len));
            return;
        };
        let first = out.len();
        let mut i = 0;
        while i + k <= list.len() {
            let (lo, hi) = (list[i], list[i + k - 1]);
            if hi - lo >= longest {
                // No run starting at or before the first byte within `longest` of `hi`
                // can be short enough either (its k-th byte is at or past `hi`): skip to it.
                let next = i + 1 + list[i + 1..].partition_point(|&p| p + longest <= hi);
                i = next.max(i + 1);
                continue;
            }
            i += 1;
            // A match holding list[i..i + k] starts at or before `lo` and ends after `hi`.
            let start = (hi + 1).saturating_sub(longest);
            let end = lo + 1;
            let merges = out.len() > first;
            match out.last_mut() {
                Some(last) if merges && start <= last.1 => last.1 = last.1.max(end),
                _ => out.push((start, end)),
            }
        }
        if let Some((class, k)) = need.also {
            // Keep the windows whose search span (to a longest match past their end)
            // holds k bytes of the counted class.
            let kind = CLASSES[class].0;
            let text = self.text;
            let mut mine = out.split_off(first);
            mine.retain(|&(start, end)| {
                let span = &text[start..(end + longest).min(len)];
                span.iter().filter(|&&b| kind.has(b)).count() >= k
            });
            out.append(&mut mine);
        }
    }
}

/// The positions of the ASCII digits of `text`, eight bytes at a time where none is.
fn digits(text: &[u8]) -> Vec<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut out = Vec::new();
    let mut chunks = text.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // Bytes 0x30..=0x39 become 0..=9; a byte below 10 sets its high bit here.
        let x = word ^ (ONES * 0x30);
        if x.wrapping_sub(ONES * 10) & !x & HIGHS != 0 {
            for (i, b) in chunk.iter().enumerate() {
                if b.is_ascii_digit() {
                    out.push(at + i);
                }
            }
        }
        at += 8;
    }
    for (i, b) in chunks.remainder().iter().enumerate() {
        if b.is_ascii_digit() {
            out.push(at + i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hir(pattern: &str) -> Hir {
        regex_syntax::Parser::new()
            .parse(pattern)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn need(pattern: &str) -> Option<(Kind, usize)> {
        let h = hir(pattern);
        let longest = h.properties().maximum_len();
        choose(&[h], longest).map(|r| (CLASSES[r.class].0, r.k))
    }

    #[test]
    fn counts_what_every_match_holds() {
        assert_eq!(
            need(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"),
            Some((Kind::Digits, 9))
        );
        assert_eq!(
            need(r"[a-z]+@[a-z]+\.[a-z]{2,}"),
            Some((Kind::Byte(b'@'), 1))
        );
        // The branch with the fewest decides.
        assert_eq!(
            need(r"\([0-9]{3}\) [0-9]{3}-[0-9]{4}|[0-9]{3}\.[0-9]{3}\.[0-9]{4}"),
            Some((Kind::Digits, 10))
        );
        // Optional parts hold nothing for sure.
        assert_eq!(min_count(&hir(r"(?:\d{4})?x"), Kind::Digits), 0);
        assert_eq!(min_count(&hir(r"[0-9]{2,}"), Kind::Digits), 2);
        // Unicode's `\d` holds other digits (the engine makes it `[0-9]` first).
        assert_eq!(min_count(&hir(r"\d"), Kind::Digits), 0);
        // A class with a byte outside the class holds nothing for sure.
        assert_eq!(min_count(&hir(r"[0-9a]"), Kind::Digits), 0);
        assert_eq!(min_count(&hir(r"(?i)[0-9]"), Kind::Digits), 1);
        // A counted class joins a listed one when it is far more selective (an IBAN).
        let iban = hir(r"\b(?:DE|GB)[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b");
        let longest = iban.properties().maximum_len();
        let r = choose(&[iban], longest).expect("digits");
        assert_eq!((CLASSES[r.class].0, r.k), (Kind::Digits, 2));
        assert_eq!(
            r.also.map(|(c, k)| (CLASSES[c].0, k)),
            Some((Kind::UpperDigits, 12))
        );
        // Nothing required: prose.
        assert_eq!(need(r"(?i)\bignore\s+previous\b"), None);
        // Too common to be worth a scan: one digit anywhere in an unbounded match.
        assert_eq!(need(r"[a-z]+[0-9][a-z]+"), None);
    }

    #[test]
    fn finds_digits_at_every_offset() {
        let text = b"a1bc 23 de4567890x9";
        let expected: Vec<usize> = (0..text.len())
            .filter(|&i| text[i].is_ascii_digit())
            .collect();
        assert_eq!(digits(text), expected);
        assert!(digits(b"").is_empty());
        assert_eq!(digits(b"/:09"), [2, 3]);
    }

    /// Checks that every match of `pattern` in `text` starts inside one of the windows its
    /// requirement gives and holds what the requirement asks; returns the requirement and
    /// the windows.
    fn check_windows(
        pattern: &str,
        text: &str,
    ) -> Result<(Requirement, Vec<(usize, usize)>), TestCaseError> {
        let h = hir(pattern);
        let longest = h.properties().maximum_len();
        let need = choose(&[h], longest).expect("a requirement");
        let mut positions = Positions::new(text);
        let mut windows = Vec::new();
        positions.windows(&need, &mut windows);
        let re = regex::Regex::new(pattern).expect("compiles");
        for m in re.find_iter(text) {
            prop_assert!(
                windows
                    .iter()
                    .any(|&(s, e)| s <= m.start() && m.start() < e),
                "{m:?} outside {windows:?}"
            );
            prop_assert!(positions.holds(&need, m.range()));
        }
        Ok((need, windows))
    }

    proptest! {
        /// Every match of the pattern starts inside a window and ends within its longest
        /// match of the window's end.
        #[test]
        fn windows_cover_every_match(text in "[0-9a -]{0,200}") {
            let pattern = r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b|[0-9]{2} [0-9]{2}";
            let (_, windows) = check_windows(pattern, &text)?;
            prop_assert!(windows.windows(2).all(|w| w[0].1 < w[1].0));
        }

        /// The same with a counted class: windows without enough of it are dropped, and
        /// never one that holds a match.
        #[test]
        fn windows_with_a_counted_class_cover_every_match(text in "[0-9A-Da-d ]{0,200}") {
            let pattern = r"\b[A-D]{2}[0-9]{2}(?: ?[A-D0-9]{4}){2,3}\b";
            let (need, _) = check_windows(pattern, &text)?;
            prop_assert!(need.also.is_some());
        }
    }
}
