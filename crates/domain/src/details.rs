//! A booking's contact details, defined once for every layer: the request
//! body, the row, the service and the response all carry [`ContactDetails`]
//! (the needs flattened in with `#[serde(flatten)]` and `#[sqlx(flatten)]`),
//! and validation, binding and the CSV export walk [`Needs::fields`].
//!
//! Adding a field a customer can tell the guide (a pickup point, say) is a
//! column in a migration, a field of [`Needs`] with its line in `fields`
//! and `fields_mut`, the store's `needs_cols!`, and the UI.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::contact::{Invalid, optional_text};

/// Longest free text a customer adds, in characters.
pub const NOTE_MAX: usize = 1000;

/// A character a person can see: not a control character, not white space,
/// not one of the invisible formatting characters [`crate::contact`]
/// refuses. (For the OpenAPI document's patterns.)
#[macro_export]
macro_rules! visible {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff]"
    };
}
/// Any character but a control character.
#[macro_export]
macro_rules! not_control {
    () => {
        r"[^\x00-\x1f\x7f-\x9f]"
    };
}
/// Any character but a control character other than tab and line breaks.
#[macro_export]
macro_rules! not_control_multiline {
    () => {
        r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
    };
}

/// Empty, or text with something visible in it: what [`optional_text`]
/// accepts, as a pattern.
pub const OPTIONAL_TEXT_PATTERN: &str = concat!(
    "^$|^",
    not_control_multiline!(),
    "*",
    visible!(),
    not_control_multiline!(),
    "*$"
);

/// The OpenAPI schema of free text a customer or operator adds
/// ([`optional_text`]), the component `Note`.
pub struct Note;

impl PartialSchema for Note {
    fn schema() -> RefOr<Schema> {
        let schema: Schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Free text of at most 1000 characters: line breaks and tabs allowed, no other control \
                 characters, and something visible unless empty (empty means none).",
            ))
            .max_length(Some(NOTE_MAX))
            .pattern(Some(OPTIONAL_TEXT_PATTERN))
            .build()
            .into();
        RefOr::T(schema)
    }
}

impl ToSchema for Note {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Note")
    }
}

/// What the guide should know about a party, each in the customer's words
/// and each optional.
// Deserialized by hand (below) so that a wrong value names its field:
// serde cannot say which field of a flattened struct failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Needs {
    #[schema(value_type = Option<Note>)]
    pub special_requirements: Option<String>,
    #[schema(value_type = Option<Note>)]
    pub dietary_restrictions: Option<String>,
    #[schema(value_type = Option<Note>)]
    pub accessibility_needs: Option<String>,
}

impl Needs {
    /// Each need with its field (and column) name, in column order.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("special_requirements", self.special_requirements.as_deref()),
            ("dietary_restrictions", self.dietary_restrictions.as_deref()),
            ("accessibility_needs", self.accessibility_needs.as_deref()),
        ]
    }

    fn fields_mut(&mut self) -> [(&'static str, &mut Option<String>); 3] {
        [
            ("special_requirements", &mut self.special_requirements),
            ("dietary_restrictions", &mut self.dietary_restrictions),
            ("accessibility_needs", &mut self.accessibility_needs),
        ]
    }

    /// The field names, in column order.
    pub const NAMES: [&'static str; 3] = [
        "special_requirements",
        "dietary_restrictions",
        "accessibility_needs",
    ];

    /// The field names, in column order.
    pub fn names() -> [&'static str; 3] {
        Needs::NAMES
    }

    /// The needs as stored: each trimmed, empty meaning none; refuses the
    /// first that is too long or has nothing visible, naming its field.
    pub fn validated(mut self) -> Result<Needs, (&'static str, Invalid)> {
        for (name, value) in self.fields_mut() {
            *value = optional_text(value.as_deref(), NOTE_MAX).map_err(|e| (name, e))?;
        }
        Ok(self)
    }
}

impl<'de> Deserialize<'de> for Needs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Needs, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Needs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a party's needs")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Needs, A::Error> {
                use serde::de::Error;
                let mut needs = Needs::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = needs
                        .fields_mut()
                        .into_iter()
                        .find(|(name, _)| *name == key);
                    match slot {
                        Some((name, value)) => {
                            *value = map
                                .next_value()
                                .map_err(|e| A::Error::custom(format!("{name}: {e}")))?;
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(needs)
            }
        }
        d.deserialize_struct("Needs", &Needs::NAMES, Fields)
    }
}

/// How to reach a booking's party, and what its guide should know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ContactDetails {
    pub customer_name: String,
    pub customer_email: String,
    pub customer_phone: Option<String>,
    #[serde(flatten)]
    #[cfg_attr(feature = "sqlx", sqlx(flatten))]
    pub needs: Needs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_are_validated_by_name_and_trimmed() {
        let needs = Needs {
            special_requirements: Some("  a wheelchair  ".into()),
            dietary_restrictions: Some(String::new()),
            accessibility_needs: None,
        }
        .validated()
        .unwrap();
        assert_eq!(needs.special_requirements.as_deref(), Some("a wheelchair"));
        assert_eq!(needs.dietary_restrictions, None, "empty means none");

        let bad = Needs {
            dietary_restrictions: Some("\u{200B}".into()),
            ..Needs::default()
        };
        assert_eq!(bad.validated().unwrap_err().0, "dietary_restrictions");
        let long = Needs {
            accessibility_needs: Some("x".repeat(NOTE_MAX + 1)),
            ..Needs::default()
        };
        assert_eq!(long.validated().unwrap_err().0, "accessibility_needs");
    }

    #[test]
    fn every_need_is_named_once_and_serialized_flat() {
        let names = Needs::names();
        let json = serde_json::to_value(ContactDetails {
            customer_name: "Ann".into(),
            customer_email: "ann@example.com".into(),
            customer_phone: None,
            needs: Needs::default(),
        })
        .unwrap();
        for name in names {
            assert!(json.get(name).is_some(), "{name} is a top-level field");
        }
        let from_fields = Needs::default().fields().map(|(name, _)| name);
        assert_eq!(names, from_fields);
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn a_wrong_need_names_its_field_even_flattened() {
        #[derive(Deserialize, Debug)]
        struct Body {
            #[allow(dead_code)]
            num: i64,
            #[serde(flatten)]
            needs: Needs,
        }
        let ok: Body =
            serde_json::from_str(r#"{"num":1,"dietary_restrictions":"vegan","other":2}"#).unwrap();
        assert_eq!(ok.needs.dietary_restrictions.as_deref(), Some("vegan"));
        let err = serde_json::from_str::<Body>(r#"{"num":1,"accessibility_needs":5}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("accessibility_needs: invalid type"),
            "{err}"
        );
    }
}
