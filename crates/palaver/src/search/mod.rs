//! Search, the part that is the same on every backend: how text becomes terms (`terms`),
//! what a query asks for (`query`), and the snippet a hit shows (`snippet`). The stores
//! index and match the terms this module makes (`store/search.rs`), so SQLite and
//! PostgreSQL find the same messages for the same query: neither backend's own word
//! splitting, case folding or accent handling is used.

mod query;
mod snippet;
mod terms;

pub use query::{Query, Term};
pub use snippet::snippet;
pub use terms::{Token, index_text, tokens};
