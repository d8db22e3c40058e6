//! From text to the YAML model: syntax, merge keys, `${VAR}` expansion, then
//! each section and each inbox deserialized on its own so that one bad entry
//! does not hide the problems of the others.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_yaml::Value;

use super::locate::{Step, locate};
use super::model::{
    ApiModel, CallbackModel, InboxModel, PolicyModel, RetentionModel, StoreModel, SyncModel,
};
use super::resolve::Problems;
use super::secrets::{interpolate, join};
use super::{Config, Errors, Location, Problem, resolve};

/// The top-level keys, in the order the documentation lists them.
const TOP_LEVEL: [&str; 7] = [
    "store",
    "callback",
    "api",
    "sync",
    "policy",
    "retention",
    "inboxes",
];

/// The sections that deserialized. A section that failed is reported and
/// read as its default, so that the rest can still be checked; an inbox that
/// failed is left out (with its index kept, for paths).
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub store: StoreModel,
    pub callback: CallbackModel,
    pub sync: SyncModel,
    pub policy: PolicyModel,
    pub retention: RetentionModel,
    pub api: Option<ApiModel>,
    pub inboxes: Vec<(usize, InboxModel)>,
}

/// Reads, resolves and validates a configuration given as text.
pub(crate) fn from_str(
    text: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Errors> {
    let mut root: Value = serde_yaml::from_str(text).map_err(|err| syntax(&err))?;
    root.apply_merge().map_err(|err| syntax(&err))?;
    let mut problems = Problems::default();
    interpolate(&mut root, "", env, &mut problems);
    let sections = sections(root, text, &mut problems);
    let config = resolve::config(sections, base_dir, &mut problems);
    let problems = problems.into_vec();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(Errors(problems))
    }
}

/// The document is not YAML (or not YAML serde_yaml accepts: duplicate keys,
/// bad merges). One problem: nothing after it can be trusted.
fn syntax(err: &serde_yaml::Error) -> Errors {
    Errors(vec![Problem {
        path: String::new(),
        message: format!("invalid YAML: {err}"),
        location: err.location().map(|at| Location {
            line: at.line(),
            column: at.column(),
        }),
    }])
}

fn sections(root: Value, text: &str, problems: &mut Problems) -> Sections {
    let mut sections = Sections::default();
    let map = match root {
        // An empty file: every default, no inbox.
        Value::Null => return sections,
        Value::Mapping(map) => map,
        _ => {
            problems.push(
                "",
                "the configuration must be a mapping with store, callback, api, sync, policy, retention and inboxes",
            );
            return sections;
        }
    };
    for (key, value) in map {
        match key.as_str() {
            Some("store") => sections.store = section(value, &[Step::Key("store")], text, problems),
            Some("callback") => {
                sections.callback = section(value, &[Step::Key("callback")], text, problems);
            }
            Some("sync") => sections.sync = section(value, &[Step::Key("sync")], text, problems),
            Some("api") => {
                sections.api = Some(section(value, &[Step::Key("api")], text, problems));
            }
            Some("policy") => {
                sections.policy = section(value, &[Step::Key("policy")], text, problems);
            }
            Some("retention") => {
                sections.retention = section(value, &[Step::Key("retention")], text, problems);
            }
            Some("inboxes") => sections.inboxes = inboxes(value, text, problems),
            // Extension keys (as in Docker Compose) hold YAML anchors for
            // the inboxes to merge; they are not read otherwise.
            Some(name) if name.starts_with("x-") => {}
            name => {
                let expected = TOP_LEVEL.map(|k| format!("`{k}`")).join(", ");
                let shown = name.map_or_else(|| format!("{key:?}"), str::to_owned);
                problems.push(
                    shown.clone(),
                    format!("unknown field `{shown}`, expected one of {expected}"),
                );
            }
        }
    }
    sections
}

/// A section: absent or empty means every default.
fn section<T: DeserializeOwned + Default>(
    value: Value,
    steps: &[Step<'_>],
    text: &str,
    problems: &mut Problems,
) -> T {
    if value.is_null() {
        return T::default();
    }
    deserialize(value, steps, text, problems).unwrap_or_default()
}

fn inboxes(value: Value, text: &str, problems: &mut Problems) -> Vec<(usize, InboxModel)> {
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        _ => {
            problems.push(
                "inboxes",
                "expected a list of inboxes (`- id: ...` entries)",
            );
            return Vec::new();
        }
    };
    let mut inboxes = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        if item.is_null() {
            problems.push(format!("inboxes[{index}]"), "empty entry");
            continue;
        }
        let steps = [Step::Key("inboxes"), Step::Index(index)];
        if let Some(inbox) = deserialize(item, &steps, text, problems) {
            inboxes.push((index, inbox));
        }
    }
    inboxes
}

/// Deserializes one section, recording each problem serde finds with its
/// full path. serde stops at the first error, so the offending field is
/// removed and the section read again, until it reads: every unknown field
/// and every bad value in the section is reported, and the rest of it is
/// still checked by validation (a field removed here that validation then
/// finds missing is reported once, [`Problems`] keeping the first problem at
/// a path). Only the first error can be located in the text, which still
/// holds the removed fields.
fn deserialize<T: DeserializeOwned>(
    mut value: Value,
    steps: &[Step<'_>],
    text: &str,
    problems: &mut Problems,
) -> Option<T> {
    let mut first = true;
    // Each round removes one field, so this ends; the bound is for safety.
    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(model) => return Some(model),
            Err(err) => err,
        };
        let path = full_path(steps, &err.path().to_string());
        let message = err.inner().to_string();
        let location = if first {
            locate::<T>(text, steps, &path, &message)
        } else {
            None
        };
        first = false;
        problems.push_at(path, message, location);
        if !remove_field(&mut value, err.path()) {
            return None;
        }
    }
    None
}

/// Most rounds of [`deserialize`] for one section.
const MAX_ROUNDS: usize = 64;

/// Removes the mapping entry an error path points into: the field itself,
/// or the list field holding the element that failed. `false` when the
/// error is about the section as a whole or the path cannot be followed.
fn remove_field(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    let segments: Vec<&Segment> = path.iter().collect();
    let Some(last_key) = segments
        .iter()
        .rposition(|s| matches!(s, Segment::Map { .. }))
    else {
        return false;
    };
    let (parents, rest) = segments.split_at(last_key);
    let Some(Segment::Map { key }) = rest.first() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        let next = match (segment, node) {
            (Segment::Map { key }, Value::Mapping(map)) => map.get_mut(key.as_str()),
            (Segment::Seq { index }, Value::Sequence(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match node {
        Value::Mapping(map) => map.remove(key.as_str()).is_some(),
        _ => false,
    }
}

/// The section's path followed by serde's path inside it (`.` for the
/// section itself).
fn full_path(steps: &[Step<'_>], inner: &str) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(key) => path = join(&path, key),
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    match inner {
        "." => path,
        _ if inner.starts_with('[') => path + inner,
        _ => join(&path, inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_section_and_inner_path() {
        let steps = [Step::Key("inboxes"), Step::Index(3)];
        assert_eq!(full_path(&steps, "."), "inboxes[3]");
        assert_eq!(full_path(&steps, "auth.kind"), "inboxes[3].auth.kind");
        assert_eq!(
            full_path(&[Step::Key("sync")], "idle_renew"),
            "sync.idle_renew"
        );
        assert_eq!(full_path(&[], "[0]"), "[0]");
    }
}
