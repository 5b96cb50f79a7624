//! Positions in text files the user wrote (TOML, JSON Lines), for errors
//! that name file:line.

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where a TOML error is (its line, or 1) and what it says, on one line.
pub fn toml_problem(text: &str, error: &toml::de::Error) -> (usize, String) {
    let line = error.span().map_or(1, |span| line_of(text, span.start));
    (line, error.message().trim().replace('\n', " "))
}
