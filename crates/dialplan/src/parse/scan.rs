//! A pre-scan of the raw text that bounds nesting before the KDL parser runs.
//!
//! `kdl`'s parser recurses once per `{` (and per nested `/*`), so a hostile or corrupted file
//! of a few thousand braces overflows the stack; this lexer skips strings and comments the way
//! KDL v2 writes them and refuses the document when blocks or comments nest deeper than the
//! limit. It only has to be right about what is code: a file it misjudges is one the KDL
//! parser would reject anyway.

/// `Err((byte offset, limit))` at the first `{` or `/*` that goes deeper than `limit`.
pub(crate) fn check_depth(text: &str, limit: usize) -> Result<(), (usize, usize)> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                if depth > limit {
                    return Err((i, limit));
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => i = skip_quoted(bytes, i),
            b'#' if raw_hashes(bytes, i).is_some() => {
                let hashes = raw_hashes(bytes, i).unwrap_or(0);
                i = skip_raw(bytes, i + hashes + 1, hashes);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i, limit)?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// The text with `} else {` written on one line made valid KDL: the blank before `else` becomes
/// a newline, so `else` is its own node. Byte offsets do not change (spans stay exact), and only
/// code is touched, never strings or comments. `None` when there is nothing to change.
pub(crate) fn split_else(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut at = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'}' => {
                let blanks = bytes[i + 1..]
                    .iter()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count();
                let word = i + 1 + blanks;
                let is_else = blanks > 0
                    && bytes[word..].starts_with(b"else")
                    && bytes
                        .get(word + 4)
                        .is_none_or(|b| matches!(b, b' ' | b'\t' | b'{' | b'\n' | b'\r'));
                if is_else {
                    at.push(word - 1);
                }
                i += 1;
            }
            b'"' => i = skip_quoted(bytes, i),
            b'#' if raw_hashes(bytes, i).is_some() => {
                let hashes = raw_hashes(bytes, i).unwrap_or(0);
                i = skip_raw(bytes, i + hashes + 1, hashes);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i, usize::MAX).unwrap_or(bytes.len());
            }
            _ => i += 1,
        }
    }
    if at.is_empty() {
        return None;
    }
    let mut out = bytes.to_vec();
    for i in at {
        out[i] = b'\n';
    }
    String::from_utf8(out).ok()
}

/// Number of `#` at `i` when they open a raw string (`#"`, `##"`…).
fn raw_hashes(bytes: &[u8], i: usize) -> Option<usize> {
    let n = bytes[i..].iter().take_while(|&&b| b == b'#').count();
    (bytes.get(i + n) == Some(&b'"')).then_some(n)
}

/// From the opening quote at `i` to just after the closing one, honouring `\` escapes.
fn skip_quoted(bytes: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// From just after `#…#"` to just after the `"` followed by `hashes` `#`.
fn skip_raw(bytes: &[u8], mut j: usize, hashes: usize) -> usize {
    while j < bytes.len() {
        if bytes[j] == b'"'
            && bytes.len() >= j + 1 + hashes
            && bytes[j + 1..j + 1 + hashes].iter().all(|&b| b == b'#')
        {
            return j + 1 + hashes;
        }
        j += 1;
    }
    bytes.len()
}

/// From `/*` at `i` to after its matching `*/` (they nest in KDL).
fn skip_block_comment(bytes: &[u8], i: usize, limit: usize) -> Result<usize, (usize, usize)> {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < bytes.len() {
        match (bytes[j], bytes[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                if depth > limit {
                    return Err((j, limit));
                }
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => j += 1,
        }
    }
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_else_becomes_its_own_node() {
        let text = "if open=\"o\" { goto \"a\" } else { goto \"b\" }";
        let split = split_else(text).unwrap();
        assert_eq!(split, "if open=\"o\" { goto \"a\" }\nelse { goto \"b\" }");
        assert_eq!(split.len(), text.len());
        assert_eq!(split_else("play \"} else {\"\n// } else {\n"), None);
        assert_eq!(split_else("a { } elsewhere"), None);
        assert_eq!(split_else("a { }\nelse { }"), None);
    }

    #[test]
    fn counts_code_braces_only() {
        assert_eq!(check_depth("a { b { c } }", 2), Ok(()));
        assert_eq!(check_depth("a { b { c { } } }", 2), Err((10, 2)));
        assert_eq!(check_depth(r#"a "{{{{\"{{" { }"#, 1), Ok(()));
        assert_eq!(check_depth(r##"a #"{{"{{"# { }"##, 1), Ok(()));
        assert_eq!(check_depth("a // {{{{\n { }", 1), Ok(()));
        assert_eq!(check_depth("/* { /* { */ */ a { }", 1), Err((5, 1)));
        assert_eq!(check_depth("/* {{{ */ a { }", 1), Ok(()));
        assert!(check_depth(&"a {".repeat(100), 24).is_err());
        assert!(check_depth(&"/*".repeat(100), 24).is_err());
    }
}
