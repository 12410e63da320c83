//! Short, local times for bubbles and the list.

/// Local clock for rendering times: UTC during server rendering, the browser's zone after.
/// Kept here, below the page's state, so the thread's rules can use times without a
/// circle through the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub offset_minutes: i32,
    pub now_secs: i64,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `HH:MM` in the viewer's zone.
pub fn clock_time(unix_secs: i64, clock: Clock) -> String {
    let local = unix_secs + i64::from(clock.offset_minutes) * 60;
    let secs_of_day = local.rem_euclid(86_400);
    format!("{:02}:{:02}", secs_of_day / 3600, (secs_of_day % 3600) / 60)
}

/// `HH:MM` today, `d Mon` on other days.
pub fn list_time(unix_secs: i64, clock: Clock) -> String {
    let offset = i64::from(clock.offset_minutes) * 60;
    let day = (unix_secs + offset).div_euclid(86_400);
    let today = (clock.now_secs + offset).div_euclid(86_400);
    if day == today {
        clock_time(unix_secs, clock)
    } else {
        let (_, m, d) = civil_from_days(day);
        format!("{d} {}", MONTHS[(m - 1) as usize])
    }
}

/// The viewer's calendar day of a time (days since 1970-01-01 in their zone).
pub fn local_day(unix_secs: i64, offset_minutes: i32) -> i64 {
    (unix_secs + i64::from(offset_minutes) * 60).div_euclid(86_400)
}

/// A thread's day separator: `Today`, `Yesterday`, else `3 Dec 2026`.
pub fn day_label(unix_secs: i64, clock: Clock) -> String {
    let day = local_day(unix_secs, clock.offset_minutes);
    let today = local_day(clock.now_secs, clock.offset_minutes);
    match today - day {
        0 => "Today".into(),
        1 => "Yesterday".into(),
        _ => {
            let (y, m, d) = civil_from_days(day);
            format!("{d} {} {y}", MONTHS[(m - 1) as usize])
        }
    }
}

/// `2026-12-03 16:21:53` in UTC, for a Unix ms time (the audit log's times).
pub fn utc_date_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        t / 3600,
        (t % 3600) / 60,
        t % 60
    )
}

/// Unix ms of 00:00 UTC on a `YYYY-MM-DD` date (what `<input type=date>` gives).
pub fn utc_day_start_ms(date: &str) -> Option<i64> {
    let mut parts = date.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil, the inverse of `civil_from_days`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_labels_are_the_viewers_days() {
        // 2025-12-03 16:21:53 UTC.
        let now = 1_764_778_913;
        let clock = Clock {
            offset_minutes: 0,
            now_secs: now,
        };
        assert_eq!(day_label(now - 60, clock), "Today");
        assert_eq!(day_label(now - 86_400, clock), "Yesterday");
        assert_eq!(day_label(now - 3 * 86_400, clock), "30 Nov 2025");
        // 01:00 UTC on the 3rd is still the 2nd three hours west.
        let west = Clock {
            offset_minutes: -180,
            now_secs: now,
        };
        assert_eq!(day_label(1_764_723_600, west), "Yesterday");
    }

    #[test]
    fn utc_dates_round_trip() {
        assert_eq!(utc_date_time(1_764_778_913_123), "2025-12-03 16:21:53");
        let start = utc_day_start_ms("2025-12-03").unwrap();
        assert_eq!(utc_date_time(start), "2025-12-03 00:00:00");
        assert_eq!(
            utc_day_start_ms("2024-02-29").map(utc_date_time).as_deref(),
            Some("2024-02-29 00:00:00")
        );
        assert_eq!(utc_day_start_ms("1970-01-01"), Some(0));
        assert_eq!(utc_day_start_ms("2025-13-01"), None);
        assert_eq!(utc_day_start_ms(""), None);
    }

    #[test]
    fn formats_in_the_viewers_zone() {
        let utc = Clock {
            offset_minutes: 0,
            now_secs: 1_763_800_000,
        };
        assert_eq!(clock_time(1_763_800_000, utc), "08:26");
        let sao_paulo = Clock {
            offset_minutes: -180,
            now_secs: 1_763_800_000,
        };
        assert_eq!(clock_time(1_763_800_000, sao_paulo), "05:26");
        assert_eq!(list_time(1_763_800_000 - 3 * 86_400, utc), "19 Nov");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
