//! Glob patterns, the one dialect used everywhere (L1 sweeps, `invalidatePattern`, read-through
//! loaders): `*` is any run of characters, `?` exactly one, everything else (brackets and backslashes
//! included) is literal. Redis's `SCAN MATCH` speaks a richer dialect, so patterns sent there are
//! escaped first.

/// Glob match: `*` is any run of characters, `?` one character; everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Escape Redis glob characters so a literal prefix matches only itself in `SCAN MATCH`.
pub fn escape_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escape Redis glob brackets and backslashes, keeping `*` and `?` as wildcards.
pub fn escape_brackets(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("user:*", "user:123"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("user:*", "users:1"));
        assert!(glob_match("*:*:x", "a:b:x"));
        assert!(!glob_match("a*b", "a"));
        assert!(glob_match("[x]*", "[x]1"), "brackets are literal");
    }

    #[test]
    fn escapes_for_redis() {
        assert_eq!(escape_all("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(escape_brackets("a*[b]"), "a*\\[b\\]");
    }
}
