//! Pause requests: `30m`, `1h`, `90s`, `1h30m`, `tomorrow` (until 06:00 local time the next
//! day) or `forever` (until resumed). Pure: the clock and the local offset come in as numbers.

/// How long to pause.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PauseFor {
    /// For this many seconds.
    Secs(f64),
    /// Until 06:00 local time on the next day.
    Tomorrow,
    /// Until resumed.
    Forever,
}

/// The local hour a `tomorrow` pause ends at.
pub const TOMORROW_HOUR: i64 = 6;

impl PauseFor {
    /// Reads `30m`, `1h`, `90s`, `1h30m`, `45` (minutes), `tomorrow` or `forever`.
    ///
    /// # Errors
    /// A message naming what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let bad = || {
            format!("expected a pause like 30m, 1h, 90s, 1h30m, tomorrow or forever, got `{text}`")
        };
        match t.as_str() {
            "tomorrow" | "until-tomorrow" => return Ok(Self::Tomorrow),
            "forever" | "indefinitely" => return Ok(Self::Forever),
            "" => return Err(bad()),
            _ => {}
        }
        if let Ok(minutes) = t.parse::<f64>() {
            return if minutes.is_finite() && minutes > 0.0 {
                Ok(Self::Secs(minutes * 60.0))
            } else {
                Err(bad())
            };
        }
        let mut total = 0.0;
        let mut number = String::new();
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let mut unit = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphabetic() {
                    unit.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let value: f64 = number.parse().map_err(|_| bad())?;
            number.clear();
            total += value
                * match unit.as_str() {
                    "s" | "sec" | "secs" => 1.0,
                    "m" | "min" | "mins" => 60.0,
                    "h" | "hr" | "hour" | "hours" => 3600.0,
                    _ => return Err(bad()),
                };
        }
        if !(number.is_empty() && total.is_finite() && total > 0.0) {
            return Err(bad());
        }
        Ok(Self::Secs(total))
    }

    /// When the pause ends, in Unix seconds, for a pause asked at `now_unix` where local time is
    /// `utc_offset_secs` ahead of UTC; `None`: until resumed.
    pub fn deadline(self, now_unix: f64, utc_offset_secs: i64) -> Option<f64> {
        match self {
            Self::Secs(s) => Some(now_unix + s),
            Self::Forever => None,
            Self::Tomorrow => {
                let local = now_unix.floor() as i64 + utc_offset_secs;
                let day = local.div_euclid(86_400);
                let next = (day + 1) * 86_400 + TOMORROW_HOUR * 3600 - utc_offset_secs;
                Some(next as f64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_read_in_words_and_units() {
        assert_eq!(PauseFor::parse("30m"), Ok(PauseFor::Secs(1800.0)));
        assert_eq!(PauseFor::parse("1h"), Ok(PauseFor::Secs(3600.0)));
        assert_eq!(PauseFor::parse("1h30m"), Ok(PauseFor::Secs(5400.0)));
        assert_eq!(PauseFor::parse("90s"), Ok(PauseFor::Secs(90.0)));
        assert_eq!(PauseFor::parse("15"), Ok(PauseFor::Secs(900.0)));
        assert_eq!(PauseFor::parse(" Tomorrow"), Ok(PauseFor::Tomorrow));
        assert_eq!(PauseFor::parse("forever"), Ok(PauseFor::Forever));
        for bad in ["", "-5", "10x", "m", "1h30", "0m", "nan"] {
            let e = PauseFor::parse(bad).unwrap_err();
            assert!(e.contains("expected a pause"), "{bad}: {e}");
        }
    }

    #[test]
    fn tomorrow_ends_at_six_local_time_the_next_day() {
        // 2026-03-02 23:30 UTC is 2026-03-03 00:30 at UTC+1: tomorrow is 2026-03-04 06:00
        // local, 05:00 UTC.
        let now = 1_772_494_200.0;
        let end = PauseFor::Tomorrow.deadline(now, 3600).unwrap();
        assert_eq!(end, 1_772_600_400.0);
        assert_eq!(PauseFor::Secs(60.0).deadline(now, 0), Some(now + 60.0));
        assert_eq!(PauseFor::Forever.deadline(now, 0), None);
    }
}
