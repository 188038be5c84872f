//! Edinburgh Postnatal Depression Scale scoring (clinical.md §4). Ten items, four options each,
//! scored 0–3. Items 1, 2 and 4 list their options from 0 to 3; items 3 and 5–10 list them from 3
//! down to 0 (reverse-scored). The app stores the option she chose as displayed and scores here,
//! so the wording can change without touching stored answers.

/// Number of items.
pub const ITEMS: usize = 10;
/// Options per item.
pub const OPTIONS: u8 = 4;

/// Whether item `n` (1-based) is reverse-scored: its first displayed option scores 3.
pub fn is_reverse_scored(item: usize) -> bool {
    !matches!(item, 1 | 2 | 4)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpdsError {
    #[error("item {item} is unanswered")]
    Unanswered { item: usize },
    #[error("item {item}: option {option} does not exist (0–3)")]
    NoSuchOption { item: usize, option: u8 },
}

/// The outcome of a completed questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpdsScore {
    pub total: u8,
    /// Score of item 10 (thoughts of self-harm).
    pub item10: u8,
    /// Total at or above the cut-off.
    pub positive: bool,
    /// Item 10 above 0: show the safety screen at once, whatever the total.
    pub needs_safety_screen: bool,
}

/// Scores one item from the option chosen as displayed (0 = first option).
pub fn item_score(item: usize, option: u8) -> Result<u8, EpdsError> {
    if option >= OPTIONS {
        return Err(EpdsError::NoSuchOption { item, option });
    }
    Ok(if is_reverse_scored(item) { OPTIONS - 1 - option } else { option })
}

/// Scores a questionnaire. `answers[i]` is the displayed option chosen for item `i + 1`.
pub fn score(answers: &[Option<u8>; ITEMS], cutoff: u8) -> Result<EpdsScore, EpdsError> {
    let mut total = 0;
    let mut item10 = 0;
    for (i, answer) in answers.iter().enumerate() {
        let item = i + 1;
        let option = answer.ok_or(EpdsError::Unanswered { item })?;
        let s = item_score(item, option)?;
        total += s;
        if item == 10 {
            item10 = s;
        }
    }
    Ok(EpdsScore { total, item10, positive: total >= cutoff, needs_safety_screen: item10 > 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(option: u8) -> [Option<u8>; ITEMS] {
        [Some(option); ITEMS]
    }

    #[test]
    fn reverse_scored_items_are_3_and_5_to_10() {
        let reverse: Vec<usize> = (1..=10).filter(|&i| is_reverse_scored(i)).collect();
        assert_eq!(reverse, vec![3, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn first_options_everywhere_score_only_the_reverse_items() {
        // Items 3, 5-10 score 3 on their first option; 1, 2, 4 score 0.
        let s = score(&all(0), 9).unwrap();
        assert_eq!(s.total, 21);
        assert_eq!(s.item10, 3);
        assert!(s.positive && s.needs_safety_screen);
        // Last options everywhere: items 1, 2, 4 score 3 each.
        let s = score(&all(3), 9).unwrap();
        assert_eq!(s.total, 9);
        assert_eq!(s.item10, 0);
        assert!(s.positive, "9 is at the Japanese cut-off");
        assert!(!s.needs_safety_screen);
    }

    #[test]
    fn lowest_possible_and_highest_possible_totals() {
        let mut best = [Some(0); ITEMS];
        let mut worst = [Some(3); ITEMS];
        for item in 1..=10 {
            if is_reverse_scored(item) {
                best[item - 1] = Some(3);
                worst[item - 1] = Some(0);
            }
        }
        assert_eq!(score(&best, 9).unwrap().total, 0);
        assert_eq!(score(&worst, 9).unwrap().total, 30);
    }

    #[test]
    fn item_10_alone_triggers_the_safety_screen_below_the_cutoff() {
        // Everything at its lowest score except item 10 "hardly ever" (displayed option 2 → 1).
        let mut a = [Some(0); ITEMS];
        for item in 1..=10 {
            if is_reverse_scored(item) {
                a[item - 1] = Some(3);
            }
        }
        a[9] = Some(2);
        let s = score(&a, 9).unwrap();
        assert_eq!((s.total, s.item10), (1, 1));
        assert!(!s.positive);
        assert!(s.needs_safety_screen);
    }

    #[test]
    fn cutoff_boundary() {
        // Items 1, 2, 4 at 3 each = 9; with cut-off 13 (English) not positive.
        let s = score(&all(3), 13).unwrap();
        assert!(!s.positive);
    }

    #[test]
    fn incomplete_or_invalid_answers_are_errors() {
        let mut a = all(1);
        a[4] = None;
        assert_eq!(score(&a, 9), Err(EpdsError::Unanswered { item: 5 }));
        let mut a = all(1);
        a[0] = Some(4);
        assert_eq!(score(&a, 9), Err(EpdsError::NoSuchOption { item: 1, option: 4 }));
    }
}
