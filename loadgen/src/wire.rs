//! What goes over the socket: the few envelope fields the generator reads from server
//! frames, and the text of the measured chat messages (probes).
//!
//! Frames are read without building a full `ServerMessage`: a generator that parses
//! hundreds of thousands of frames a second must stay light, and it must work against any
//! server speaking the protocol, whatever extra fields it adds.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The parts of a server frame that matter here: its type and, when `data` is a string,
/// that string (chat text, error reason, join notice).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Data<'a>,
    /// When the server created the message (Unix ms), if it says.
    #[serde(default)]
    pub ts: Option<u64>,
}

impl<'a> Envelope<'a> {
    /// Parses a text frame; fails on anything that is not a JSON object with a `type`.
    pub fn parse(frame: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(frame)
    }

    /// `data` when it is a string.
    pub fn text(&self) -> Option<&str> {
        match &self.data {
            Data::Text(text) => Some(text),
            Data::Other => None,
        }
    }
}

/// `data` of an envelope: kept when it is a string, skipped (never stored) otherwise, so a
/// big `history` or `list` costs no allocation.
#[derive(Debug, Default)]
enum Data<'a> {
    Text(Cow<'a, str>),
    #[default]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Data<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DataVisitor(std::marker::PhantomData))
    }
}

struct DataVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for DataVisitor<'a> {
    type Value = Data<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Data::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Data::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Data::Text(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Data::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Data::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Data::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Data::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Data::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Data::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Data::Other)
    }
}

/// Start of every probe: `lg|<run>|`.
pub fn probe_prefix(run: &str) -> String {
    format!("lg|{run}|")
}

/// One measured chat message: which step and sender it belongs to, its sequence number
/// (per sender, over the whole run) and when it was due to be sent (Unix µs).
///
/// On the wire: `lg|<run>|<step>|<sender>|<seq>|<due µs>`, optionally followed by
/// `|` and padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub step: u32,
    pub sender: u32,
    pub seq: u64,
    pub due_us: u64,
}

/// What a chat text turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// One of this run's probes.
    Probe(Probe),
    /// Someone else's message (another run, a person): not counted.
    Foreign,
    /// Has this run's prefix but does not parse: the server changed it.
    Mangled,
}

impl Probe {
    /// The chat text for this probe, `padding` characters longer than the bare form.
    pub fn encode(&self, prefix: &str, padding: usize) -> String {
        let mut text = String::with_capacity(prefix.len() + 48 + padding);
        text.push_str(prefix);
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "{}|{}|{}|{}",
            self.step, self.sender, self.seq, self.due_us
        );
        if padding > 0 {
            text.push('|');
            text.extend(std::iter::repeat_n('x', padding - 1));
        }
        text
    }

    /// Reads a chat text: a probe of the run whose prefix is `prefix`, or not.
    pub fn decode(text: &str, prefix: &str) -> Decoded {
        let Some(rest) = text.strip_prefix(prefix) else {
            return Decoded::Foreign;
        };
        let mut fields = rest.split('|');
        let mut next = || fields.next().and_then(|f| f.parse::<u64>().ok());
        match (next(), next(), next(), next()) {
            (Some(step), Some(sender), Some(seq), Some(due_us)) => {
                match (u32::try_from(step), u32::try_from(sender)) {
                    (Ok(step), Ok(sender)) => Decoded::Probe(Probe {
                        step,
                        sender,
                        seq,
                        due_us,
                    }),
                    _ => Decoded::Mangled,
                }
            }
            _ => Decoded::Mangled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "lg|r1|";

    #[test]
    fn probe_round_trips_with_and_without_padding() {
        let probe = Probe {
            step: 2,
            sender: 17,
            seq: 123_456,
            due_us: 1_764_070_000_123_456,
        };
        let bare = probe.encode(PREFIX, 0);
        assert_eq!(bare, "lg|r1|2|17|123456|1764070000123456");
        assert_eq!(Probe::decode(&bare, PREFIX), Decoded::Probe(probe));
        let padded = probe.encode(PREFIX, 100);
        assert_eq!(padded.len(), bare.len() + 100);
        assert_eq!(Probe::decode(&padded, PREFIX), Decoded::Probe(probe));
    }

    #[test]
    fn other_runs_and_people_are_foreign_and_broken_probes_mangled() {
        assert_eq!(Probe::decode("hello", PREFIX), Decoded::Foreign);
        assert_eq!(Probe::decode("lg|r2|0|0|0|0", PREFIX), Decoded::Foreign);
        assert_eq!(Probe::decode("lg|r1|0|0|zz|0", PREFIX), Decoded::Mangled);
        assert_eq!(Probe::decode("lg|r1|0|0", PREFIX), Decoded::Mangled);
        assert_eq!(
            Probe::decode("lg|r1|99999999999|0|0|0", PREFIX),
            Decoded::Mangled
        );
    }

    #[test]
    fn chat_envelope_yields_type_and_text() {
        let frame = r#"{"id":42,"type":"chat","user":{"id":7,"name":"A","image":7},"data":"lg|r1|0|0|1|5","ts":1,"cid":"c"}"#;
        let env = Envelope::parse(frame).unwrap();
        assert_eq!(env.kind, "chat");
        assert_eq!(env.text(), Some("lg|r1|0|0|1|5"));
        assert_eq!(env.ts, Some(1));
    }

    #[test]
    fn escaped_text_is_unescaped() {
        let env = Envelope::parse(r#"{"type":"error","data":"slow \"down\""}"#).unwrap();
        assert_eq!(env.text(), Some(r#"slow "down""#));
    }

    #[test]
    fn history_and_list_data_are_skipped() {
        let frame = r#"{"id":3,"type":"history","user":{"id":1,"name":"A","image":1},"data":[{"id":1,"type":"join","data":"A joined."}],"ts":1,"truncated":false}"#;
        let env = Envelope::parse(frame).unwrap();
        assert_eq!(env.kind, "history");
        assert_eq!(env.text(), None);
        let list = Envelope::parse(r#"{"type":"list","data":[{"id":1}]}"#).unwrap();
        assert_eq!(list.text(), None);
    }

    #[test]
    fn frames_that_are_not_envelopes_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            "{}",
            "{\"type\":3}",
            "not json",
            "{\"type\":\"chat\"",
        ] {
            assert!(Envelope::parse(bad).is_err(), "{bad:?}");
        }
    }
}
