//! The reviewer's desk: what awaits review in a collaboration.

pub mod templates;
