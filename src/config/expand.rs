//! `--config.expand-env`: environment variables in the config file, as Loki's
//! `-config.expand-env`.
//!
//! Before the YAML is parsed, `${VAR}` is replaced by the value of `VAR` and
//! `${VAR:-default}` by the value of `VAR`, or `default` when `VAR` is unset or empty.
//! Only names matching `[A-Za-z_][A-Za-z0-9_]*` are expanded, so relabel replacements such
//! as `$1` and `${1}` stay as written; `$${` writes a literal `${` (for a named capture group
//! in a replacement, `$${name}`). YAML comments are left as written, so a comment may
//! mention `${VAR}` without setting it. An unset variable without a default is an error
//! naming the variable, the file, the line and the column. Expansion happens on every load,
//! so a reload reads the environment again.
//!
//! The expansion takes the environment as a lookup function; [`LoadOptions::load`] passes
//! the process environment.

use std::path::Path;

use super::{validate, Config, ConfigError, InvalidConfig};

/// How `redline run` and `redline check config` read the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Replace `${VAR}` and `${VAR:-default}` from the process environment before parsing
    /// (`--config.expand-env`).
    pub expand_env: bool,
}

impl LoadOptions {
    /// Reads and validates the config file at `path` with these options.
    pub fn load(&self, path: &Path) -> Result<Config, ConfigError> {
        if self.expand_env {
            Config::load_file_expanding(path, &|name| std::env::var(name).ok())
        } else {
            Config::load_file(path)
        }
    }
}

impl Config {
    /// As [`Config::load_file`], with `${VAR}` and `${VAR:-default}` replaced from `env`
    /// before parsing.
    pub fn load_file_expanding(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        let text = expand_env(&text, &name, env)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        validate::load(&text, &name, dir)
    }
}

/// Whether `s` is an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces `${VAR}` and `${VAR:-default}` in `text` from `env`, outside YAML comments.
/// `source_name` names the text in errors.
pub fn expand_env(
    text: &str,
    source_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let code_len = comment_start(line).unwrap_or(line.len());
        expand_segment(&line[..code_len], offset, text, source_name, env, &mut out)?;
        out.push_str(&line[code_len..]);
        offset += line.len();
    }
    Ok(out)
}

/// Where a YAML comment starts on `line`: a `#` at the start or after a space or tab, outside
/// single- and double-quoted scalars. (A `#` line inside a block scalar is read as a comment
/// too, so a variable there is left as written.)
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some('\'') if c == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && prev.is_none_or(|p| p == ' ' || p == '\t') => return Some(i),
            None if (c == '"' || c == '\'') && prev.is_none_or(|p| " \t:[{,-".contains(p)) => {
                quote = Some(c)
            }
            None => {}
        }
        prev = Some(c);
    }
    None
}

/// Expands the variables of `segment`, which starts at byte `offset` of `text`, into `out`.
fn expand_segment(
    segment: &str,
    offset: usize,
    text: &str,
    source_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), ConfigError> {
    let mut rest = segment;
    let mut consumed = offset;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let at = &rest[i..];
        if let Some(after) = at.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            consumed += i + 3;
            continue;
        }
        let expanded = at
            .strip_prefix("${")
            .and_then(|body| body.find('}').map(|end| (&body[..end], end)))
            .and_then(|(inner, end)| {
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                is_var_name(name).then_some((name, default, end + 3))
            });
        match expanded {
            Some((name, default, len)) => {
                let value = match (env(name), default) {
                    (Some(v), Some(d)) if v.is_empty() => d.to_string(),
                    (Some(v), _) => v,
                    (None, Some(d)) => d.to_string(),
                    (None, None) => {
                        return Err(unset(text, consumed + i, name, source_name));
                    }
                };
                out.push_str(&value);
                rest = &at[len..];
                consumed += i + len;
            }
            None => {
                out.push('$');
                rest = &at[1..];
                consumed += i + 1;
            }
        }
    }
    out.push_str(rest);
    Ok(())
}

fn unset(text: &str, offset: usize, name: &str, source_name: &str) -> ConfigError {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ConfigError::Invalid(Box::new(InvalidConfig {
        source_name: source_name.to_string(),
        field: String::new(),
        position: Some((line, column)),
        message: format!(
            "environment variable {name} is not set (--config.expand-env; write ${{{name}:-default}} for a default)"
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SHARD" => Some("2".into()),
            "EMPTY" => Some(String::new()),
            "CLUSTER_NAME" => Some("prod-eu".into()),
            _ => None,
        }
    }

    fn expand(text: &str) -> Result<String, ConfigError> {
        expand_env(text, "redline.yaml", &env)
    }

    #[test]
    fn variables_and_defaults_are_replaced() {
        assert_eq!(
            expand("regex: ${SHARD}\ncluster: ${CLUSTER_NAME}\n").unwrap(),
            "regex: 2\ncluster: prod-eu\n"
        );
        assert_eq!(expand("a: ${UNSET:-x-y}").unwrap(), "a: x-y");
        assert_eq!(expand("a: ${EMPTY:-fallback}").unwrap(), "a: fallback");
        assert_eq!(expand("a: ${EMPTY}").unwrap(), "a: ");
        assert_eq!(expand("a: ${SHARD:-9}").unwrap(), "a: 2");
        assert_eq!(expand("a: ${UNSET:-}").unwrap(), "a: ");
    }

    #[test]
    fn relabel_replacements_are_left_alone() {
        let text = "replacement: $1:9100\nother: ${1}-${2}\nprice: $ 5\nend: $";
        assert_eq!(expand(text).unwrap(), text);
        assert_eq!(
            expand("replacement: $${host}").unwrap(),
            "replacement: ${host}"
        );
        assert_eq!(expand("x: ${not closed").unwrap(), "x: ${not closed");
    }

    #[test]
    fn unset_variable_without_default_names_it_and_its_line() {
        let err = expand("global:\n  external_labels:\n    shard: \"${SHARD_INDEX}\"\n")
            .expect_err("unset variable");
        assert_eq!(err.position(), Some((3, 13)));
        let msg = err.to_string();
        assert!(msg.starts_with("redline.yaml:3:13: "), "{msg}");
        assert!(msg.contains("SHARD_INDEX is not set"), "{msg}");
    }

    #[test]
    fn comments_are_left_as_written() {
        let text = "# set ${UNSET_IN_COMMENT} before start\nshard: ${SHARD} # was ${OLD_SHARD}\nurl: 'http://h/#${SHARD}' # ${NOPE}\nhash: \"a#${SHARD}\"\n";
        assert_eq!(
            expand(text).unwrap(),
            "# set ${UNSET_IN_COMMENT} before start\nshard: 2 # was ${OLD_SHARD}\nurl: 'http://h/#2' # ${NOPE}\nhash: \"a#2\"\n"
        );
        // Control: the same variable outside a comment is expanded, and unset it is an error
        // at its line.
        let err = expand("# fine\nshard: ${UNSET_IN_COMMENT}\n").unwrap_err();
        assert_eq!(err.position(), Some((2, 8)));
        // A `#` inside a word is not a comment.
        assert_eq!(expand("a: x#${SHARD}\n").unwrap(), "a: x#2\n");
    }

    #[test]
    fn multibyte_text_keeps_positions_and_content() {
        assert_eq!(expand("name: é ${SHARD} ü").unwrap(), "name: é 2 ü");
        let err = expand("é: ${NOPE}").unwrap_err();
        assert_eq!(err.position(), Some((1, 4)));
    }

    #[test]
    fn expanded_config_loads() {
        let dir = crate::testdir::TempDir::new("expand");
        let path = dir.join("redline.yaml");
        std::fs::write(
            &path,
            "global:\n  external_labels:\n    shard: '${SHARD}'\nscrape_configs:\n  - job_name: node\n    relabel_configs:\n      - source_labels: [__address__]\n        modulus: 3\n        target_label: __tmp_hash\n        action: hashmod\n      - source_labels: [__tmp_hash]\n        regex: ${SHARD}\n        action: keep\n    static_configs: [{targets: ['127.0.0.1:9100']}]\n",
        )
        .unwrap();
        let cfg = Config::load_file_expanding(&path, &env).expect("expanded config loads");
        assert_eq!(cfg.global.external_labels.get("shard"), Some("2"));
        assert_eq!(cfg.scrape_configs[0].relabel_configs[1].regex.as_str(), "2");
    }
}
