//! Secrets and other values from outside the file: `${VAR}` in any string
//! value, and the `*_file` fields that read a secret from disk.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde_yaml::Value;

use super::Secret;
use super::resolve::Problems;

/// A secret file larger than this is not a secret file (a wrong path to a log
/// or an image, say): refuse it instead of reading it all.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Replaces `${VAR}` in every string value of the tree (mapping keys are left
/// alone). `$${` writes a literal `${`; any other `$` is literal. A variable
/// that is not set is a problem at the value's path, and the value is left as
/// written so that loading carries on and reports the rest.
pub(crate) fn interpolate(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) {
    match value {
        Value::String(text) => {
            if text.contains('$') {
                match expand(text, env) {
                    Ok(expanded) => *text = expanded,
                    Err(message) => problems.push(path, message),
                }
            }
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{index}]"), env, problems);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let child = match key.as_str() {
                    Some(name) => join(path, name),
                    None => join(path, "?"),
                };
                interpolate(item, &child, env, problems);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, env, problems),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `parent.child`, or `child` at the root.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// Expands one string. The first unset or malformed reference is the error;
/// one problem per value is enough to point at it.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let (before, from_dollar) = rest.split_at(at);
        out.push_str(before);
        if let Some(after) = from_dollar.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = from_dollar.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err("unterminated `${` (write `$${` for a literal `${`)".to_owned());
            };
            let (name, tail) = after.split_at(end);
            if !is_variable_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a valid environment variable reference \
                     (letters, digits and `_`, not starting with a digit)"
                ));
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => return Err(format!("environment variable {name} is not set")),
            }
            rest = tail.strip_prefix('}').unwrap_or(tail);
        } else {
            out.push('$');
            rest = from_dollar.strip_prefix('$').unwrap_or("");
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves a secret given inline (`field`) or in a file (`field_file`).
/// Returns `None` when neither is given (the caller decides whether that is
/// a problem) or when a problem was recorded.
pub(crate) fn secret(
    inline: Option<&str>,
    file: Option<&str>,
    base_dir: &Path,
    path: &str,
    field: &str,
    problems: &mut Problems,
) -> Option<Secret> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            problems.push(
                join(path, &format!("{field}_file")),
                format!("give either {field} or {field}_file, not both"),
            );
            None
        }
        (Some(value), None) => {
            if value.is_empty() {
                problems.push(join(path, field), "is empty");
                None
            } else {
                Some(Secret::new(value))
            }
        }
        (None, Some(file)) => {
            let field_path = join(path, &format!("{field}_file"));
            match read_secret_file(&base_dir.join(file)) {
                Ok(value) => Some(Secret::new(value)),
                Err(message) => {
                    problems.push(field_path, message);
                    None
                }
            }
        }
        (None, None) => None,
    }
}

/// [`secret`] for a field that must be given: neither `field` nor
/// `field_file` is a problem too.
pub(crate) fn required_secret(
    inline: Option<&str>,
    file: Option<&str>,
    base_dir: &Path,
    path: &str,
    field: &str,
    problems: &mut Problems,
) -> Option<Secret> {
    if inline.is_none() && file.is_none() {
        problems.push(
            join(path, field),
            format!("missing: give {field} or {field}_file"),
        );
        return None;
    }
    secret(inline, file, base_dir, path, field, problems)
}

/// Reads a secret file: UTF-8, trailing line ends removed (editors and
/// `echo` add one), not empty.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|err| format!("cannot open {shown}: {err}"))?;
    let mut raw = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|err| format!("cannot read {shown}: {err}"))?;
    if raw.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "{shown} is larger than {MAX_SECRET_FILE_BYTES} bytes: not a secret file"
        ));
    }
    let text = String::from_utf8(raw).map_err(|_| format!("{shown} is not UTF-8 text"))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_NAME" => Some("ada".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_whole_and_embedded_references() {
        assert_eq!(expand("${USER_NAME}", &env), Ok("ada".into()));
        assert_eq!(
            expand("x-${USER_NAME}-y${USER_NAME}", &env),
            Ok("x-ada-yada".into())
        );
        assert_eq!(expand("${EMPTY}", &env), Ok(String::new()));
    }

    #[test]
    fn dollars_that_are_not_references_stay() {
        assert_eq!(expand("pa$$word$", &env), Ok("pa$$word$".into()));
        assert_eq!(expand("$USER_NAME", &env), Ok("$USER_NAME".into()));
        assert_eq!(expand("$${USER_NAME}", &env), Ok("${USER_NAME}".into()));
    }

    #[test]
    fn unset_and_malformed_references_are_errors() {
        assert_eq!(
            expand("a${NOPE}b", &env),
            Err("environment variable NOPE is not set".into())
        );
        assert!(
            expand("${USER_NAME", &env)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(expand("${1X}", &env).unwrap_err().contains("not a valid"));
        assert!(expand("${}", &env).unwrap_err().contains("not a valid"));
    }

    #[test]
    fn interpolation_reports_the_value_path() {
        let mut value: Value =
            serde_yaml::from_str("inboxes:\n  - auth: { password: '${NOPE}' }\n").unwrap();
        let mut problems = Problems::default();
        interpolate(&mut value, "", &env, &mut problems);
        let list = problems.into_vec();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].path, "inboxes[0].auth.password");
        assert_eq!(list[0].message, "environment variable NOPE is not set");
    }
}
