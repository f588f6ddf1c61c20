//! The chat server binary.
fn main() {}
