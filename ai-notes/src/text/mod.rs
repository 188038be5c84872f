//! Text processing shared by the structurers: normalisation with a map back to the transcript,
//! and sentence segmentation.

pub mod mapped;
pub mod normalize;
pub mod sentences;

pub use mapped::MappedText;
pub use normalize::normalize;
pub use sentences::split_sentences;
