//! Replacement templates, expanded as Go's `regexp.Expand` does.
//!
//! `$1`, `${1}`, `$name` and `${name}` insert a capture group; `$$` is a literal `$`. A name is
//! the longest run of letters, digits and `_`, so `$1x` means the group named `1x` (usually
//! absent, hence empty) and `${1}x` is group 1 followed by `x`. Unknown groups expand to
//! nothing; a `$` that starts no valid reference is kept as text. The template is compiled once
//! against the regex, so expansion at sample rate is a walk over prepared pieces.

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Literal(String),
    /// A capture group by index; indices beyond the regex's groups expand to nothing.
    Group(usize),
}

/// A compiled replacement template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Compiles `template` for a regex with capture `names` (index 0 is the whole match).
    pub(crate) fn compile(template: &str, names: &[Option<&str>]) -> Template {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = template;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                lit.push('$');
                rest = after;
                continue;
            }
            match extract(rest) {
                None => lit.push('$'),
                Some((name, num, after)) => {
                    rest = after;
                    let index = match num {
                        Some(n) => Some(n),
                        None => names.iter().position(|n| *n == Some(name)),
                    };
                    if let Some(i) = index {
                        if !lit.is_empty() {
                            pieces.push(Piece::Literal(std::mem::take(&mut lit)));
                        }
                        pieces.push(Piece::Group(i));
                    }
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Literal(lit));
        }
        Template { pieces }
    }

    /// The template's text when it references no group.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// Appends the expansion to `out`; `group(i)` returns the text of capture group `i`.
    pub(crate) fn expand_into<'h>(
        &self,
        out: &mut String,
        group: impl Fn(usize) -> Option<&'h str>,
    ) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(i) => {
                    if let Some(s) = group(*i) {
                        out.push_str(s);
                    }
                }
            }
        }
    }

    /// The expansion as a new string.
    pub(crate) fn expand<'h>(&self, group: impl Fn(usize) -> Option<&'h str>) -> String {
        let mut out = String::new();
        self.expand_into(&mut out, group);
        out
    }
}

/// Go's `extract`: reads a group name after `$`, returning the name, its number when it is
/// all digits without a leading zero, and the rest of the template.
fn extract(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let mut rest = &body[len..];
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    let all_digits = name.bytes().all(|b| b.is_ascii_digit());
    let num = if all_digits && !(name.len() > 1 && name.starts_with('0')) && name.len() <= 8 {
        name.parse().ok()
    } else {
        None
    };
    Some((name, num, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(template: &str, regex: &str, hay: &str) -> String {
        let re = regex::Regex::new(regex).unwrap();
        let names: Vec<Option<&str>> = re.capture_names().collect();
        let caps = re.captures(hay).unwrap();
        Template::compile(template, &names).expand(|i| caps.get(i).map(|m| m.as_str()))
    }

    #[test]
    fn go_expand_forms() {
        let re = r"^(?P<first>f)(o+)$";
        // (template, its expansion against "foo")
        let cases = [
            ("$1", "f"),
            ("${2}x", "oox"),
            ("$first-$2", "f-oo"),
            ("${first}", "f"),
            ("$$1", "$1"),
            // `$1x` names the group "1x", which does not exist.
            ("$1x", ""),
            ("a$9b", "a"),
            ("$9", ""),
            // Malformed references stay literal.
            ("cost: $", "cost: $"),
            ("${1", "${1"),
            ("$-", "$-"),
            // Leading zeros make a name, not a number.
            ("$01", ""),
        ];
        for (template, want) in cases {
            assert_eq!(expand(template, re, "foo"), want, "{template}");
        }
    }

    #[test]
    fn literal_detection() {
        assert_eq!(
            Template::compile("plain", &[None]).as_literal(),
            Some("plain")
        );
        assert_eq!(Template::compile("", &[None]).as_literal(), Some(""));
        assert_eq!(Template::compile("a$$b", &[None]).as_literal(), Some("a$b"));
        assert_eq!(Template::compile("$1", &[None, None]).as_literal(), None);
    }
}
