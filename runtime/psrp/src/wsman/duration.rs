//! xs:duration as WS-Management uses it for OperationTimeout (`PT20S`,
//! `PT180.000S`).

use std::time::Duration;

pub fn format_duration(duration: Duration) -> String {
    let millis = duration.subsec_millis();
    if millis == 0 {
        format!("PT{}S", duration.as_secs())
    } else {
        format!("PT{}.{:03}S", duration.as_secs(), millis)
    }
}

/// Parses the `P[nD][T[nH][nM][n[.f]S]]` subset; `None` when malformed.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut apply = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() || ch == '.' {
                number.push(ch);
            } else {
                let scale = units.iter().find(|(u, _)| *u == ch)?.1;
                total += number.parse::<f64>().ok()? * scale;
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    apply(date, &[('D', 86_400.0)])?;
    if let Some(time) = time {
        apply(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    if !total.is_finite() || !(0.0..=1e9).contains(&total) {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(format_duration(Duration::from_secs(20)), "PT20S");
        assert_eq!(
            format_duration(Duration::from_millis(180_500)),
            "PT180.500S"
        );
        assert_eq!(parse_duration("PT180.000S"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("PT2M1S"), Some(Duration::from_secs(121)));
        assert_eq!(parse_duration("P0DT0H0M0S"), Some(Duration::ZERO));
        assert_eq!(parse_duration("PT-1S"), None);
        assert_eq!(parse_duration("20"), None);
    }
}
