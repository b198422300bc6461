//! Countries and networks of source addresses from a MaxMind-format database (`.mmdb`:
//! GeoIP2/GeoLite2 Country, City or ASN, or any database with the same fields).
//!
//! [`Geo::network`] names an address by `country=<ISO code>` when the record has
//! `country.iso_code` (else `registered_country.iso_code`), else by `asn=<number>` from
//! `autonomous_system_number`. [`write_mmdb`] writes a minimal IPv6-free database of country
//! records: tests use it, and it can map an organisation's own networks to names.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

/// Errors opening a database.
#[derive(Debug, thiserror::Error)]
#[error("geoip database {path}: {why}")]
pub struct GeoError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

/// An open database (read whole into memory).
pub struct Geo {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geo").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    country: Option<Country>,
    registered_country: Option<Country>,
    autonomous_system_number: Option<u32>,
}

impl Geo {
    /// Opens `path`.
    ///
    /// # Errors
    /// [`GeoError`] when the file cannot be read or is not a MaxMind DB.
    pub fn open(path: &Path) -> Result<Geo, GeoError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| GeoError {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Ok(Geo { reader })
    }

    /// Names the country or network of `ip`; `None` when the database does not know it.
    #[must_use]
    pub fn network(&self, ip: IpAddr) -> Option<String> {
        let found = self.reader.lookup(ip).ok()?;
        let record: Record = found.decode().ok()??;
        let iso = |c: Option<Country>| c.and_then(|c| c.iso_code).filter(|s| !s.is_empty());
        if let Some(code) = iso(record.country).or_else(|| iso(record.registered_country)) {
            return Some(format!("country={code}"));
        }
        record.autonomous_system_number.map(|n| format!("asn={n}"))
    }
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    // Sizes below 29 fit the control byte; the writer only emits small values.
    let size = u8::try_from(size.min(28)).unwrap_or(28);
    if kind <= 7 {
        out.push((kind << 5) | size);
    } else {
        out.push(size);
        out.push(kind - 7);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(28)];
    control(out, 2, bytes.len());
    out.extend_from_slice(bytes);
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Writes a MaxMind DB (format 2.0, IPv4, 24-bit records) mapping each IPv4 network
/// (`"203.0.113.0/24"`) to `{"country": {"iso_code": <code>}}`.
///
/// # Errors
/// A message when a network is not `a.b.c.d/len` or the file cannot be written.
pub fn write_mmdb(path: &Path, networks: &[(&str, &str)]) -> Result<(), String> {
    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    let mut data = Vec::new();
    for (net, code) in networks {
        let (addr, len) = net
            .split_once('/')
            .ok_or_else(|| format!("{net}: expected a.b.c.d/len"))?;
        let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| format!("{net}: bad address"))?;
        let len: u32 = len.parse().map_err(|_| format!("{net}: bad length"))?;
        if len == 0 || len > 32 {
            return Err(format!("{net}: length must be 1-32"));
        }
        let offset = data.len();
        control(&mut data, 7, 1);
        string(&mut data, "country");
        control(&mut data, 7, 1);
        string(&mut data, "iso_code");
        string(&mut data, code);
        let bits = u32::from(addr);
        let mut node = 0;
        for i in 0..len {
            let bit = usize::from((bits >> (31 - i)) & 1 == 1);
            if i == len - 1 {
                nodes[node][bit] = Rec::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match *r {
                Rec::Empty => count,
                Rec::Node(i) => i,
                Rec::Data(off) => count + 16 + off,
            };
            let v = u32::try_from(v).map_err(|_| "database too large".to_owned())?;
            out.extend_from_slice(&v.to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    control(&mut out, 7, 9);
    string(&mut out, "node_count");
    uint(&mut out, 6, count as u64);
    string(&mut out, "record_size");
    uint(&mut out, 5, 24);
    string(&mut out, "ip_version");
    uint(&mut out, 5, 4);
    string(&mut out, "database_type");
    string(&mut out, "llmtrail-test-country");
    string(&mut out, "languages");
    control(&mut out, 11, 0);
    string(&mut out, "binary_format_major_version");
    uint(&mut out, 5, 2);
    string(&mut out, "binary_format_minor_version");
    uint(&mut out, 5, 0);
    string(&mut out, "build_epoch");
    uint(&mut out, 9, 1_700_000_000);
    string(&mut out, "description");
    control(&mut out, 7, 0);
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn written_database_reads_back() {
        let dir = std::env::temp_dir().join(format!("llmtrail-geo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.mmdb");
        write_mmdb(&path, &[("10.0.0.0/8", "DE"), ("203.0.113.0/24", "NL")]).unwrap();
        let geo = Geo::open(&path).unwrap();
        assert_eq!(
            geo.network("10.1.2.3".parse().unwrap()).as_deref(),
            Some("country=DE")
        );
        assert_eq!(
            geo.network("203.0.113.77".parse().unwrap()).as_deref(),
            Some("country=NL")
        );
        assert_eq!(geo.network("192.0.2.1".parse().unwrap()), None);
        assert_eq!(geo.network("::1".parse().unwrap()), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
