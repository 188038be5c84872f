//! Assignment of sentences to S, O, A or P.
//!
//! A sentence that starts with a section header ("Plan:", "O:", 計画：) belongs to that section,
//! and the header carries over to the following sentences that have no cue of their own. Other
//! sentences are scored with cue words per section; measurements push towards O and symptom
//! talk towards S. Without any cue a sentence stays in the section of the one before it.

use std::sync::LazyLock;

use regex::Regex;

use super::model::Section;

fn re(pattern: &str) -> Regex {
    // Patterns are compile-time constants covered by tests; a bad one is a programming error.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

static HEADER: LazyLock<Vec<(Section, Regex)>> = LazyLock::new(|| {
    vec![
        (
            Section::S,
            re(
                r"^\W*(?:s|subjective|history|complaints?|chief complaint|hpi|主訴|訴え|主観的?(?:情報)?|自覚症状)\s*[:\]】)-]",
            ),
        ),
        (
            Section::O,
            re(
                r"^\W*(?:o|objective|exam(?:ination)?|physical exam(?:ination)?|vitals?|vital signs|findings|所見|客観的?(?:情報)?|診察所見|検査所見|バイタル)\s*[:\]】)-]",
            ),
        ),
        (
            Section::A,
            re(
                r"^\W*(?:a|assessment|impression|diagnosis|dx|評価|アセスメント|診断|判断)\s*[:\]】)-]",
            ),
        ),
        (
            Section::P,
            re(
                r"^\W*(?:p|plan|plans|recommendations?|follow[- ]?up|disposition|計画|方針|プラン|予定|指導)\s*[:\]】)-]",
            ),
        ),
    ]
});

static CUES: LazyLock<Vec<(Section, f32, Regex)>> = LazyLock::new(|| {
    vec![
        (
            Section::P,
            2.0,
            re(
                r"\b(?:plan|return|come back|follow[- ]?up|next (?:visit|appointment|check)|see (?:you|her|him) (?:again|in|back)|schedul\w*|prescrib\w*|start(?:ing)? (?:on|her|him)|continue|increase|decrease|recommend\w*|advis\w*|instruct\w*|refer\w*|order\w*|we will|we'll|i will|i'll|will (?:check|repeat|recheck|monitor|start|continue|order|arrange|see|admit|refer|review|get|send|do)|admi(?:t|ssion)|recheck|call (?:us|the clinic|the hospital|if)|contact (?:us|the clinic|the hospital)|go to the hospital|come in|counsel\w*|educat\w*|please)\b",
            ),
        ),
        (
            Section::P,
            2.0,
            re(
                r"次回|受診|再診|来院|処方|指導|予定|経過観察|様子を見|様子をみ|入院|紹介|してください|して下さい|ください|連絡|再検|フォロー|継続|開始|増量|減量|しましょう|予約|安静|検査します|確認します|測定します|お願いします",
            ),
        ),
        (
            Section::A,
            1.5,
            re(
                r"\b(?:assessment|impression|diagnos\w*|consistent with|suggestive of|suspect\w*|likely|probabl\w*|concern\w*|rule out|r/o|normal|abnormal|within normal|stable|reassuring|unremarkable|appropriate for (?:gestational age|dates)|progressing well|doing well|uncomplicated|risk of|pre-?eclampsia|gestational (?:hypertension|diabetes)|an(?:a)?emi[ac]|preterm labou?r|small for|large for)\b",
            ),
        ),
        (
            Section::A,
            1.5,
            re(
                r"評価|診断|考えられ|疑い|疑われ|正常|異常|良好|順調|問題な|問題ありません|リスク|妊娠高血圧|妊娠糖尿病|貧血|切迫早産|可能性|範囲内|相当|週数相当",
            ),
        ),
        (
            Section::O,
            1.5,
            re(
                r"\b(?:on exam\w*|examination|exam|measured|blood pressure|bp|weight|weighs|pulse|heart rate|temperature|fundal height|fundus|ultrasound|u/s|scan|ctg|nst|non-?stress test|cervix|cervical|dilat\w*|effaced|station|urine|dipstick|labs?|ha?emoglobin|auscultat\w*|palpat\w*|observed)\b",
            ),
        ),
        (
            Section::O,
            1.5,
            re(
                r"測定|血圧|体重|脈拍|体温|子宮底|腹囲|胎児心拍|児心音|エコー|超音波|内診|子宮口|開大|展退|尿検査|尿蛋白|尿糖|血液検査|ヘモグロビン|\bnst\b|ノンストレステスト|\bctg\b|所見|触診|聴診",
            ),
        ),
        (
            Section::S,
            1.5,
            re(
                r"\b(?:reports?|reported|complain\w*|states?|stated|says|said|feels?|felt|notic\w*|describ\w*|denies|denied|endorses|experienc\w*|worried|since|for the past|started|i have|i've|i am|i'm|my)\b",
            ),
        ),
        (
            Section::S,
            1.5,
            re(
                r"訴え|とのこと|との事|そうです|感じ|気になる|気になり|心配|自覚|ありました|あります|痛い|痛み|つらい|辛い|しんどい|眠れ|食欲|だるい",
            ),
        ),
    ]
});

/// What the extractors found in a sentence, as evidence for its section.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence {
    /// Accepted or rejected measurements in the sentence.
    pub measurements: usize,
    /// Symptom mentions, present or denied.
    pub symptoms: usize,
}

/// Classifies sentences in order; keeps the header state between calls.
#[derive(Debug, Default)]
pub struct SectionClassifier {
    sticky: Option<Section>,
    previous: Option<Section>,
}

impl SectionClassifier {
    /// A classifier at the start of a transcript.
    pub fn new() -> Self {
        Self::default()
    }

    /// The section of the next sentence (normalised text).
    pub fn classify(&mut self, sentence: &str, evidence: Evidence) -> Section {
        if let Some(section) = header(sentence) {
            self.sticky = Some(section);
            self.previous = Some(section);
            return section;
        }
        let scores = scores(sentence, evidence);
        let best = Section::ALL
            .into_iter()
            .zip(scores)
            .filter(|&(_, s)| s > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| priority(b.0).cmp(&priority(a.0))));
        let section = match best {
            // Under a header, only a clearly stronger cue moves a sentence elsewhere.
            Some((s, score)) => match self.sticky {
                Some(h) if h != s && score < scores[index(h)] + 2.0 => h,
                _ => s,
            },
            None => self.sticky.or(self.previous).unwrap_or(Section::S),
        };
        self.previous = Some(section);
        section
    }
}

/// On equal scores: O, then P, then A, then S (a measurement with a plan word is still data).
fn priority(s: Section) -> u8 {
    match s {
        Section::O => 0,
        Section::P => 1,
        Section::A => 2,
        Section::S => 3,
    }
}

fn index(s: Section) -> usize {
    match s {
        Section::S => 0,
        Section::O => 1,
        Section::A => 2,
        Section::P => 3,
    }
}

/// The section named by a header at the start of `sentence`, if any.
pub fn header(sentence: &str) -> Option<Section> {
    HEADER.iter().find(|(_, r)| r.is_match(sentence)).map(|(s, _)| *s)
}

/// Cue scores for S, O, A, P.
pub fn scores(sentence: &str, evidence: Evidence) -> [f32; 4] {
    let mut scores = [0.0f32; 4];
    for (section, weight, pattern) in CUES.iter() {
        let n = pattern.find_iter(sentence).count() as f32;
        scores[index(*section)] += weight * n;
    }
    scores[index(Section::O)] += 3.0 * evidence.measurements as f32;
    scores[index(Section::S)] += 2.0 * evidence.symptoms as f32;
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stick_until_a_stronger_cue() {
        let mut c = SectionClassifier::new();
        assert_eq!(c.classify("plan: return in 2 weeks.", Evidence::default()), Section::P);
        assert_eq!(c.classify("bring the record book.", Evidence::default()), Section::P);
        let mut c = SectionClassifier::new();
        assert_eq!(
            c.classify("o: bp 120/70.", Evidence { measurements: 1, symptoms: 0 }),
            Section::O
        );
        assert_eq!(c.classify("a: normal pregnancy.", Evidence::default()), Section::A);
    }

    #[test]
    fn cue_words() {
        let mut c = SectionClassifier::new();
        let m = Evidence { measurements: 1, symptoms: 0 };
        let s = Evidence { measurements: 0, symptoms: 1 };
        assert_eq!(c.classify("胎児心拍は140で正常です。", m), Section::O);
        assert_eq!(c.classify("お腹の張りが1日に5回くらいあります。", s), Section::S);
        assert_eq!(
            c.classify("次回は2週間後に受診してください。", Evidence::default()),
            Section::P
        );
        assert_eq!(c.classify("経過は順調と考えられます。", Evidence::default()), Section::A);
    }
}
