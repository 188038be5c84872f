//! Reading what she typed and formatting what she sees.

/// Japanese keyboards often type full-width digits ("１２０"): accept them.
fn normalise(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '．' | '。' => '.',
            c => c,
        })
        .collect()
}

/// Why a number field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    Missing,
    NotANumber,
}

/// A whole number ("120"); `Ok(None)` for an empty field.
pub fn parse_whole(s: &str) -> Result<Option<f64>, NumberError> {
    let s = normalise(s);
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u32>().map(|v| Some(f64::from(v))).map_err(|_| NumberError::NotANumber)
}

/// A decimal number ("58.4"); `Ok(None)` for an empty field.
pub fn parse_decimal(s: &str) -> Result<Option<f64>, NumberError> {
    let s = normalise(s).replace(',', ".");
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
        _ => Err(NumberError::NotANumber),
    }
}

/// A date as YYYY-MM-DD (also with full-width digits or slashes); `Ok(None)` for an empty field.
pub fn parse_date(s: &str) -> Result<Option<chrono::NaiveDate>, ()> {
    let s = normalise(s).replace(['/', '．'], "-");
    if s.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map(Some).map_err(|_| ())
}

/// "128/82".
pub fn bp(systolic: f64, diastolic: f64) -> String {
    format!("{}/{}", crate::i18n::number(systolic), crate::i18n::number(diastolic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_accept_full_width_digits_and_reject_junk() {
        assert_eq!(parse_whole("１２０"), Ok(Some(120.0)));
        assert_eq!(parse_whole(" 80 "), Ok(Some(80.0)));
        assert_eq!(parse_whole(""), Ok(None));
        assert_eq!(parse_whole("12o"), Err(NumberError::NotANumber));
        assert_eq!(parse_whole("-5"), Err(NumberError::NotANumber));
        assert_eq!(parse_whole("120.5"), Err(NumberError::NotANumber));
        assert_eq!(parse_decimal("５８．４"), Ok(Some(58.4)));
        assert_eq!(parse_decimal("58,4"), Ok(Some(58.4)));
        assert_eq!(parse_decimal("NaN"), Err(NumberError::NotANumber));
        assert_eq!(parse_decimal("inf"), Err(NumberError::NotANumber));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2026-08-01"), Ok(Some("2026-08-01".parse().unwrap())));
        assert_eq!(parse_date("２０２６/８/１"), Ok(Some("2026-08-01".parse().unwrap())));
        assert_eq!(parse_date(""), Ok(None));
        assert_eq!(parse_date("2026-02-30"), Err(()));
        assert_eq!(parse_date("tomorrow"), Err(()));
    }
}
