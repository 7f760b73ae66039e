//! Text helpers shared by the model: case-insensitive comparison the way
//! Exchange compares names, wildcards, and the culture-specific formats
//! Exchange prints (byte quantities, en-US dates).

use chrono::{DateTime, FixedOffset, Utc};
use std::cmp::Ordering;

fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Case-insensitive equality, Unicode-aware, without allocating.
pub fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    folded(a).eq(folded(b))
}

/// Case-insensitive ordering, used for sorting and OPATH range comparisons.
pub fn cmp_ci(a: &str, b: &str) -> Ordering {
    folded(a).cmp(folded(b))
}

/// `*` any run, `?` one character; case-insensitive, as `-like` is.
pub fn like_ci(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = folded(pattern).collect();
    let t: Vec<char> = folded(text).collect();
    // Iterative matcher with single backtrack point: linear in practice and
    // immune to pathological patterns from the network.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `2,147,483,648`
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Exchange's ByteQuantifiedSize text: `2 GB (2,147,483,648 bytes)`,
/// `1.899 GB (2,039,480,320 bytes)`, `256 KB (262,144 bytes)`.
pub fn byte_quantity(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TB", 1 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
    ];
    let (unit, size) = UNITS
        .iter()
        .find(|(_, size)| bytes >= *size)
        .copied()
        .unwrap_or(("B", 1));
    let scaled = format!("{:.3}", bytes as f64 / size as f64);
    let scaled = scaled.trim_end_matches('0').trim_end_matches('.');
    format!("{scaled} {unit} ({} bytes)", thousands(bytes))
}

/// `Unlimited` or a byte quantity.
pub fn unlimited_bytes(value: Option<u64>) -> String {
    value.map_or_else(|| "Unlimited".to_string(), byte_quantity)
}

/// `2022-10-31T01:01:36Z`, as Exchange serializes the *UTC properties.
pub fn dt_utc(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2022-10-30T18:01:36-07:00`: the server's local time.
pub fn dt_local(t: &DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `11/27/2026 8:00:00 AM`, the en-US form Exchange puts in error ids.
pub fn en_us(t: &DateTime<Utc>) -> String {
    t.format("%-m/%-d/%Y %-I:%M:%S %p").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_quantities_match_exchange() {
        assert_eq!(byte_quantity(2_147_483_648), "2 GB (2,147,483,648 bytes)");
        assert_eq!(byte_quantity(262_144), "256 KB (262,144 bytes)");
        assert_eq!(
            byte_quantity(32_212_254_720),
            "30 GB (32,212,254,720 bytes)"
        );
        assert_eq!(
            byte_quantity(2_039_480_320),
            "1.899 GB (2,039,480,320 bytes)"
        );
        assert_eq!(byte_quantity(512), "512 B (512 bytes)");
        assert_eq!(unlimited_bytes(None), "Unlimited");
    }

    #[test]
    fn wildcards_and_case() {
        assert!(like_ci("a*", "Alice"));
        assert!(like_ci("*ÉLO*", "Mélodie Élodie"));
        assert!(like_ci("b?b", "BOB"));
        assert!(!like_ci("b?b", "bob!"));
        assert!(like_ci("*", ""));
        assert!(!like_ci("a*c", "abd"));
        assert!(eq_ci("Zoë", "ZOË"));
        assert_eq!(cmp_ci("abc", "ABD"), Ordering::Less);
    }
}
