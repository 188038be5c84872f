//! Languages. The UI's words are Slint translations (`translations/ja/…/mobile-app.po`, English
//! being the source language); this module only formats what Rust pushes in: dates and numbers.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Weekday};

/// Settings key for the chosen language.
pub const LANGUAGE_SETTING: &str = "language";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// The default: the app is for mothers in Japan.
    #[default]
    Japanese,
    English,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Japanese, Language::English];

    /// The code used for settings, Slint's bundled translations and file names.
    pub fn code(self) -> &'static str {
        match self {
            Language::Japanese => "ja",
            Language::English => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "ja" => Some(Language::Japanese),
            "en" => Some(Language::English),
            _ => None,
        }
    }

    /// Makes this language current for every Slint translation. Needs a created component.
    pub fn select(self) -> Result<(), slint::SelectBundledTranslationError> {
        slint::select_bundled_translation(self.code())
    }

    /// "5月12日(火)" / "Tue 12 May".
    pub fn date_with_weekday(self, d: NaiveDate) -> String {
        match self {
            Language::Japanese => {
                format!("{}月{}日({})", d.month(), d.day(), weekday_ja(d.weekday()))
            }
            Language::English => {
                format!("{} {} {}", weekday_en(d.weekday()), d.day(), month_en(d.month()))
            }
        }
    }

    /// "2026年5月12日" / "12 May 2026".
    pub fn long_date(self, d: NaiveDate) -> String {
        match self {
            Language::Japanese => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
            Language::English => format!("{} {} {}", d.day(), month_en(d.month()), d.year()),
        }
    }

    /// "5/12" / "12 May": for chart ticks and compact lists.
    pub fn short_date(self, d: NaiveDate) -> String {
        match self {
            Language::Japanese => format!("{}/{}", d.month(), d.day()),
            Language::English => format!("{} {}", d.day(), month_en(d.month())),
        }
    }

    /// "7:05" in both languages (24-hour clock, as Japanese phones show it by default).
    pub fn time(self, t: NaiveTime) -> String {
        format!("{}:{:02}", t.hour(), t.minute())
    }

    /// Gestational age: "28週3日" / "28w 3d".
    pub fn gestational_age(self, weeks: u32, days: u32) -> String {
        match self {
            Language::Japanese => format!("{weeks}週{days}日"),
            Language::English => format!("{weeks}w {days}d"),
        }
    }
}

fn weekday_ja(w: Weekday) -> &'static str {
    ["月", "火", "水", "木", "金", "土", "日"][w.num_days_from_monday() as usize]
}

fn weekday_en(w: Weekday) -> &'static str {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][w.num_days_from_monday() as usize]
}

fn month_en(m: u32) -> &'static str {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    MONTHS[(m.clamp(1, 12) - 1) as usize]
}

/// Formats a number with at most one decimal, without a trailing ".0": "58.4", "120".
pub fn number(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 { format!("{r:.0}") } else { format!("{r:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_languages() {
        let d: NaiveDate = "2026-05-12".parse().unwrap();
        assert_eq!(Language::Japanese.date_with_weekday(d), "5月12日(火)");
        assert_eq!(Language::English.date_with_weekday(d), "Tue 12 May");
        assert_eq!(Language::Japanese.long_date(d), "2026年5月12日");
        assert_eq!(Language::English.short_date(d), "12 May");
        assert_eq!(Language::Japanese.gestational_age(28, 3), "28週3日");
        assert_eq!(Language::English.gestational_age(28, 3), "28w 3d");
        assert_eq!(Language::from_code("fr"), None);
    }

    #[test]
    fn numbers_drop_a_trailing_zero() {
        assert_eq!(number(120.0), "120");
        assert_eq!(number(58.44), "58.4");
        assert_eq!(number(58.96), "59");
    }
}
