//! Clinician–patient conversations (English): turns, clean-up of transcription artefacts and
//! disfluencies, and rewriting into the third person of a clinical note. Used by the
//! conversation note writer ([`note`]) and the section classifier.

pub mod note;

use std::sync::LazyLock;

use regex::Regex;

use crate::text::MappedText;
use crate::text::normalize::english_number_words_with;

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// Doctor, midwife, nurse.
    Clinician,
    Patient,
    /// Family members, interpreters, unknown.
    Other,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

fn re(pattern: &str) -> Regex {
    // Patterns are compile-time constants covered by tests; a bad one is a programming error.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern:?}: {e}"))
}

static BRACKET_SPEAKER: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*\[([A-Za-z_ ]+)\]\s*(.*)$"));
static COLON_SPEAKER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*([A-Za-z_ ]{2,24}?)\s*:\s*(.*)$"));

fn speaker_of(label: &str) -> Option<Speaker> {
    let l = label.trim().to_ascii_lowercase();
    let clinician_words = ["doctor", "physician", "clinician", "nurse", "midwife", "provider"];
    if ["dr", "np", "pa", "md"].contains(&l.as_str())
        || clinician_words.iter().any(|k| l.starts_with(k))
    {
        Some(Speaker::Clinician)
    } else if l == "patient" || l == "pt" || l.starts_with("patient") && !l.contains("guest") {
        Some(Speaker::Patient)
    } else if l.contains("guest")
        || l.contains("family")
        || l.contains("mother")
        || l.contains("father")
        || l.contains("interpreter")
        || l.contains("partner")
    {
        Some(Speaker::Other)
    } else {
        None
    }
}

/// Splits a conversation written as `[doctor] …` lines (ACI-Bench) or `Doctor: …` lines
/// (MTS-Dialog) into turns; lines without a speaker continue the previous turn.
pub fn parse_turns(dialogue: &str) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for line in dialogue.lines() {
        let labelled = BRACKET_SPEAKER
            .captures(line)
            .or_else(|| COLON_SPEAKER.captures(line))
            .and_then(|c| Some((speaker_of(c.get(1)?.as_str())?, c.get(2)?.as_str().to_string())));
        match labelled {
            Some((speaker, text)) => turns.push(Turn { speaker, text }),
            None if line.trim().is_empty() => {}
            None => match turns.last_mut() {
                Some(t) => {
                    t.text.push(' ');
                    t.text.push_str(line.trim());
                }
                None => turns.push(Turn { speaker: Speaker::Other, text: line.trim().to_string() }),
            },
        }
    }
    turns
}

static FILLERS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:um+|uh+|uh-huh|mm-hmm|mhm|hmm+|you know|i mean|kind of|sort of|okay|ok|alright|like)\b,?\s*",
    )
});
static LEADING_MARKERS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:(?:so|and|well|yeah|yes|no|oh|right|great|good|sure|perfect|now)\b,?\s*)+")
});

/// Repairs the tokenisation of transcripts ("do n't", " , ", "gon na") and removes stutters
/// ("i i", "the the") and false starts ("ex- exerting").
pub fn clean_utterance(text: &str) -> String {
    let mut t = text.to_string();
    for (a, b) in [
        (" ,", ","),
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" n't", "n't"),
        (" 's", "'s"),
        (" 're", "'re"),
        (" 'm", "'m"),
        (" 've", "'ve"),
        (" 'll", "'ll"),
        (" 'd", "'d"),
        ("gon na", "going to"),
        ("wan na", "want to"),
        ("got ta", "got to"),
    ] {
        t = t.replace(a, b);
    }
    let mut out: Vec<&str> = Vec::new();
    for w in t.split_whitespace() {
        if w.len() > 1 && w.ends_with('-') && !w.starts_with('-') {
            continue;
        }
        let key = |s: &str| s.trim_end_matches([',', '.']).to_ascii_lowercase();
        if out
            .last()
            .is_some_and(|p| key(p) == key(w) && key(w).chars().all(|c| c.is_ascii_alphabetic()))
        {
            out.pop();
        }
        out.push(w);
    }
    out.join(" ")
}

/// Removes fillers and leading discourse markers ("um", "you know", "so, …").
pub fn remove_fillers(text: &str) -> String {
    let t = FILLERS.replace_all(text, "");
    let t = LEADING_MARKERS.replace(&t, "");
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// English number words to digits, "milligrams" to "mg" and "percent" to "%", the way notes
/// write them.
pub fn digits_and_units(text: &str) -> String {
    static MG: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bmilligrams?\b"));
    static PERCENT: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bpercent\b"));
    let t = english_number_words_with(&MappedText::identity(text), true);
    let t = MG.replace_all(t.as_str(), "mg");
    PERCENT.replace_all(&t, "%").into_owned()
}

/// The patient's sex as far as the conversation tells (pronouns, titles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Female,
    Male,
}

/// Guesses the patient's sex from pronouns and titles in the conversation (ties: male, as the
/// unmarked case of the corpus' notes; the note says "the patient" wherever it can).
pub fn guess_sex(dialogue: &str) -> Sex {
    static MALE: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)\b(?:he|his|him|mr|male|man|himself|gentleman)\b"));
    static FEMALE: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)\b(?:she|her|hers|mrs|ms|miss|female|woman|herself|lady)\b"));
    if FEMALE.find_iter(dialogue).count() > MALE.find_iter(dialogue).count() {
        Sex::Female
    } else {
        Sex::Male
    }
}

/// The patient's age if the conversation states it ("58 year old", "seventy six years old").
pub fn find_age(dialogue: &str) -> Option<u32> {
    static AGE: LazyLock<Regex> = LazyLock::new(|| re(r"\b([0-9]{1,3})[ -]years?[ -]old\b"));
    let t = digits_and_units(&dialogue.to_ascii_lowercase());
    AGE.captures(&t).and_then(|c| c.get(1)?.as_str().parse().ok()).filter(|a| (1..=120).contains(a))
}

static PATIENT_FIRST_PERSON: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bi'm\b", "{he} is"),
        (r"(?i)\bi am\b", "{he} is"),
        (r"(?i)\bi was\b", "{he} was"),
        (r"(?i)\bi've\b", "{he} has"),
        (r"(?i)\bi have\b", "{he} has"),
        (r"(?i)\bi had\b", "{he} had"),
        (r"(?i)\bi'd\b", "{he} would"),
        (r"(?i)\bi'll\b", "{he} will"),
        (r"(?i)\bi don't\b", "{he} does not"),
        (r"(?i)\bi do not\b", "{he} does not"),
        (r"(?i)\bi didn't\b", "{he} did not"),
        (r"(?i)\bi\b", "{he}"),
        (r"(?i)\bmy\b", "{his}"),
        (r"(?i)\bme\b", "{him}"),
        (r"(?i)\bmyself\b", "{him}self"),
        (r"(?i)\bmine\b", "{his}"),
    ]
    .into_iter()
    .map(|(p, r)| (re(p), r))
    .collect()
});

static CLINICIAN_SECOND_PERSON: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\byou're\b", "{he} is"),
        (r"(?i)\byou are\b", "{he} is"),
        (r"(?i)\byou were\b", "{he} was"),
        (r"(?i)\byou've\b", "{he} has"),
        (r"(?i)\byou have\b", "{he} has"),
        (r"(?i)\byou had\b", "{he} had"),
        (r"(?i)\byou'll\b", "{he} will"),
        (r"(?i)\byou don't\b", "{he} does not"),
        (r"(?i)\byou do not\b", "{he} does not"),
        (r"(?i)\byourself\b", "{him}self"),
        (r"(?i)\byour\b", "{his}"),
        (r"(?i)^you\b", "{he}"),
        (r"(?i)\byou\b", "{him}"),
    ]
    .into_iter()
    .map(|(p, r)| (re(p), r))
    .collect()
});

/// Rewrites an utterance into the third person of a note: the patient's "I/my" and the
/// clinician's "you/your" become she/her or he/his; the clinician's own "I" stays (notes
/// write "I am going to order…").
pub fn to_third_person(speaker: Speaker, text: &str, sex: Sex) -> String {
    let (he, his, him) = match sex {
        Sex::Female => ("she", "her", "her"),
        Sex::Male => ("he", "his", "him"),
    };
    let rules: &[(Regex, &str)] = match speaker {
        Speaker::Patient => &PATIENT_FIRST_PERSON,
        Speaker::Clinician => &CLINICIAN_SECOND_PERSON,
        Speaker::Other => return text.to_string(),
    };
    let mut t = text.to_string();
    for (pattern, replacement) in rules {
        let r = replacement.replace("{he}", he).replace("{his}", his).replace("{him}", him);
        t = pattern.replace_all(&t, r.as_str()).into_owned();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_corpus_formats() {
        let aci = parse_turns(
            "[doctor] hi , brian .\n[patient] hi .\ncontinued line\n[patient_guest] i'm his wife",
        );
        assert_eq!(aci.len(), 3);
        assert_eq!(aci[0].speaker, Speaker::Clinician);
        assert_eq!(aci[1].text, "hi . continued line");
        assert_eq!(aci[2].speaker, Speaker::Other);
        let mts = parse_turns(
            "Doctor: Any allergies?\nPatient: No.\nGuest_family: He is allergic to nuts.",
        );
        assert_eq!(
            mts.iter().map(|t| t.speaker).collect::<Vec<_>>(),
            vec![Speaker::Clinician, Speaker::Patient, Speaker::Other]
        );
    }

    #[test]
    fn cleaning_and_rewriting() {
        assert_eq!(
            clean_utterance("i i do n't know , i 'm gon na ex- exercise"),
            "i don't know, i'm going to exercise"
        );
        assert_eq!(remove_fillers("so, um, it hurts, you know, a lot"), "it hurts, a lot");
        assert_eq!(digits_and_units("five hundred milligrams, one of them"), "500 mg, one of them");
        assert_eq!(
            to_third_person(Speaker::Patient, "I have pain in my knee", Sex::Female),
            "she has pain in her knee"
        );
        assert_eq!(
            to_third_person(
                Speaker::Clinician,
                "your heart sounds normal, you have swelling",
                Sex::Male
            ),
            "his heart sounds normal, he has swelling"
        );
        assert_eq!(
            to_third_person(Speaker::Clinician, "I want you to ice it", Sex::Male),
            "I want him to ice it"
        );
    }

    #[test]
    fn sex_and_age() {
        assert_eq!(guess_sex("[doctor] she is a 43 year old female"), Sex::Female);
        assert_eq!(find_age("[doctor] brian is a 58 year old male"), Some(58));
        assert_eq!(find_age("[patient] i am seventy six years old"), Some(76));
        assert_eq!(find_age("[patient] no age here"), None);
    }
}
