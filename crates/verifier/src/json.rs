//! A token's JSON objects as a flat list of nodes that borrow the decoded text.
//!
//! Why not `serde_json::Value`: it allocates a `String` per key and string value
//! and a B-tree node per few entries, and frees them again a moment later. On the
//! login path that was about a third of an HS256 verify called from Lua (perf). Here
//! serde_json still does all of the parsing and validation (UTF-8, escapes, numbers,
//! its 128-level nesting limit); this module only records what it visits, in order,
//! so a verify costs two small vectors instead of dozens of allocations.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One JSON value in pre-order. A container is followed by its contents (an
/// object by key, value, key, value...); `end` is the index just past them.
#[derive(Debug, Clone)]
enum Node<'a> {
    Object {
        len: usize,
        end: usize,
    },
    Array {
        len: usize,
        end: usize,
    },
    /// A key or a string value; borrowed unless it had escapes.
    Str(Cow<'a, str>),
    Int(i64),
    /// Integers above `i64::MAX` (JSON has one number type; serde_json splits it).
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
}

/// Parsed JSON objects (a token's header and claims), one after the other in one
/// vector so a verify allocates once for both.
#[derive(Debug, Default)]
pub(crate) struct Nodes<'a> {
    nodes: Vec<Node<'a>>,
}

/// Where an object starts in its [`Nodes`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Root(usize);

impl<'a> Nodes<'a> {
    pub(crate) fn with_capacity_for(text_len: usize) -> Nodes<'a> {
        // A realistic Jitsi token has a node per ~10 bytes of JSON.
        Nodes {
            nodes: Vec::with_capacity(text_len / 8 + 8),
        }
    }

    /// Parse `text`, which must be one JSON object and nothing else but
    /// whitespace; `None` (and nothing added) otherwise.
    pub(crate) fn parse_object(&mut self, text: &'a [u8]) -> Option<Root> {
        let at = self.nodes.len();
        // Validating UTF-8 once here lets serde_json skip it string by string (per
        // string it was 7% of a verify); invalid UTF-8 is refused either way.
        let text = std::str::from_utf8(text).ok()?;
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = Collect(&mut self.nodes)
            .deserialize(&mut de)
            .and_then(|()| de.end());
        if parsed.is_ok() && matches!(self.nodes.get(at), Some(Node::Object { .. })) {
            Some(Root(at))
        } else {
            self.nodes.truncate(at);
            None
        }
    }

    pub(crate) fn object(&self, root: Root) -> Object<'_> {
        Object {
            nodes: &self.nodes,
            at: root.0,
        }
    }
}

/// Appends every value serde_json visits to the node list.
struct Collect<'n, 'a>(&'n mut Vec<Node<'a>>);

impl<'de> DeserializeSeed<'de> for Collect<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Collect<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Node::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Node::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(match i64::try_from(v) {
            Ok(i) => Node::Int(i),
            Err(_) => Node::UInt(v),
        });
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(Node::Float(v));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Node::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        // Only strings with escapes get here (serde_json had to unescape them).
        self.0.push(Node::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Node::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(Node::Null);
        let mut len = 0;
        while seq.next_element_seed(Collect(self.0))?.is_some() {
            len += 1;
        }
        self.0[at] = Node::Array {
            len,
            end: self.0.len(),
        };
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(Node::Null);
        let mut len = 0;
        while map.next_key_seed(Collect(self.0))?.is_some() {
            map.next_value_seed(Collect(self.0))?;
            len += 1;
        }
        self.0[at] = Node::Object {
            len,
            end: self.0.len(),
        };
        Ok(())
    }
}

/// A JSON value inside a parsed token.
#[derive(Debug, Clone, Copy)]
pub enum Json<'v> {
    Null,
    Bool(bool),
    /// Integers that fit `i64`.
    Int(i64),
    /// Integers above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(&'v str),
    Array(Array<'v>),
    Object(Object<'v>),
}

impl<'v> Json<'v> {
    fn at(nodes: &'v [Node<'v>], at: usize) -> Json<'v> {
        match &nodes[at] {
            Node::Object { .. } => Json::Object(Object { nodes, at }),
            Node::Array { .. } => Json::Array(Array { nodes, at }),
            Node::Str(s) => Json::Str(s),
            Node::Int(i) => Json::Int(*i),
            Node::UInt(u) => Json::UInt(*u),
            Node::Float(f) => Json::Float(*f),
            Node::Bool(b) => Json::Bool(*b),
            Node::Null => Json::Null,
        }
    }

    pub fn as_str(&self) -> Option<&'v str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match *self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Int(i) => Value::Number(i.into()),
            Json::UInt(u) => Value::Number(u.into()),
            // serde_json never yields NaN or infinity from JSON text.
            Json::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Json::Str(s) => Value::String(s.to_owned()),
            Json::Array(a) => Value::Array(a.iter().map(|v| v.to_value()).collect()),
            Json::Object(o) => Value::Object(o.to_map()),
        }
    }
}

/// Index just past the value at `at`.
fn skip(nodes: &[Node<'_>], at: usize) -> usize {
    match nodes[at] {
        Node::Object { end, .. } | Node::Array { end, .. } => end,
        _ => at + 1,
    }
}

/// A JSON object; keys keep the order of the text.
#[derive(Clone, Copy)]
pub struct Object<'v> {
    nodes: &'v [Node<'v>],
    at: usize,
}

impl<'v> Object<'v> {
    /// Number of entries, duplicates included.
    pub fn len(&self) -> usize {
        match self.nodes[self.at] {
            Node::Object { len, .. } => len,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries in text order; a duplicated key appears each time.
    pub fn iter(&self) -> impl Iterator<Item = (&'v str, Json<'v>)> + 'v {
        let nodes = self.nodes;
        let mut next = self.at + 1;
        (0..self.len()).map(move |_| {
            let key = match &nodes[next] {
                Node::Str(k) => k.as_ref(),
                // Object keys are always strings in JSON.
                _ => "",
            };
            let value = Json::at(nodes, next + 1);
            next = skip(nodes, next + 1);
            (key, value)
        })
    }

    /// The value of `key`; for a duplicated key the last one, as in a map
    /// built from the text (and as a Lua table built entry by entry).
    pub fn get(&self, key: &str) -> Option<Json<'v>> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// The same object as a `serde_json` map.
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_value()))
            .collect()
    }
}

impl fmt::Debug for Object<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A JSON array.
#[derive(Clone, Copy)]
pub struct Array<'v> {
    nodes: &'v [Node<'v>],
    at: usize,
}

impl<'v> Array<'v> {
    pub fn len(&self) -> usize {
        match self.nodes[self.at] {
            Node::Array { len, .. } => len,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Json<'v>> + 'v {
        let nodes = self.nodes;
        let mut next = self.at + 1;
        (0..self.len()).map(move |_| {
            let value = Json::at(nodes, next);
            next = skip(nodes, next);
            value
        })
    }
}

impl fmt::Debug for Array<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Option<Value> {
        let mut nodes = Nodes::default();
        let root = nodes.parse_object(text)?;
        Some(Value::Object(nodes.object(root).to_map()))
    }

    fn same_as_serde_json(text: &str) {
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse(text.as_bytes()), Some(expected), "{text}");
    }

    #[test]
    fn matches_serde_json_values() {
        for text in [
            r#"{}"#,
            r#"{"a":1,"b":-2,"c":1.5,"d":18446744073709551615,"e":9223372036854775808}"#,
            r#"{"s":"plain","e":"esc\"aped\/\u00e9\ud83d\ude00","n":null,"t":true,"f":false}"#,
            r#"{"ctx":{"user":{"name":"A","tags":[1,[2,[]],{"x":{}}]},"g":"x"},"z":[null]}"#,
            r#" { "k" : [ 1e3 , -0 , 0.0 ] } "#,
        ] {
            same_as_serde_json(text);
        }
    }

    #[test]
    fn duplicate_keys_last_wins_like_a_map() {
        let mut nodes = Nodes::default();
        let root = nodes
            .parse_object(br#"{"sub":"a","x":{"sub":"b"},"sub":"c"}"#)
            .unwrap();
        let root = nodes.object(root);
        assert_eq!(root.len(), 3);
        assert_eq!(root.get("sub").and_then(|v| v.as_str()), Some("c"));
        assert!(root.get("missing").is_none());
        same_as_serde_json(r#"{"sub":"a","x":{"sub":"b"},"sub":"c"}"#);
    }

    #[test]
    fn refuses_what_is_not_one_object() {
        for text in [
            &b"[]"[..],
            b"\"s\"",
            b"1",
            b"null",
            b"",
            b"{} {}",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":1e999}",
        ] {
            assert!(parse(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn nesting_is_bounded_without_overflowing_the_stack() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_none());
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_some());
    }

    #[test]
    fn two_objects_share_one_node_list() {
        let mut nodes = Nodes::default();
        let a = nodes
            .parse_object(br#"{"alg":"HS256","typ":"JWT"}"#)
            .unwrap();
        assert!(nodes.parse_object(b"{broken").is_none());
        let b = nodes.parse_object(br#"{"sub":"x","n":[1,2]}"#).unwrap();
        assert_eq!(
            nodes.object(a).get("alg").and_then(|v| v.as_str()),
            Some("HS256")
        );
        assert_eq!(
            nodes.object(b).get("sub").and_then(|v| v.as_str()),
            Some("x")
        );
        assert_eq!(nodes.object(a).len(), 2);
    }
}
