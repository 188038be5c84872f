//! Symptom mentions with negation, in Japanese and English, on normalised sentences.
//!
//! English negation follows NegEx: a cue before the symptom ("no", "denies", "without"…) negates
//! it unless a terminator ("but", "reports"…) intervenes; a few cues after it ("… is absent")
//! also count. Japanese negation is a predicate after the symptom (ありません, なし, ない…):
//! the first predicate that follows a symptom, within its clause, decides, so lists such as
//! 頭痛や目のチカチカはありません are negated as a whole.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::model::{Frequency, Period, SymptomKind};

/// A symptom found in a sentence; `range` is a byte range of the normalised text.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub kind: SymptomKind,
    pub present: bool,
    pub frequency: Option<Frequency>,
    pub range: Range<usize>,
}

fn re(pattern: &str) -> Regex {
    // Patterns are compile-time constants covered by tests; a bad one is a programming error.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

/// Lexicon, most specific first: an earlier entry's match hides later overlapping ones.
static LEXICON: LazyLock<Vec<(SymptomKind, Regex)>> = LazyLock::new(|| {
    use SymptomKind as K;
    [
        (K::ReducedFetalMovement, r"(?:reduced|decreased|less|fewer|diminished|reduction in|decrease in|decreased)\s+(?:fetal\s+|foetal\s+|baby'?s?\s+)?(?:movements?|kicks?|kicking|activity)|(?:baby|fetus|foetus)\s+(?:is\s+|has\s+been\s+|was\s+)?(?:moving|kicking)\s+(?:less|much less|very little|not as much|a lot less)|(?:baby|fetus|foetus)\s+(?:isn't|is not|hasn't been|has not been|wasn't|was not|hasn't|has not|doesn't|does not|not)\s+(?:moving|kicking|move|kick)(?:\s+as much)?|(?:haven't|have not|hasn't|has not|didn't|did not|can't|cannot|not)\s+(?:felt|feel|feeling)\s+(?:the\s+)?(?:baby\s+)?(?:move|moving|movements?|kicks?|kicking)|movements?\s+(?:have|has)\s+(?:decreased|reduced|slowed)|胎動減少|胎動(?:が|を|は)?(?:あまり|少し)?(?:少な|減|弱|感じ(?:ない|られない|にく|ません|られません))|赤ちゃん(?:が|の)(?:あまり)?(?:動(?:か(?:ない|なく|ず)|きが(?:少な|弱|減)))"),
        (K::LeakingFluid, r"leak(?:ing|ed|age|s)?\s+(?:of\s+)?(?:clear\s+|some\s+|a\s+little\s+)?(?:fluid|water|liquid)|(?:fluid|water|liquid)\s+(?:leak(?:ing|age|ed)?|coming out|trickling|gushing)|waters?\s+(?:broke|has broken|have broken|breaking|may have broken)|rupture of (?:the\s+)?membranes|ruptured membranes|\bp?prom\b|gush of (?:fluid|water)|watery discharge|破水|水っぽい(?:おりもの|もの)|羊水(?:が)?(?:漏|も)れ|水(?:が|の)?(?:漏れ|流れ)(?:る|て|出)|(?:ちょろちょろ|じわじわ)(?:と)?(?:水|何か)?(?:が)?(?:出|流|漏)"),
        (K::EpigastricPain, r"epigastric (?:pain|discomfort|tenderness)|(?:pain|discomfort|ache)\s+(?:in|under|below)\s+(?:the|my|her)\s+(?:upper (?:stomach|abdomen|belly)|ribs|right ribs|rib cage)|right upper quadrant (?:pain|tenderness)|\bruq pain\b|upper (?:abdominal|stomach|belly) pain|pain (?:at|in) the pit of (?:the|my|her) stomach|心窩部痛|心窩部の痛み|心窩部(?:が|の)?(?:痛|不快)|みぞおち(?:の|が|に)?(?:痛|いた|違和感)|胃のあたり(?:が|の)?痛|胃の辺り(?:が|の)?痛|胃(?:が|の)痛|右季肋部痛|上腹部痛|上腹部の痛み"),
        (K::VisualDisturbance, r"visual (?:disturbances?|changes?|symptoms?|problems?|disturbance)|blurr(?:y|ed) vision|vision (?:is\s+|has been\s+)?(?:blurr(?:y|ed)|changes?|problems?)|seeing (?:spots|stars|flashing lights|flashes|double)|flashing lights|spots (?:in|before) (?:my|her|the) (?:vision|eyes)|double vision|scotomas?|photophobia|sensitivity to light|目(?:の前)?(?:が|の)チカチカ|目(?:の前)?(?:が|の)ちかちか|眼華閃発|閃輝暗点|視覚異常|視覚障害|視野(?:が|の)?(?:かす|欠け|狭)|目(?:が|の)(?:かすむ|かすみ|かすん)|かすみ目|見えにく|(?:もの|物)が(?:二重|ぼやけ)|光がまぶし|まぶしさ"),
        (K::Headache, r"headaches?|head ache|head (?:hurts|is hurting|is pounding|pain)|migraines?|頭痛|頭が痛|頭の痛み|頭がズキズキ|頭がずきずき|頭重感"),
        (K::Bleeding, r"(?:vaginal\s+)?bleeding|\bspotting\b|blood loss|\bbleed\b|(?:passing|passed)\s+(?:blood|clots)|blood clots|性器出血|不正出血|出血|おしるし"),
        (K::Breathlessness, r"short(?:ness)? of breath|breathless(?:ness)?|difficulty breathing|trouble breathing|dyspno?ea|can(?:'t|not) catch (?:my|her) breath|息苦し|息切れ|呼吸困難|呼吸が苦し"),
        (K::Seizure, r"seizures?|convulsions?|convulsing|eclamptic fit|けいれん|痙攣|ひきつけ|子癇"),
        (K::Contractions, r"contractions?|tightenings?|tightening of (?:the\s+|my\s+|her\s+)?(?:belly|abdomen|stomach|uterus|bump)|(?:belly|bump|stomach|abdomen)\s+(?:gets\s+|getting\s+|goes\s+|going\s+|feels\s+)?(?:tight|hard)|braxton[- ]hicks|お腹の張り|おなかの張り|お腹が張|おなかが張|腹部緊満(?:感)?|子宮収縮|陣痛|張り(?:が|は|を|も)|張る"),
        (K::Nausea, r"nausea|nauseous|nauseated|vomit(?:ing|ed|s)?|throwing up|morning sickness|吐き気|嘔気|嘔吐|悪心|つわり|気持ち悪"),
        (K::AbdominalPain, r"abdominal (?:pain|cramps?)|stomach (?:pain|ache)|stomachache|belly pain|tummy (?:pain|ache)|pain in (?:my|her|the) (?:belly|abdomen|stomach|tummy)|pelvic pain|腹痛|お腹が痛|おなかが痛|お腹の痛み|おなかの痛み|下腹部痛|下腹部の痛み|下腹(?:が|の)痛"),
    ]
    .into_iter()
    .map(|(k, p)| (k, re(p)))
    .collect()
});

/// English negation cues that precede the symptom.
static EN_PRE_NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:no|not|denies|denied|deny|denying|without|negative for|free of|never|none|nor|absence of|doesn't have|does not have|hasn't had|has not had|haven't had|have not had|not having|isn't having|is not having|not experiencing|no signs? of|no evidence of|no history of|rules? out|ruled out)\b",
    )
});
/// Phrases that look like negation but are not ("no change in", "not only").
static EN_PSEUDO_NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:no (?:change|increase|worsening|improvement) in|not only|not sure|no longer just|not certain)\b",
    )
});
/// Words that end a negation's scope.
static EN_TERMINATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:but|however|although|though|except|apart from|aside from|yet|reports?|reported|complains?|complained|notes|noted|endorses|endorsed|positive for|presents? with|has had|she has|he has|i have|there is|there are)\b|;|:",
    )
});
/// English cues after the symptom ("headache: none", "bleeding is absent").
static EN_POST_NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:(?:is|are|was|were|has been|have been)\s+)?(?:absent|denied|negative|none|not present|resolved|gone)\b|^\s*:\s*(?:no|none|negative|denied|nil)\b",
    )
});

/// Japanese predicates after a symptom: positive forms listed first among those starting at the
/// same place (止まらない "does not stop" means the symptom continues).
static JA_PREDICATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?P<pos>止まらな|治らな|おさまらな|収まらな|良くならな|よくならな|引かな|消えな|取れな|とれな)|(?P<neg>ありません|ない|なく|なし|無し|なかった|ませんでした|ません|認めず|認めない|見られない|みられない|否定|\(-\)|マイナス|陰性|ず(?:[、。,]|$))|(?P<pos2>ある|あり|あった|ました|ます|です|感じ|する|した|して|続|認め|出て|出る|みられ|見られ|訴え|\(\+\)|陽性|強い|ひどい)",
    )
});

/// Clause ends for Japanese scope: a full stop or a contrastive conjunction.
static JA_CLAUSE_END: LazyLock<Regex> =
    LazyLock::new(|| re(r"。|が、|けど|けれど|ものの|しかし|一方"));

static FREQUENCY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?P<n1>[0-9]+(?:\.[0-9]+)?)\s*(?:times?|x)\s*(?:a|an|per|/|each|every)\s*(?P<p1>day|hour|hr|week)|every\s*(?P<n2>[0-9]+)\s*(?:minutes?|mins?)|(?P<p3>1日|1時間|1週間|日|時間|週)(?:に|で|あたり|当たり)?\s*(?P<n3>[0-9]+)\s*回|(?P<n4>[0-9]+)\s*回\s*/\s*(?P<p4>日|時間|週)|(?P<n5>[0-9]+)\s*分(?:おき|毎|ごと|間隔)",
    )
});

/// Finds the symptom mentions of the sentence `range` of the normalised text `norm`.
pub fn extract(norm: &str, range: Range<usize>) -> Vec<Mention> {
    let s = &norm[range.clone()];
    let mut found: Vec<(SymptomKind, Range<usize>)> = Vec::new();
    for (kind, pattern) in LEXICON.iter() {
        for m in pattern.find_iter(s) {
            let r = m.range();
            if found.iter().any(|(_, f)| f.start < r.end && r.start < f.end) {
                continue;
            }
            found.push((*kind, r));
        }
    }
    found.sort_by_key(|(_, r)| r.start);
    let frequencies = frequencies(s);
    let mut out: Vec<Mention> = found
        .iter()
        .map(|(kind, r)| Mention {
            kind: *kind,
            present: !negated(s, r.clone(), &found),
            frequency: None,
            range: range.start + r.start..range.start + r.end,
        })
        .collect();
    // Each frequency goes to the nearest present symptom.
    for (f, fr) in frequencies {
        let nearest = out.iter_mut().filter(|m| m.present).min_by_key(|m| {
            distance(&(m.range.start - range.start..m.range.end - range.start), &fr)
        });
        if let Some(m) = nearest
            && m.frequency.is_none()
        {
            m.frequency = Some(f);
        }
    }
    out
}

fn distance(a: &Range<usize>, b: &Range<usize>) -> usize {
    b.start.saturating_sub(a.end).max(a.start.saturating_sub(b.end))
}

fn negated(s: &str, r: Range<usize>, all: &[(SymptomKind, Range<usize>)]) -> bool {
    let is_japanese = !s[r.clone()].is_ascii();
    if is_japanese { ja_negated(s, r) } else { en_negated(s, r, all) }
}

fn en_negated(s: &str, r: Range<usize>, all: &[(SymptomKind, Range<usize>)]) -> bool {
    // The symptom phrase itself may contain "not" (the baby is not moving): cues are searched
    // only before it, and never inside another symptom's phrase.
    let before = &s[..r.start];
    let mut negated_by_cue = false;
    for cue in EN_PRE_NEGATION.find_iter(before) {
        if all.iter().any(|(_, f)| f.start <= cue.start() && cue.end() <= f.end) {
            continue;
        }
        if EN_PSEUDO_NEGATION
            .find_iter(before)
            .any(|p| p.start() <= cue.start() && cue.end() <= p.end())
        {
            continue;
        }
        let between = &before[cue.end()..];
        let terminated = EN_TERMINATION.is_match(between)
            // A sentence-internal full stop cannot occur here, but a new clause with a verb
            // of reporting can: handled by the termination list.
            || between.len() > 100;
        negated_by_cue = !terminated;
    }
    negated_by_cue || EN_POST_NEGATION.is_match(&s[r.end..])
}

fn ja_negated(s: &str, r: Range<usize>) -> bool {
    let rest = &s[r.end..];
    let clause_end = JA_CLAUSE_END.find(rest).map_or(rest.len(), |m| m.start());
    let clause = &rest[..clause_end];
    match JA_PREDICATE.captures(clause) {
        Some(c) => c.name("neg").is_some() && !preceded_by_small(clause, &c),
        None => false,
    }
}

/// 少ない ("few") ends in ない but is not a negation.
fn preceded_by_small(clause: &str, c: &regex::Captures<'_>) -> bool {
    c.get(0).is_some_and(|m| clause[..m.start()].ends_with('少'))
}

fn frequencies(s: &str) -> Vec<(Frequency, Range<usize>)> {
    let mut out = Vec::new();
    for c in FREQUENCY.captures_iter(s) {
        let r = c.get(0).map_or(0..0, |m| m.range());
        let num = |name: &str| c.name(name).and_then(|m| m.as_str().parse::<f64>().ok());
        let period = |p: &str| match p {
            "hour" | "hr" | "1時間" | "時間" => Period::Hour,
            "week" | "1週間" | "週" => Period::Week,
            _ => Period::Day,
        };
        let f = if let (Some(n), Some(p)) = (num("n1"), c.name("p1")) {
            Frequency { count: n, per: period(p.as_str()) }
        } else if let Some(n) = num("n2").filter(|&n| n > 0.0) {
            Frequency { count: (60.0 / n * 10.0).round() / 10.0, per: Period::Hour }
        } else if let (Some(n), Some(p)) = (num("n3"), c.name("p3")) {
            Frequency { count: n, per: period(p.as_str()) }
        } else if let (Some(n), Some(p)) = (num("n4"), c.name("p4")) {
            Frequency { count: n, per: period(p.as_str()) }
        } else if let Some(n) = num("n5").filter(|&n| n > 0.0) {
            Frequency { count: (60.0 / n * 10.0).round() / 10.0, per: Period::Hour }
        } else {
            continue;
        };
        out.push((f, r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn mentions(text: &str) -> Vec<(SymptomKind, bool)> {
        let n = normalize(text);
        extract(n.as_str(), 0..n.as_str().len()).into_iter().map(|m| (m.kind, m.present)).collect()
    }

    #[test]
    fn english_negation_scope() {
        use SymptomKind as K;
        assert_eq!(
            mentions("She denies headache, visual changes, or epigastric pain."),
            vec![(K::Headache, false), (K::VisualDisturbance, false), (K::EpigastricPain, false)]
        );
        assert_eq!(
            mentions("No headache but she reports some bleeding."),
            vec![(K::Headache, false), (K::Bleeding, true)]
        );
        assert_eq!(
            mentions("The baby is not moving as much."),
            vec![(K::ReducedFetalMovement, true)]
        );
        assert_eq!(mentions("No change in her headache."), vec![(K::Headache, true)]);
        assert_eq!(mentions("Headache is absent."), vec![(K::Headache, false)]);
    }

    #[test]
    fn japanese_negation_scope() {
        use SymptomKind as K;
        assert_eq!(
            mentions("頭痛や目のチカチカはありません。"),
            vec![(K::Headache, false), (K::VisualDisturbance, false)]
        );
        assert_eq!(
            mentions("頭痛はありませんが、出血があります。"),
            vec![(K::Headache, false), (K::Bleeding, true)]
        );
        assert_eq!(mentions("胎動を感じません。"), vec![(K::ReducedFetalMovement, true)]);
        assert_eq!(mentions("出血が止まらないです。"), vec![(K::Bleeding, true)]);
        assert_eq!(mentions("頭痛は少ないです。"), vec![(K::Headache, true)]);
        assert_eq!(mentions("頭痛なし、むくみなし"), vec![(K::Headache, false)]);
    }

    #[test]
    fn frequency_attaches_to_the_symptom() {
        let n = normalize("お腹の張りが一日に五回くらいあります。");
        let m = extract(n.as_str(), 0..n.as_str().len());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].frequency, Some(Frequency { count: 5.0, per: Period::Day }));
        let n = normalize("Contractions every ten minutes.");
        let m = extract(n.as_str(), 0..n.as_str().len());
        assert_eq!(m[0].frequency, Some(Frequency { count: 6.0, per: Period::Hour }));
    }
}
