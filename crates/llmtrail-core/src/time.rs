//! Parsing and formatting of event times.
//!
//! Contract: input is an RFC 3339 timestamp with an offset (`Z` or `±hh:mm`); it is converted
//! to UTC. Output is always UTC with exactly nine fractional digits and a `Z`, e.g.
//! `2026-11-22T01:02:03.000000000Z`, so equal instants always encode to equal bytes.
//!
//! Invariant: only years 0000–9999 are accepted, because RFC 3339 has no form for others and
//! the fixed-width output must stay parseable by every RFC 3339 reader.

use jiff::Timestamp;

/// Seconds from 0000-01-01T00:00:00Z to the Unix epoch, negated: the earliest time allowed.
const MIN_SECOND: i64 = -62_167_219_200;

/// Explains, without echoing the input, why a time is not acceptable.
pub(crate) const TIME_EXPECTED: &str =
    "expected an RFC 3339 timestamp with an offset, e.g. 2026-11-22T01:02:03Z, in years 0000-9999";

/// Parses an RFC 3339 timestamp with an offset into a UTC instant.
///
/// jiff's parser is a superset of RFC 3339 (it also reads RFC 9557 bracketed annotations);
/// annotations are refused so that no time zone database is ever consulted and the accepted
/// language stays close to RFC 3339.
pub(crate) fn parse(s: &str) -> Result<Timestamp, &'static str> {
    if s.contains('[') {
        return Err(TIME_EXPECTED);
    }
    let ts: Timestamp = s.parse().map_err(|_| TIME_EXPECTED)?;
    check_range(ts)?;
    Ok(ts)
}

/// Refuses instants before year 0000 (jiff can represent them, RFC 3339 cannot).
pub(crate) fn check_range(ts: Timestamp) -> Result<(), &'static str> {
    if ts.as_second() < MIN_SECOND {
        Err(TIME_EXPECTED)
    } else {
        Ok(())
    }
}

/// Formats an instant as UTC with exactly nine fractional digits.
pub(crate) fn format(ts: Timestamp) -> String {
    format!("{ts:.9}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nine_digits() {
        let ts = parse("2026-11-22T01:02:03Z").unwrap();
        assert_eq!(format(ts), "2026-11-22T01:02:03.000000000Z");
        let ts = parse("2026-11-22T01:02:03.5+02:00").unwrap();
        assert_eq!(format(ts), "2026-11-21T23:02:03.500000000Z");
    }

    #[test]
    fn rejects_missing_offset_annotations_and_garbage() {
        for bad in [
            "2026-11-22T01:02:03",
            "2026-11-22",
            "2026-11-22T01:02:03Z[Europe/Paris]",
            "yesterday",
            "-000001-01-01T00:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn year_zero_is_the_lower_bound() {
        let ts = parse("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(format(ts), "0000-01-01T00:00:00.000000000Z");
        assert!(check_range(Timestamp::MIN).is_err());
        // jiff stops a little before the end of 9999 (it leaves room for offsets).
        assert_eq!(format(parse("9999-12-30T00:00:00.123Z").unwrap()).len(), 30);
    }
}
