//! Markdown rendering of a SOAP draft for humans: red flags first, then S/O/A/P with a source
//! reference after every statement, measurements as a table, and rejected values with reasons.

use std::fmt::Write;

use crate::soap::{Lang, NoteStatus, Origin, Section, SoapNote, SourceSpan, Urgency};

/// Renders `note` as Markdown.
pub fn render(note: &SoapNote) -> String {
    let lang = note.language;
    let t = |en: &'static str, ja: &'static str| if lang == Lang::Ja { ja } else { en };
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", t("SOAP note", "SOAP記録"));
    if note.status == NoteStatus::Preliminary {
        let _ = writeln!(
            out,
            "> **{}** {} {} {}.\n",
            t("DRAFT", "下書き"),
            t("Generated automatically by", "自動生成:"),
            note.generator.name,
            note.generator.version
        );
        let _ = writeln!(
            out,
            "> {}\n",
            t(
                "Not a clinical record until a clinician has reviewed and attested it. Every statement cites the transcript span it came from.",
                "医療者が確認・承認するまで診療記録ではありません。各記載には根拠となる書き起こし箇所を示しています。"
            )
        );
    }
    if !note.red_flags.is_empty() {
        let _ = writeln!(out, "## {}\n", t("Red flags", "要注意所見"));
        for f in &note.red_flags {
            let level = match (f.urgency, lang) {
                (Urgency::Emergency, Lang::En) => "EMERGENCY",
                (Urgency::SameDay, Lang::En) => "SAME DAY",
                (Urgency::Advisory, Lang::En) => "ADVISORY",
                (Urgency::Emergency, Lang::Ja) => "緊急",
                (Urgency::SameDay, Lang::Ja) => "当日対応",
                (Urgency::Advisory, Lang::Ja) => "要確認",
            };
            let refs: Vec<String> = f.evidence.iter().map(source_ref).collect();
            let _ = writeln!(out, "- **{level}** {} {}", escape(&f.message), refs.join(" "));
        }
        out.push('\n');
    }
    for section in Section::ALL {
        let _ = writeln!(out, "## {}\n", section.title(lang));
        let mut any = false;
        for s in note.section(section) {
            any = true;
            let marker = if s.origin == Origin::Derived {
                t(" *(derived)*", " *（自動判定）*")
            } else {
                ""
            };
            let _ = writeln!(out, "- {}{marker} {}", escape(&s.text), source_ref(&s.source));
        }
        if section == Section::O && !note.vitals.is_empty() {
            if any {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                t("Measurement", "項目"),
                t("Value", "値"),
                t("Source", "根拠")
            );
            let _ = writeln!(out, "|---|---|---|");
            for v in &note.vitals {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    v.measurement.kind().label(lang),
                    v.measurement.display_value(),
                    escape_cell(&format!("\"{}\" {}", v.source.quote, source_ref(&v.source)))
                );
            }
            any = true;
        }
        if section == Section::S {
            let symptoms: Vec<String> = note
                .symptoms
                .iter()
                .map(|s| {
                    let state = match (s.present, lang) {
                        (true, Lang::En) => "present",
                        (false, Lang::En) => "denied",
                        (true, Lang::Ja) => "あり",
                        (false, Lang::Ja) => "なし",
                    };
                    format!("{} ({state})", s.kind.label(lang))
                })
                .collect();
            if !symptoms.is_empty() {
                let _ = writeln!(out, "\n{}: {}", t("Symptoms", "症状"), symptoms.join(", "));
                any = true;
            }
        }
        if !any {
            let _ =
                writeln!(out, "- {}", t("(nothing in the transcript)", "（書き起こしに記載なし）"));
        }
        out.push('\n');
    }
    if !note.rejected.is_empty() {
        let _ = writeln!(
            out,
            "## {}\n",
            t("Values not accepted (please check)", "採用しなかった値（要確認）")
        );
        for r in &note.rejected {
            let _ = writeln!(
                out,
                "- {}: \"{}\" — {} {}",
                r.kind.label(lang),
                escape(&r.source.quote),
                escape(&r.reason),
                source_ref(&r.source)
            );
        }
        out.push('\n');
    }
    out
}

/// `[chars 12–40]`, or `[00:12.3–00:15.0]` when the span has audio times.
pub fn source_ref(s: &SourceSpan) -> String {
    match s.time {
        Some(t) => format!("[{}–{}]", clock(t.start_s), clock(t.end_s)),
        None => format!("[chars {}–{}]", s.char_start, s.char_end),
    }
}

fn clock(s: f64) -> String {
    let m = (s / 60.0).floor();
    format!("{:02}:{:04.1}", m as u64, s - m * 60.0)
}

/// Escapes characters that Markdown would interpret in transcript text.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '|') {
            out.push('\\');
        }
        if c == '\n' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_format() {
        assert_eq!(clock(72.35), "01:12.3");
        assert_eq!(clock(5.0), "00:05.0");
    }

    #[test]
    fn escapes_markdown() {
        assert_eq!(escape("a*b_[c]|<d>"), "a\\*b\\_\\[c\\]\\|\\<d\\>");
    }
}
