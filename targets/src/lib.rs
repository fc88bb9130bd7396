//! snnc backends: each turns a verified integer graph into a target artifact (issues 4 and 5).

pub mod arm;
pub mod spinnaker2;
