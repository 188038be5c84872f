//! Clinical rules, pure and configurable: blood-pressure tiers, EPDS scoring, gestational age.

pub mod bp;
pub mod epds;
pub mod pregnancy;
