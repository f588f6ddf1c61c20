//! Placeholder: the load generator binary arrives with its own issue.
fn main() {}
