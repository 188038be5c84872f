//! Extraction of measurements (vital signs and antenatal check-up values) from one normalised
//! sentence, with plausibility checks.
//!
//! Patterns work on normalised text (see [`crate::text::normalize`]): ASCII digits, ASCII lower
//! case, full-width forms folded. Each measurement is anchored on a keyword (血圧, blood
//! pressure…) followed by its value, except slash pairs with mmHg, which are blood pressures on
//! their own. A number is used by at most one measurement.

use std::ops::Range;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::limits::{self, Plausible};
use super::model::{Dipstick, Measurement, MeasurementKind, Oedema};

/// One extraction result: an accepted measurement or a rejected value with its reason. `range`
/// is a byte range of the normalised text.
#[derive(Debug, Clone, PartialEq)]
pub enum Extracted {
    Accepted { measurement: Measurement, range: Range<usize> },
    Rejected { kind: MeasurementKind, reason: String, range: Range<usize> },
}

impl Extracted {
    /// The normalised byte range the result rests on.
    pub fn range(&self) -> &Range<usize> {
        match self {
            Extracted::Accepted { range, .. } | Extracted::Rejected { range, .. } => range,
        }
    }
}

fn re(pattern: &str) -> Regex {
    // Patterns are compile-time constants covered by tests; a bad one is a programming error.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

/// Keywords of all measurements: a keyword between another keyword and a number means the
/// number belongs to the nearer one.
static ANY_KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"血圧|脈拍|脈|心拍|体重|体温|子宮底|腹囲|尿蛋白|尿糖|浮腫|blood pressure|\bbp\b|pulse|heart rate|\bhr\b|\bfhr\b|weight|weighs|temperature|\btemp\b|fundal|fundus|circumference|protein|glucose|o?edema",
    )
});

const NUM: &str = r"[0-9]{1,3}(?:\.[0-9]+)?";
const INT: &str = r"[0-9]{2,3}";
/// Text between a keyword and its value: no digits, no sentence ends, short.
const GAP: &str = r"[^0-9。.!?]{0,24}?";

static BP_KEYWORD_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?:血圧|blood pressure|\bbp\b|b\.p\.){GAP}(?P<a>{INT})\s*(?:/|over|on|の|-|、|,|と)\s*(?P<b>{INT})"
    ))
});
static BP_SLASH_UNIT: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?P<a>{INT})\s*/\s*(?P<b>{INT})\s*(?:mm\s*hg|ミリ)")));
static BP_SLASH_BARE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?P<a>{INT})\s*/\s*(?P<b>{INT})")));
static BP_SYSTOLIC: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?:(?:^|[、,\s(]|は|が|血圧)上(?:が|は|の血圧は)?|収縮期(?:血圧)?(?:は|が)?|systolic(?: blood pressure| pressure| bp)?(?: is| was| of)?){GAP}(?P<n>{INT})"
    ))
});
static BP_DIASTOLIC: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?:(?:^|[、,\s(]|は|が|血圧)下(?:が|は|の血圧は)?|拡張期(?:血圧)?(?:は|が)?|diastolic(?: blood pressure| pressure| bp)?(?: is| was| of)?){GAP}(?P<n>{INT})"
    ))
});
static HEART_RATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<fetal>fetal\s+|foetal\s+|(?:the\s+)?baby'?s\s+|胎児の?|児の?|赤ちゃんの)?(?P<kw>heart\s*rate|heart\s*tones?|heart\s*beat|heartbeat|pulse(?:\s*rate)?|\bhr\b|\bfhr\b|\bfht\b|\bfhts\b|脈拍数?|脈|心拍数?|心音){GAP}(?P<n>{INT})"
    ))
});
static WEIGHT: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<pre>胎児|推定|出生|児|fetal |estimated |birth |baby'?s )?(?P<kw>体重|\bweight\b|\bweighs\b|\bweighed\b|\bwt\b){GAP}(?P<n>{NUM})\s*(?P<unit>kg|kilograms?|kilos?|キロ(?:グラム)?|きろ|lbs?|pounds?|g\b|グラム)?"
    ))
});
static GA_JA: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?P<ctx>妊娠|在胎)?\s*(?P<w>[0-9]{1,2})\s*週\s*(?:と)?\s*(?:(?P<d>[0-9]{1,2})\s*日)?(?P<after>間|後|前|ぶり|目)?",
    )
});
static GA_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?P<w>[0-9]{1,2})\s*(?:-\s*)?(?:weeks?|wks?|w)\b(?:\s*(?:and|,|\+|plus)?\s*(?P<d>[0-9]{1,2})\s*(?:days?|d)\b)?",
    )
});
static GA_PLUS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:gestational age|gestation|\bga\b|pregnan\w*|at)\s*(?:of|is|:)?\s*(?P<w>[0-9]{1,2})\s*\+\s*(?P<d>[0-9]{1,2})\b",
    )
});
static GA_CONTEXT_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:pregnan\w*|gestation\w*|\bga\b|gestational age|\bat\b|currently|now)\W*(?:about|around|approximately)?\W*$",
    )
});
static GA_CONTEXT_AFTER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\W*(?:pregnan\w*|gestation\w*|of (?:pregnancy|gestation)|along|ga\b)"));
static INTERVAL_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:in|for|after|every|within|next|past|last|over|about|around|than)\s*(?:about|around|the next|the last|another)?\s*$",
    )
});
static INTERVAL_AFTER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*(?:ago|later|from now|postpartum|post|after)\b"));
static FUNDAL: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<kw>子宮底長|子宮底|fundal height|\bfundus\b|\bsfh\b|symphys[ie]s[- ]?fundal height){GAP}(?P<n>{NUM})\s*(?P<unit>cm|センチ(?:メートル)?|centimet(?:er|re)s?)?"
    ))
});
static ABDOMINAL: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<kw>腹囲|abdominal (?:circumference|girth)){GAP}(?P<n>{NUM})\s*(?P<unit>cm|センチ(?:メートル)?|centimet(?:er|re)s?)?"
    ))
});
static TEMPERATURE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<kw>体温|熱|temperature|\btemp\b){GAP}(?P<n>[0-9]{{2,3}}(?:\.[0-9])?)\s*(?:度\s*(?P<tenths>[0-9])\s*分|(?P<f>°\s*f\b|fahrenheit|degrees fahrenheit)|°\s*c|℃|度|degrees?(?: celsius| c)?)?"
    ))
});

/// Dipstick values: (−), (±), (1+), 2+, ++, negative, trace, 陰性, プラス2…
const DIPSTICK: &str = r"(?P<v>\(\s*(?:-|ー|±|\+{1,4}|[0-9]\s*\+)\s*\)|[0-9]\s*\+|\+{1,4}|±|-(?:[^0-9]|$)|negative|\bneg\b|\bnil\b|trace|positive|[0-9]\s*plus|plus\s*[0-9]|陰性|弱陽性|陽性|プラスマイナス|マイナス|プラス\s*[0-9]?|[0-9]\s*プラス|なし)";
static URINE_PROTEIN: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<pre>blood\s+)?(?:尿蛋白|尿たんぱく|尿タンパク|蛋白尿|タンパク尿|蛋白|タンパク|たんぱく|urine protein|urinary protein|protein(?:uria)?(?: in (?:the |her )?urine)?)\s*(?:は|が|:|is|was|were)?\s*{DIPSTICK}"
    ))
});
static URINE_GLUCOSE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?P<pre>blood\s+)?(?:尿糖|糖|urine glucose|urinary glucose|urine sugar|glucose(?: in (?:the |her )?urine)?|glycosuria)(?P<dm>尿病)?\s*(?:は|が|:|is|was|were)?\s*{DIPSTICK}"
    ))
});
static URINE_BOTH: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?:尿)?(?:蛋白|タンパク|たんぱく|protein)\s*(?:・|、|と|および|及び|and|,|&|/)\s*(?:尿)?(?:糖|glucose|sugar)\s*(?:は|が|:|are|were|both)?\s*(?:ともに|とも|共に|いずれも|どちらも|both)?\s*{DIPSTICK}"
    ))
});
static URINE_FOR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?P<v>negative|positive|trace|[0-9]\s*\+)\s+for\s+(?P<list>(?:protein|glucose|sugar|ketones|blood|leukocytes|nitrites)(?:\s*(?:,|and|or)\s*(?:protein|glucose|sugar|ketones|blood|leukocytes|nitrites))*)",
    )
});
static OEDEMA_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:浮腫|むくみ|エデーマ|\bo?edema\b|\bswelling\b)\s*(?:は|が|を|も|:|is|was|of the \w+)?\s*(?P<v>\(\s*(?:-|ー|±|\+{1,4}|[0-9]\s*\+)\s*\)|[0-9]\s*\+|[0-9]\s*plus|なし|無し|ない|ありません|認めない|認めず|マイナス|陰性|\bnone\b|\babsent\b|\bnegative\b|\bnil\b|not present|軽度|\bmild\b|\bslight\b|中等度|\bmoderate\b|高度|著明|\bsevere\b|\bmarked\b|\btrace\b|あり|あります|ある|認める|認めます|\bpresent\b|\bpositive\b|\bpitting\b)",
    )
});
static OEDEMA_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?P<v>\bno\b|\bwithout\b|\bdenies\b|negative for|absence of|\bmild\b|\bslight\b|\bmoderate\b|\bsevere\b|\bmarked\b|\btrace\b|[0-9]\s*\+|軽度の?|中等度の?|高度の?|著明な)\s*(?:[a-z]+\s+){0,3}?(?:浮腫|むくみ|\bo?edema\b)",
    )
});

/// Extracts the measurements of the sentence `range` of the normalised text `norm`.
pub fn extract(norm: &str, range: Range<usize>) -> Vec<Extracted> {
    let mut x =
        Extractor { s: &norm[range.clone()], base: range.start, out: Vec::new(), used: Vec::new() };
    x.blood_pressure();
    x.heart_rates();
    x.weight();
    x.gestational_age();
    x.centimetres(&FUNDAL, MeasurementKind::FundalHeight, limits::FUNDAL_HEIGHT_CM);
    x.centimetres(
        &ABDOMINAL,
        MeasurementKind::AbdominalCircumference,
        limits::ABDOMINAL_CIRCUMFERENCE_CM,
    );
    x.temperature();
    x.urine();
    x.oedema();
    x.out.sort_by_key(|e| e.range().start);
    x.out
}

struct Extractor<'a> {
    s: &'a str,
    base: usize,
    out: Vec<Extracted>,
    /// Sentence-relative byte ranges of numbers (and phrases) already used.
    used: Vec<Range<usize>>,
}

impl Extractor<'_> {
    fn is_used(&self, r: &Range<usize>) -> bool {
        self.used.iter().any(|u| u.start < r.end && r.start < u.end)
    }

    /// A captured number must not continue with more digits (…128 in 1280).
    fn clean_number(&self, r: &Range<usize>) -> bool {
        let before = self.s[..r.start].chars().next_back();
        let after = self.s[r.end..].chars().next();
        let decimal_follows = self.s[r.end..].starts_with('.')
            && self.s[r.end + 1..].chars().next().is_some_and(|c| c.is_ascii_digit());
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
            && !decimal_follows
    }

    /// Whether another measurement's keyword sits between `from` and `to`.
    fn foreign_keyword_between(&self, kw_end: usize, num_start: usize) -> bool {
        kw_end < num_start && ANY_KEYWORD.is_match(&self.s[kw_end..num_start])
    }

    fn accept(&mut self, measurement: Measurement, range: Range<usize>, used: &[Range<usize>]) {
        self.used.extend(used.iter().cloned());
        let range = self.base + range.start..self.base + range.end;
        self.out.push(Extracted::Accepted { measurement, range });
    }

    fn reject(
        &mut self,
        kind: MeasurementKind,
        reason: String,
        range: Range<usize>,
        used: &[Range<usize>],
    ) {
        self.used.extend(used.iter().cloned());
        let range = self.base + range.start..self.base + range.end;
        self.out.push(Extracted::Rejected { kind, reason, range });
    }

    fn blood_pressure(&mut self) {
        // Labelled values first: 上が128、下が82 / systolic 128 diastolic 82, in any order.
        let sys = first_number(&BP_SYSTOLIC, self.s);
        let dia = first_number(&BP_DIASTOLIC, self.s);
        if let (Some((sm, sv)), Some((dm, dv))) = (sys, dia)
            && !self.is_used(&sv)
            && !self.is_used(&dv)
            && self.clean_number(&sv)
            && self.clean_number(&dv)
        {
            let span = sm.start.min(dm.start)..sm.end.max(dm.end);
            let (a, b) = (parse_u16(&self.s[sv.clone()]), parse_u16(&self.s[dv.clone()]));
            self.bp_checked(a, b, true, span, &[sv, dv]);
        }
        let mut found = Vec::new();
        for pattern in [&*BP_KEYWORD_PAIR, &*BP_SLASH_UNIT, &*BP_SLASH_BARE] {
            for c in pattern.captures_iter(self.s) {
                let (Some(a), Some(b), Some(whole)) = (c.name("a"), c.name("b"), c.get(0)) else {
                    continue;
                };
                found.push((whole.range(), a.range(), b.range()));
            }
        }
        for (whole, a, b) in found {
            if self.is_used(&a)
                || self.is_used(&b)
                || !self.clean_number(&a)
                || !self.clean_number(&b)
            {
                continue;
            }
            let (av, bv) = (parse_u16(&self.s[a.clone()]), parse_u16(&self.s[b.clone()]));
            let text = &self.s[whole.clone()];
            let bare = whole.start == a.start && !text.contains("mm") && !text.contains("ミリ");
            // A bare "a/b" is a pressure only when its halves look like one, in either order
            // (not 1/2 or 32/40).
            let (fa, fb) = (f64::from(av), f64::from(bv));
            if bare
                && !(limits::SYSTOLIC.contains(fa) && limits::DIASTOLIC.contains(fb))
                && !(limits::SYSTOLIC.contains(fb) && limits::DIASTOLIC.contains(fa))
            {
                continue;
            }
            self.bp_checked(av, bv, false, whole, &[a, b]);
        }
    }

    fn bp_checked(
        &mut self,
        systolic: u16,
        diastolic: u16,
        labelled: bool,
        span: Range<usize>,
        used: &[Range<usize>],
    ) {
        let kind = MeasurementKind::BloodPressure;
        let (s, d) = (f64::from(systolic), f64::from(diastolic));
        let reason = if !labelled && systolic <= diastolic {
            Some(format!(
                "first value {systolic} is not above second value {diastolic}: systolic must come first (reversed order or misheard?)"
            ))
        } else if systolic <= diastolic {
            Some(format!("systolic {systolic} is not above diastolic {diastolic}"))
        } else if !limits::SYSTOLIC.contains(s) {
            Some(out_of_range("systolic pressure", s, limits::SYSTOLIC))
        } else if !limits::DIASTOLIC.contains(d) {
            Some(out_of_range("diastolic pressure", d, limits::DIASTOLIC))
        } else if s - d < limits::MIN_PULSE_PRESSURE {
            Some(format!(
                "pulse pressure {systolic}-{diastolic} is below {} mmHg: not a credible reading",
                limits::MIN_PULSE_PRESSURE
            ))
        } else {
            None
        };
        match reason {
            Some(r) => self.reject(kind, r, span, used),
            None => self.accept(Measurement::BloodPressure { systolic, diastolic }, span, used),
        }
    }

    fn heart_rates(&mut self) {
        let caps: Vec<_> = HEART_RATE.captures_iter(self.s).collect();
        for c in caps {
            let (Some(whole), Some(kw), Some(n)) = (c.get(0), c.name("kw"), c.name("n")) else {
                continue;
            };
            let n = n.range();
            if self.is_used(&n)
                || !self.clean_number(&n)
                || self.foreign_keyword_between(kw.end(), n.start)
            {
                continue;
            }
            let kw_text = kw.as_str();
            let fetal = c.name("fetal").is_some()
                || matches!(kw_text, "fhr" | "fht" | "fhts")
                || kw_text.starts_with("heart tone")
                || (kw_text == "心音" && c.name("fetal").is_some());
            let v = parse_u16(&self.s[n.clone()]);
            let (kind, plausible, label) = if fetal {
                (MeasurementKind::FetalHeartRate, limits::FETAL_HEART_RATE, "fetal heart rate")
            } else {
                (MeasurementKind::Pulse, limits::PULSE, "pulse")
            };
            let span = whole.start()..n.end;
            if plausible.contains(f64::from(v)) {
                let m = if fetal {
                    Measurement::FetalHeartRate { bpm: v }
                } else {
                    Measurement::Pulse { bpm: v }
                };
                self.accept(m, span, &[n]);
            } else {
                self.reject(kind, out_of_range(label, f64::from(v), plausible), span, &[n]);
            }
        }
    }

    fn weight(&mut self) {
        let caps: Vec<_> = WEIGHT.captures_iter(self.s).collect();
        for c in caps {
            let (Some(whole), Some(n)) = (c.get(0), c.name("n")) else { continue };
            let n = n.range();
            let kw_end = c.name("kw").map_or(whole.start(), |k| k.end());
            if c.name("pre").is_some()
                || self.is_used(&n)
                || !self.clean_number(&n)
                || self.foreign_keyword_between(kw_end, n.start)
                || self.s[n.end..].trim_start().starts_with('/')
            {
                continue;
            }
            // Weight gain or loss is a change, not a weight.
            let gap = &self.s[whole.start()..n.start];
            let after = &self.s[whole.end()..];
            if ["gain", "loss", "増加", "減少", "増え", "減", "up by", "down by"]
                .iter()
                .any(|w| gap.contains(w))
                || ["増", "減", "gain", "up", "down", "more", "less"]
                    .iter()
                    .any(|w| after.trim_start().starts_with(w))
            {
                continue;
            }
            let Ok(mut v) = self.s[n.clone()].parse::<f64>() else { continue };
            let unit = c.name("unit").map(|u| u.as_str());
            match unit {
                Some(u) if u.starts_with("lb") || u.starts_with("pound") => {
                    v = round1(v * 0.453_592_37)
                }
                Some("g" | "グラム") => continue,
                _ => {}
            }
            let span = whole.start()..whole.end();
            if limits::WEIGHT_KG.contains(v) {
                self.accept(Measurement::Weight { kg: v }, span, &[n]);
            } else {
                self.reject(
                    MeasurementKind::Weight,
                    out_of_range("weight", v, limits::WEIGHT_KG),
                    span,
                    &[n],
                );
            }
        }
    }

    fn gestational_age(&mut self) {
        // (whole span, weeks number, days number)
        type Hit = (Range<usize>, Range<usize>, Option<Range<usize>>);
        let mut hits: Vec<Hit> = Vec::new();
        for c in GA_JA.captures_iter(self.s) {
            let (Some(whole), Some(w)) = (c.get(0), c.name("w")) else { continue };
            if c.name("after").is_some_and(|a| a.as_str() != "目") {
                continue;
            }
            let days = c.name("d").map(|d| d.range());
            if c.name("ctx").is_none()
                && days.is_none()
                && !self.s[..whole.start()].contains("妊娠")
            {
                continue;
            }
            hits.push((whole.range(), w.range(), days));
        }
        for c in GA_PLUS.captures_iter(self.s) {
            let (Some(whole), Some(w), Some(d)) = (c.get(0), c.name("w"), c.name("d")) else {
                continue;
            };
            hits.push((whole.range(), w.range(), Some(d.range())));
        }
        for c in GA_EN.captures_iter(self.s) {
            let (Some(whole), Some(w)) = (c.get(0), c.name("w")) else { continue };
            let days = c.name("d").map(|d| d.range());
            let before = &self.s[..whole.start()];
            let after = &self.s[whole.end()..];
            let pregnancy_after = GA_CONTEXT_AFTER.is_match(after);
            let interval = INTERVAL_BEFORE.is_match(before) || INTERVAL_AFTER.is_match(after);
            let context_before = GA_CONTEXT_BEFORE.is_match(before);
            let is_ga = pregnancy_after || (!interval && (context_before || days.is_some()));
            if is_ga {
                let end = if pregnancy_after {
                    whole.end() + GA_CONTEXT_AFTER.find(after).map_or(0, |m| m.end())
                } else {
                    whole.end()
                };
                hits.push((whole.start()..end, w.range(), days));
            }
        }
        for (span, w, d) in hits {
            if self.is_used(&w)
                || d.as_ref().is_some_and(|d| self.is_used(d))
                || !self.clean_number(&w)
            {
                continue;
            }
            let weeks = parse_u16(&self.s[w.clone()]);
            let days = d.as_ref().map(|d| parse_u16(&self.s[d.clone()]));
            let mut used = vec![w];
            used.extend(d);
            let kind = MeasurementKind::GestationalAge;
            if !limits::GESTATION_WEEKS.contains(f64::from(weeks)) {
                self.reject(
                    kind,
                    out_of_range("gestational age", f64::from(weeks), limits::GESTATION_WEEKS),
                    span,
                    &used,
                );
            } else if let Some(dv) =
                days.filter(|&dv| !limits::GESTATION_DAYS.contains(f64::from(dv)))
            {
                self.reject(
                    kind,
                    format!("{dv} days is not a days-of-week value (0-6) in \"weeks + days\""),
                    span,
                    &used,
                );
            } else {
                let m = Measurement::GestationalAge {
                    weeks: u8::try_from(weeks).unwrap_or(u8::MAX),
                    days: days.map(|d| u8::try_from(d).unwrap_or(u8::MAX)),
                };
                self.accept(m, span, &used);
            }
        }
    }

    fn centimetres(&mut self, pattern: &Regex, kind: MeasurementKind, plausible: Plausible) {
        let caps: Vec<_> = pattern.captures_iter(self.s).collect();
        for c in caps {
            let (Some(whole), Some(n)) = (c.get(0), c.name("n")) else { continue };
            let n = n.range();
            let kw_end = c.name("kw").map_or(whole.start(), |k| k.end());
            if self.is_used(&n)
                || !self.clean_number(&n)
                || self.foreign_keyword_between(kw_end, n.start)
                || self.s[n.end..].trim_start().starts_with("週")
            {
                continue;
            }
            let Ok(v) = self.s[n.clone()].parse::<f64>() else { continue };
            let span = whole.range();
            if plausible.contains(v) {
                let m = match kind {
                    MeasurementKind::FundalHeight => Measurement::FundalHeight { cm: v },
                    _ => Measurement::AbdominalCircumference { cm: v },
                };
                self.accept(m, span, &[n]);
            } else {
                let label = kind.label(super::Lang::En).to_lowercase();
                self.reject(kind, out_of_range(&label, v, plausible), span, &[n]);
            }
        }
    }

    fn temperature(&mut self) {
        let caps: Vec<_> = TEMPERATURE.captures_iter(self.s).collect();
        for c in caps {
            let (Some(whole), Some(n)) = (c.get(0), c.name("n")) else { continue };
            let n = n.range();
            let kw_end = c.name("kw").map_or(whole.start(), |k| k.end());
            if self.is_used(&n)
                || !self.clean_number(&n)
                || self.foreign_keyword_between(kw_end, n.start)
            {
                continue;
            }
            let Ok(mut v) = self.s[n.clone()].parse::<f64>() else { continue };
            if let Some(tenths) = c.name("tenths").and_then(|t| t.as_str().parse::<f64>().ok()) {
                v += tenths / 10.0;
            }
            if c.name("f").is_some() || (93.0..=110.0).contains(&v) {
                v = round1((v - 32.0) * 5.0 / 9.0);
            }
            let span = whole.range();
            if limits::TEMPERATURE_C.contains(v) {
                self.accept(Measurement::BodyTemperature { celsius: v }, span, &[n]);
            } else {
                self.reject(
                    MeasurementKind::BodyTemperature,
                    out_of_range("body temperature", v, limits::TEMPERATURE_C),
                    span,
                    &[n],
                );
            }
        }
    }

    fn urine(&mut self) {
        let mut results: Vec<(MeasurementKind, Dipstick, Range<usize>)> = Vec::new();
        for c in URINE_BOTH.captures_iter(self.s) {
            if let Some(d) = c.name("v").and_then(|v| dipstick(v.as_str())) {
                let r = c.get(0).map_or(0..0, |m| m.range());
                results.push((MeasurementKind::UrineProtein, d, r.clone()));
                results.push((MeasurementKind::UrineGlucose, d, r));
            }
        }
        if self.s.contains("urin") || self.s.contains("dip") {
            for c in URINE_FOR.captures_iter(self.s) {
                let (Some(v), Some(list)) = (c.name("v"), c.name("list")) else { continue };
                let Some(d) = dipstick(v.as_str()) else { continue };
                let r = c.get(0).map_or(0..0, |m| m.range());
                if list.as_str().contains("protein") {
                    results.push((MeasurementKind::UrineProtein, d, r.clone()));
                }
                if list.as_str().contains("glucose") || list.as_str().contains("sugar") {
                    results.push((MeasurementKind::UrineGlucose, d, r));
                }
            }
        }
        let singles = [
            (&*URINE_PROTEIN, MeasurementKind::UrineProtein),
            (&*URINE_GLUCOSE, MeasurementKind::UrineGlucose),
        ];
        for (pattern, kind) in singles {
            for c in pattern.captures_iter(self.s) {
                if c.name("pre").is_some() || c.name("dm").is_some() {
                    continue;
                }
                let whole = c.get(0).map_or(0..0, |m| m.range());
                // A bare 糖 or 蛋白 counts only in a sentence about urine.
                let bare = matches!(&self.s[whole.start..], t if t.starts_with('糖') || t.starts_with('蛋') || t.starts_with('タ') || t.starts_with('た'));
                if bare && !self.s.contains('尿') {
                    continue;
                }
                if let Some(d) = c.name("v").and_then(|v| dipstick(v.as_str())) {
                    results.push((kind, d, whole));
                }
            }
        }
        let mut seen: Vec<MeasurementKind> = Vec::new();
        for (kind, d, r) in results {
            // One reading per kind per sentence; the combined forms came first and win.
            if seen.contains(&kind) || self.is_used(&r) && !self.used.contains(&r) {
                continue;
            }
            seen.push(kind);
            let m = match kind {
                MeasurementKind::UrineProtein => Measurement::UrineProtein { dipstick: d },
                _ => Measurement::UrineGlucose { dipstick: d },
            };
            self.accept(m, r.clone(), &[r]);
        }
    }

    fn oedema(&mut self) {
        let mut found: Option<(Oedema, Range<usize>)> = None;
        for c in OEDEMA_BEFORE.captures_iter(self.s) {
            let Some(v) = c.name("v") else { continue };
            if let Some(o) = oedema_grade(v.as_str()) {
                found = Some((o, c.get(0).map_or(0..0, |m| m.range())));
                break;
            }
        }
        if found.is_none() {
            for c in OEDEMA_AFTER.captures_iter(self.s) {
                let Some(v) = c.name("v") else { continue };
                if let Some(o) = oedema_grade(v.as_str()) {
                    found = Some((o, c.get(0).map_or(0..0, |m| m.range())));
                    break;
                }
            }
        }
        if let Some((o, r)) = found
            && !self.is_used(&r)
        {
            self.accept(Measurement::Oedema { oedema: o }, r.clone(), &[r]);
        }
    }
}

fn first_number(pattern: &Regex, s: &str) -> Option<(Range<usize>, Range<usize>)> {
    let c: Captures<'_> = pattern.captures(s)?;
    Some((c.get(0)?.range(), c.name("n")?.range()))
}

fn parse_u16(s: &str) -> u16 {
    s.split('.').next().and_then(|i| i.parse().ok()).unwrap_or(u16::MAX)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn out_of_range(what: &str, v: f64, p: Plausible) -> String {
    format!("{what} {v} {} is outside the plausible range {}-{} {}", p.unit, p.min, p.max, p.unit)
}

fn dipstick(v: &str) -> Option<Dipstick> {
    let v = v.trim().trim_start_matches('(').trim_end_matches(')').trim();
    let digit = v.chars().find(|c| c.is_ascii_digit()).and_then(|c| c.to_digit(10));
    Some(match v {
        "-" | "ー" | "negative" | "neg" | "nil" | "陰性" | "マイナス" | "なし" => {
            Dipstick::Negative
        }
        "±" | "trace" | "プラスマイナス" | "弱陽性" => Dipstick::Trace,
        "positive" | "陽性" | "プラス" => Dipstick::PositiveUngraded,
        _ if v.starts_with('-') => Dipstick::Negative,
        _ if v.chars().all(|c| c == '+') && !v.is_empty() => {
            Dipstick::Positive(v.len().min(4) as u8)
        }
        _ => match digit {
            Some(n @ 1..=4) => Dipstick::Positive(n as u8),
            _ => return None,
        },
    })
}

fn oedema_grade(v: &str) -> Option<Oedema> {
    let v = v.trim();
    let inner = v.trim_start_matches('(').trim_end_matches(')').trim();
    let digit = inner.chars().find(|c| c.is_ascii_digit()).and_then(|c| c.to_digit(10));
    Some(match inner {
        "no" | "without" | "denies" | "negative for" | "absence of" | "なし" | "無し" | "ない"
        | "ありません" | "認めない" | "認めず" | "マイナス" | "陰性" | "none" | "absent"
        | "negative" | "nil" | "not present" | "-" | "ー" => Oedema::Absent,
        "±" | "trace" => Oedema::Trace,
        "mild" | "slight" | "軽度" | "軽度の" => Oedema::Mild,
        "moderate" | "中等度" | "中等度の" => Oedema::Moderate,
        "severe" | "marked" | "高度" | "高度の" | "著明" | "著明な" => Oedema::Severe,
        "あり" | "あります" | "ある" | "認める" | "認めます" | "present" | "positive"
        | "pitting" => Oedema::Present,
        _ if !inner.is_empty() && inner.chars().all(|c| c == '+') => {
            Oedema::Graded(inner.len().min(4) as u8)
        }
        _ => match digit {
            Some(n @ 1..=4) => Oedema::Graded(n as u8),
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn run(text: &str) -> Vec<Extracted> {
        let n = normalize(text);
        extract(n.as_str(), 0..n.as_str().len())
    }

    fn accepted(text: &str) -> Vec<Measurement> {
        run(text)
            .into_iter()
            .filter_map(|e| match e {
                Extracted::Accepted { measurement, .. } => Some(measurement),
                Extracted::Rejected { .. } => None,
            })
            .collect()
    }

    fn rejected(text: &str) -> Vec<(MeasurementKind, String)> {
        run(text)
            .into_iter()
            .filter_map(|e| match e {
                Extracted::Rejected { kind, reason, .. } => Some((kind, reason)),
                Extracted::Accepted { .. } => None,
            })
            .collect()
    }

    #[test]
    fn dipstick_notations() {
        assert_eq!(dipstick("(-)"), Some(Dipstick::Negative));
        assert_eq!(dipstick("(±)"), Some(Dipstick::Trace));
        assert_eq!(dipstick("2+"), Some(Dipstick::Positive(2)));
        assert_eq!(dipstick("++"), Some(Dipstick::Positive(2)));
        assert_eq!(dipstick("プラス1"), Some(Dipstick::Positive(1)));
        assert_eq!(dipstick("陰性"), Some(Dipstick::Negative));
        assert_eq!(dipstick("x"), None);
    }

    #[test]
    fn temperature_in_japanese_degrees_and_tenths() {
        assert_eq!(
            accepted("体温は三十六度八分です"),
            vec![Measurement::BodyTemperature { celsius: 36.8 }]
        );
        assert_eq!(
            accepted("temperature 98.6 F"),
            vec![Measurement::BodyTemperature { celsius: 37.0 }]
        );
    }

    #[test]
    fn weight_change_is_not_weight() {
        assert!(accepted("体重が2キロ増えました").is_empty());
        assert!(accepted("weight gain of 2 kg").is_empty());
        assert_eq!(accepted("weight 140 pounds"), vec![Measurement::Weight { kg: 63.5 }]);
        assert!(accepted("推定胎児体重は1800グラム").is_empty());
    }

    #[test]
    fn numbers_are_not_shared_between_measurements() {
        let m = accepted("血圧128/82、脈拍78、体重61.5kg");
        assert_eq!(
            m,
            vec![
                Measurement::BloodPressure { systolic: 128, diastolic: 82 },
                Measurement::Pulse { bpm: 78 },
                Measurement::Weight { kg: 61.5 },
            ]
        );
    }

    #[test]
    fn reversed_pressure_is_rejected() {
        let r = rejected("BP 82/128");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, MeasurementKind::BloodPressure);
        assert!(r[0].1.contains("reversed"), "{}", r[0].1);
    }
}
