//! Transfer benchmark (filled in below).
fn main() {}
