//! serde reads a JSON array into a struct field by field (`[1, 2]` as `{a: 1, b: 2}`).
//! The API documents objects, so nested structs that clients send are read only from
//! JSON objects: `#[serde(default, deserialize_with = "crate::serde_object::option")]`.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::marker::PhantomData;

/// `null` or an object, never an array.
pub fn option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_option(V(PhantomData))
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Inner {
        a: Option<i64>,
    }
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Outer {
        #[serde(default, deserialize_with = "super::option")]
        inner: Option<Inner>,
    }

    #[test]
    fn objects_and_null_only() {
        let read = |s: &str| serde_json::from_str::<Outer>(s);
        assert_eq!(read(r#"{"inner": {"a": 1}}"#).unwrap().inner, Some(Inner { a: Some(1) }));
        assert_eq!(read(r#"{"inner": null}"#).unwrap().inner, None);
        assert_eq!(read(r#"{}"#).unwrap().inner, None);
        let err = read(r#"{"inner": [null]}"#).unwrap_err().to_string();
        assert!(err.contains("a JSON object or null"), "{err}");
    }
}
