//! Medians, percentiles and the units the report prints.

use std::time::Duration;

pub fn median(values: &[Duration]) -> Duration {
    percentile(values, 50.0)
}

/// Nearest-rank percentile; zero for no values.
pub fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median_u64(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

/// The lower middle of `values` (NaNs last); zero for none.
pub fn median_f64(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0.0)
}

/// `a / b`; NaN when `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        return f64::NAN;
    }
    a.as_secs_f64() / b.as_secs_f64()
}

/// Each `a[i] / b[i]`, for runs measured in pairs (the median of these is
/// what a paired figure reports: a run slowed by the machine's other work
/// moves one pair, not both sides' medians).
pub fn pair_ratios(a: &[Duration], b: &[Duration]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| ratio(*x, *y)).collect()
}

/// The median of [`pair_ratios`]: what a paired figure reports; NaN when
/// there are no pairs.
pub fn paired_median(a: &[Duration], b: &[Duration]) -> f64 {
    let ratios = pair_ratios(a, b);
    if ratios.is_empty() {
        return f64::NAN;
    }
    median_f64(&ratios)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 0.1 {
        format!("{:.1} µs", ms * 1000.0)
    } else if ms < 10.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `1.23 s, 1.20 s, 1.31 s`: every run, so a reader sees the spread.
pub fn all_secs(values: &[Duration]) -> String {
    values
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&ms(&[30, 10, 20])), Duration::from_millis(20));
        assert_eq!(median(&ms(&[40, 10, 30, 20])), Duration::from_millis(20));
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn p99_is_the_nearest_rank() {
        let values: Vec<u64> = (1..=200).collect();
        assert_eq!(percentile(&ms(&values), 99.0), Duration::from_millis(198));
        assert_eq!(percentile(&ms(&[5]), 99.0), Duration::from_millis(5));
    }

    #[test]
    fn small_durations_print_in_microseconds() {
        assert_eq!(millis(Duration::from_nanos(300)), "0.3 µs");
        assert_eq!(millis(Duration::from_micros(250)), "0.250 ms");
        assert_eq!(millis(Duration::from_millis(25)), "25.0 ms");
    }

    #[test]
    fn pairs_are_divided_in_order() {
        let ms = Duration::from_millis;
        assert_eq!(
            pair_ratios(&[ms(400), ms(100)], &[ms(200), ms(400)]),
            [2.0, 0.25]
        );
        assert!(ratio(ms(1), Duration::ZERO).is_nan());
        assert_eq!(
            paired_median(&[ms(400), ms(100), ms(300)], &[ms(200), ms(400), ms(100)]),
            2.0
        );
        assert!(paired_median(&[], &[]).is_nan());
    }

    #[test]
    fn median_f64_takes_the_lower_middle() {
        assert_eq!(median_f64(&[]), 0.0);
        assert_eq!(median_f64(&[1.3, 1.1, 1.2]), 1.2);
        assert_eq!(median_f64(&[1.4, 1.1, 1.3, 1.2]), 1.2);
    }

    #[test]
    fn median_u64_takes_the_lower_middle() {
        assert_eq!(median_u64(&[3, 1, 2]), 2);
        assert_eq!(median_u64(&[4, 1, 3, 2]), 2);
        assert_eq!(median_u64(&[]), 0);
    }
}
