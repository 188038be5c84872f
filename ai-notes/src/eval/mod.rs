//! Evaluation on public corpora: ROUGE of full notes on ACI-Bench and section classification on
//! MTS-Dialog.

pub mod aci;
pub mod corpus;
pub mod rouge;
pub mod sections;
