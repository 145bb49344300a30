//! Bounds every part of the parser shares, kept in a leaf module so the
//! lexer, expressions, C4 state, diagnostics and interpreter can all use
//! them without importing each other.

/// Longest string value (variables, arguments, expansions): longer ones
/// are cut at a character boundary.
pub(crate) const MAX_VALUE_LEN: usize = 1 << 18;

/// Largest char boundary at or below `n`, so cutting `s` there keeps it
/// valid UTF-8.
pub(crate) fn floor(s: &str, n: usize) -> usize {
    let mut n = n.min(s.len());
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}
