//! Reading a client frame in one pass, with `type` read strictly as a string.
//!
//! Derived over `#[serde(flatten)]`, the frame would be buffered first and serde would then
//! take a number in `type` for the variant's index (`{"type": 2}` was `send`). Here the map
//! is handed to the derived `ClientFrame` as it is read: `id` is taken out on the way, and
//! `type` is read as a string by us and passed on as one, whatever the input format.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::Error as _};

use super::{ClientEnvelope, ClientFrame};

impl<'de> Deserialize<'de> for ClientEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = ClientEnvelope;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a client frame (a JSON object with a string `type`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClientEnvelope, A::Error> {
        let mut fields = Fields { map, id: None, id_seen: false, tag: None };
        let frame = ClientFrame::deserialize(MapAccessDeserializer::new(&mut fields))?;
        Ok(ClientEnvelope { id: fields.id, frame })
    }
}

/// The frame's entries as the derived `ClientFrame` sees them: without `id`, and with the
/// value of `type` already checked to be a string.
struct Fields<'de, A> {
    map: A,
    id: Option<serde_json::Value>,
    id_seen: bool,
    /// The value of `type`, read with its key and handed out as the next value.
    tag: Option<Text<'de>>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Fields<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key::<Text<'de>>()? else { return Ok(None) };
            match key.as_str() {
                "id" => {
                    if std::mem::replace(&mut self.id_seen, true) {
                        return Err(A::Error::duplicate_field("id"));
                    }
                    self.id = self.map.next_value()?;
                }
                "type" => {
                    self.tag = Some(self.map.next_value::<Text<'de>>()?);
                    return key.deserialize_with(seed).map(Some);
                }
                _ => return key.deserialize_with(seed).map(Some),
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.tag.take() {
            Some(tag) => tag.deserialize_with(seed),
            None => self.map.next_value_seed(seed),
        }
    }
}

/// A string, borrowed from the input when it can be; anything else is refused.
struct Text<'de>(Cow<'de, str>);

impl<'de> Text<'de> {
    fn as_str(&self) -> &str {
        &self.0
    }

    fn deserialize_with<S: DeserializeSeed<'de>, E: de::Error>(self, seed: S) -> Result<S::Value, E> {
        match self.0 {
            Cow::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::new(s)),
            Cow::Owned(s) => seed.deserialize(StringDeserializer::new(s)),
        }
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}
