//! The words on screen: every UI string has a Japanese translation with the same placeholders,
//! and every character the app itself shows is in the embedded font (so screens never depend on
//! the machine's fonts).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use skrifa::{FontRef, MetadataProvider};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Reads a quoted string starting after the opening quote; returns it (escapes kept) and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// Every `@tr("…")` (and plural `@tr("…" | "…" % n)`) in the UI: (msgid, plural msgid).
fn ui_strings() -> BTreeSet<(String, Option<String>)> {
    let mut paths = Vec::new();
    files(&crate_dir().join("ui"), "slint", &mut paths);
    let mut found = BTreeSet::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("@tr(") {
            rest = rest[at + 4..].trim_start();
            let Some(body) = rest.strip_prefix('"') else { continue };
            let (msgid, after) =
                quoted(body).unwrap_or_else(|| panic!("unterminated @tr in {}", path.display()));
            let after_trim = after.trim_start();
            let plural = after_trim
                .strip_prefix('|')
                .and_then(|p| p.trim_start().strip_prefix('"'))
                .and_then(quoted)
                .map(|(p, _)| p);
            found.insert((msgid, plural));
            rest = after;
        }
    }
    found
}

/// msgid → translation from the Japanese catalogue.
fn catalogue() -> BTreeMap<String, String> {
    let po = std::fs::read_to_string(crate_dir().join("translations/ja/LC_MESSAGES/mobile-app.po"))
        .unwrap();
    let mut map = BTreeMap::new();
    let mut msgid: Option<String> = None;
    for line in po.lines() {
        let value = |prefix: &str| {
            line.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('"'))
                .and_then(quoted)
                .map(|q| q.0)
        };
        if let Some(id) = value("msgid ") {
            msgid = Some(id);
        } else if let Some(s) = value("msgstr ").or_else(|| value("msgstr[0] "))
            && let Some(id) = msgid.take()
            && !id.is_empty()
        {
            map.insert(id, s);
        }
    }
    map
}

fn placeholders(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        match rest[start..].find('}') {
            Some(end) => {
                out.insert(rest[start..start + end + 1].to_string());
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    out
}

#[test]
fn ui_strings_are_all_translated_with_their_placeholders() {
    let strings = ui_strings();
    assert!(strings.len() > 100, "found only {} strings: is the extractor broken?", strings.len());
    let ja = catalogue();
    let mut problems = Vec::new();
    for (msgid, _plural) in &strings {
        match ja.get(msgid) {
            None => problems.push(format!("missing: {msgid:?}")),
            Some(t) if t.is_empty() => problems.push(format!("untranslated: {msgid:?}")),
            Some(t) if placeholders(t) != placeholders(msgid) => {
                problems.push(format!("placeholders differ: {msgid:?} → {t:?}"))
            }
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "run scripts/update-po.py and translate:\n{}",
        problems.join("\n")
    );
}

#[test]
fn embedded_font_covers_every_ui_string() {
    let dir = crate_dir();
    let mut sources = Vec::new();
    files(&dir.join("ui"), "slint", &mut sources);
    files(&dir.join("translations"), "po", &mut sources);
    files(&dir.join("src"), "rs", &mut sources);
    sources.push(dir.join("mobile-app.example.toml"));
    let mut wanted: BTreeSet<char> = (' '..='~').collect();
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        wanted.extend(text.chars().filter(|c| !c.is_control() && !c.is_ascii()));
    }
    for face in ["Regular", "Bold"] {
        let path = dir.join(format!("ui/fonts/PHRSansJP-{face}.otf"));
        let bytes = std::fs::read(&path).unwrap();
        let font = FontRef::new(&bytes).unwrap();
        let charmap = font.charmap();
        let missing: String = wanted.iter().filter(|c| charmap.map(**c).is_none()).collect();
        assert!(
            missing.is_empty(),
            "{} lacks {missing:?}: run scripts/subset-font.py (see its header)",
            path.display()
        );
    }
}

#[test]
fn embedded_fonts_are_small() {
    for face in ["Regular", "Bold"] {
        let len = std::fs::metadata(crate_dir().join(format!("ui/fonts/PHRSansJP-{face}.otf")))
            .unwrap()
            .len();
        assert!(
            len < 400_000,
            "{face}: {len} bytes; the subset should stay well under 1 MB in total"
        );
    }
}
