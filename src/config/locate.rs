//! Line and column for a problem serde found.
//!
//! Sections are deserialized from a `serde_yaml::Value` (after `${VAR}`
//! expansion) so that every section and inbox reports its own problem, but a
//! `Value` has no positions. For a section that failed, this module reads the
//! original text once more, deserializing only that section and skipping the
//! rest, and takes the position serde_yaml reports for the same error.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::Location;

/// One step from the document root to a section.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// Deserializes the section at `steps` of `text` as `T` and, when that fails
/// at `path` with an error whose text contains `message`, returns where.
/// `None` when the error differs (the text before `${VAR}` expansion and
/// merge keys can read differently), or serde_yaml has no position for it
/// (errors inside buffered content carry none).
pub(crate) fn locate<T>(
    text: &str,
    steps: &[Step<'_>],
    path: &str,
    message: &str,
) -> Option<Location>
where
    T: for<'de> Deserialize<'de>,
{
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_yaml::Deserializer::from_str(text);
    let tracked = serde_path_to_error::Deserializer::new(deserializer, &mut track);
    let err = match (Focus::<T> {
        steps,
        section: PhantomData,
    })
    .deserialize(tracked)
    {
        Ok(_) => return None,
        Err(err) => err,
    };
    let found = track.path().to_string();
    let location = err.location()?;
    // serde_yaml reports (1, 1) when it has no mark for the error.
    let real = location.line() > 1 || location.column() > 1;
    (real && found == path && err.to_string().contains(message)).then_some(Location {
        line: location.line(),
        column: location.column(),
    })
}

/// Walks to the section and deserializes it; everything else is skipped.
struct Focus<'a, T> {
    steps: &'a [Step<'a>],
    section: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Focus<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.steps.split_first() {
            None => T::deserialize(deserializer).map(drop),
            Some((step, rest)) => deserializer.deserialize_any(StepVisitor::<T> {
                step: *step,
                rest,
                section: PhantomData,
            }),
        }
    }
}

struct StepVisitor<'a, T> {
    step: Step<'a>,
    rest: &'a [Step<'a>],
    section: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for StepVisitor<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Value>()? {
            match self.step {
                Step::Key(wanted) if key.as_str() == Some(wanted) => {
                    map.next_value_seed(Focus::<T> {
                        steps: self.rest,
                        section: PhantomData,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let found = match self.step {
                Step::Index(wanted) if index == wanted => seq
                    .next_element_seed(Focus::<T> {
                        steps: self.rest,
                        section: PhantomData,
                    })?
                    .is_some(),
                _ => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !found {
                return Ok(());
            }
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inbox {
        id: Option<String>,
        port: Option<u16>,
    }

    const TEXT: &str = "store: {}\ninboxes:\n  - id: a\n  - id: b\n    port: nine\n";

    #[test]
    fn finds_the_line_of_an_error_in_one_entry() {
        let steps = [Step::Key("inboxes"), Step::Index(1)];
        let at = locate::<Inbox>(TEXT, &steps, "inboxes[1].port", "invalid type");
        assert_eq!(
            at,
            Some(Location {
                line: 5,
                column: 11
            })
        );
    }

    #[test]
    fn a_different_error_gives_no_location() {
        let steps = [Step::Key("inboxes"), Step::Index(1)];
        assert_eq!(
            locate::<Inbox>(TEXT, &steps, "inboxes[1].id", "invalid type"),
            None
        );
        assert_eq!(
            locate::<Inbox>(TEXT, &steps, "inboxes[1].port", "missing"),
            None
        );
        let healthy = [Step::Key("inboxes"), Step::Index(0)];
        assert_eq!(locate::<Inbox>(TEXT, &healthy, "inboxes[0]", ""), None);
    }
}
