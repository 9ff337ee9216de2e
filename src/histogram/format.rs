//! How a histogram prints: Prometheus' `FloatHistogram.String`, e.g.
//! `{count:5, sum:12.5, [-2,-1):1, [-0.001,0.001]:2, (1,2]:2}` (populated buckets only,
//! from the lowest value to the highest), with Go's `%g` number formatting.

use std::fmt;

use super::FloatHistogram;

/// Writes `v` as Go's `%g` (and `%v`) prints a float64: the shortest digits that read back
/// as `v`, in exponent form (`1e+06`, `1.5e-07`) when the decimal exponent is below -4 or at
/// least 6 (Go's threshold for the shortest form), and `NaN`, `+Inf`, `-Inf`.
pub(super) fn write_g(f: &mut impl fmt::Write, v: f64) -> fmt::Result {
    if v.is_nan() {
        return f.write_str("NaN");
    }
    if v.is_infinite() {
        return f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    if v == 0.0 {
        return f.write_str(if v.is_sign_negative() { "-0" } else { "0" });
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: "d.ddde±x".
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if v < 0.0 {
        f.write_str("-")?;
    }
    if !(-4..6).contains(&exp) {
        f.write_str(&digits[..1])?;
        if digits.len() > 1 {
            f.write_str(".")?;
            f.write_str(&digits[1..])?;
        }
        let sign = if exp < 0 { '-' } else { '+' };
        return write!(f, "e{sign}{:02}", exp.abs());
    }
    if exp < 0 {
        f.write_str("0.")?;
        for _ in 0..(-exp - 1) {
            f.write_str("0")?;
        }
        return f.write_str(&digits);
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        f.write_str(&digits)?;
        for _ in digits.len()..int_len {
            f.write_str("0")?;
        }
        Ok(())
    } else {
        f.write_str(&digits[..int_len])?;
        f.write_str(".")?;
        f.write_str(&digits[int_len..])
    }
}

impl fmt::Display for FloatHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{count:")?;
        write_g(f, self.count)?;
        f.write_str(", sum:")?;
        write_g(f, self.sum)?;
        // Negative buckets from the lowest value up, i.e. the reverse iteration.
        for b in self
            .negative_reverse_bucket_iter()
            .filter(|b| b.count != 0.0)
        {
            write!(f, ", {b}")?;
        }
        if self.zero_count != 0.0 {
            if let Some(z) = self.zero_bucket() {
                write!(f, ", {z}")?;
            }
        }
        for b in self.positive_bucket_iter().filter(|b| b.count != 0.0) {
            write!(f, ", {b}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FloatHistogram, Span};

    fn g(v: f64) -> String {
        let mut s = String::new();
        super::write_g(&mut s, v).unwrap();
        s
    }

    #[test]
    fn go_g_formatting() {
        // Expected strings as Go's fmt.Sprintf("%g", v) prints them.
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.001, "0.001"),
            (1e100, "1e+100"),
            (1.5e-7, "1.5e-07"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (100.0, "100"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(g(v), want, "{v:?}");
        }
    }

    #[test]
    fn prints_like_prometheus() {
        // Schema 0, zero threshold 0.001: negative buckets -1 and -2 cover [-2,-1) and
        // [-4,-2); positive buckets 0..=1 cover (0.5,1] and (1,2]; empty buckets are left out.
        let h = FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 9.0,
            sum: 12.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 0.0, 3.0],
            negative_spans: vec![Span {
                offset: 1,
                length: 2,
            }],
            negative_buckets: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(
            h.to_string(),
            "{count:9, sum:12.5, [-4,-2):2, [-2,-1):1, [-0.001,0.001]:2, (0.5,1]:1, (2,4]:3}"
        );
        // Custom buckets: the first bucket reaches down to -Inf and includes it, the last
        // up to +Inf.
        let h = FloatHistogram {
            schema: -53,
            count: 4.0,
            sum: 5.0,
            custom_values: vec![5.0, 10.0],
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 2.0, 1.0],
            ..Default::default()
        };
        assert_eq!(
            h.to_string(),
            "{count:4, sum:5, [-Inf,5]:1, (5,10]:2, (10,+Inf]:1}"
        );
        assert_eq!(FloatHistogram::default().to_string(), "{count:0, sum:0}");
    }
}
