//! A message's headers, looked up by name in constant time however many there are.
//!
//! `ezk-sip-types` keeps headers in a `Vec` and finds a name by comparing it with every entry
//! (each comparison trying every alias of both names, case-insensitively), and its `insert`
//! re-prints each value into a new `String`. A message with n distinct header names therefore
//! cost O(n²) to parse (6,500 names: 182 ms of CPU), and on ordinary traffic those comparisons
//! were a quarter of the switch's instructions per call. This map keeps ezk's model (values
//! stored raw, typed on demand through ezk's `DecodeValues`/`ExtendValues`, insertion order kept
//! per name) with a cheap comparison (length, then ASCII case-insensitive bytes of the canonical
//! name: ezk maps compact forms such as `v` to the canonical name when it parses) and, past a
//! few names, a hash index keyed with a per-map random seed so a sender cannot pick colliding
//! names. Raw values are moved in, never re-printed.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::once;
use std::slice;

use bytesstr::BytesStr;
use ezk_sip_types::_private_reexport::nom::Finish as _;
use ezk_sip_types::_private_reexport::nom::error::VerboseError;
use ezk_sip_types::Name;
use ezk_sip_types::header::headers::OneOrMore;
use ezk_sip_types::header::{ConstNamed, DecodeValues, DynNamed, ExtendValues, HeaderError};
use ezk_sip_types::print::PrintCtx;

/// Past this many distinct names, lookups go through the hash index.
const INDEX_FROM: usize = 12;

/// A header name as the index compares it: the canonical print name, ASCII case-insensitively.
#[derive(Clone)]
struct Key(Name);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        same_name(&self.0, &other.0)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let name = self.0.as_print_str().as_bytes();
        state.write_usize(name.len());
        for chunk in name.chunks(16) {
            let mut lower = [0u8; 16];
            for (to, from) in lower.iter_mut().zip(chunk) {
                *to = from.to_ascii_lowercase();
            }
            state.write(&lower[..chunk.len()]);
        }
    }
}

/// Whether two names are the same header (ezk gives every spelling of a known header one
/// canonical print name, so comparing those suffices).
fn same_name(a: &Name, b: &Name) -> bool {
    let (a, b) = (a.as_print_str(), b.as_print_str());
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

#[derive(Clone, Debug)]
struct Entry {
    name: Name,
    values: OneOrMore,
}

/// A value [`Headers::insert`] takes as it is (raw text, not printed again).
pub trait HeaderValue {
    /// The value as stored.
    fn into_value(self) -> BytesStr;
}

impl HeaderValue for BytesStr {
    fn into_value(self) -> BytesStr {
        self
    }
}

impl HeaderValue for &BytesStr {
    fn into_value(self) -> BytesStr {
        self.clone()
    }
}

impl HeaderValue for &str {
    fn into_value(self) -> BytesStr {
        BytesStr::from(self)
    }
}

impl HeaderValue for String {
    fn into_value(self) -> BytesStr {
        BytesStr::from(self)
    }
}

impl HeaderValue for &String {
    fn into_value(self) -> BytesStr {
        BytesStr::from(self.as_str())
    }
}

/// The headers of one message: raw values per name, names in order of first appearance.
#[derive(Clone, Default)]
pub struct Headers {
    entries: Vec<Entry>,
    /// Position of each name in `entries`, kept once there are more than [`INDEX_FROM`].
    index: Option<HashMap<Key, usize>>,
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| (n.as_print_str(), v.as_str())))
            .finish()
    }
}

impl fmt::Display for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.iter() {
            write!(f, "{}: {}\r\n", name.as_print_str(), value)?;
        }
        Ok(())
    }
}

impl Headers {
    /// No headers.
    #[must_use]
    pub fn new() -> Self {
        Headers::default()
    }

    fn position(&self, name: &Name) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&Key(name.clone())).copied(),
            None => self.entries.iter().position(|e| same_name(&e.name, name)),
        }
    }

    fn entry(&self, name: &Name) -> Option<&Entry> {
        self.position(name).map(|i| &self.entries[i])
    }

    /// Appends a new name's entry, indexing it when the map is large.
    fn push_entry(&mut self, entry: Entry) {
        let at = self.entries.len();
        if let Some(index) = &mut self.index {
            index.insert(Key(entry.name.clone()), at);
        }
        self.entries.push(entry);
        if self.index.is_none() && self.entries.len() > INDEX_FROM {
            self.reindex();
        }
    }

    /// Rebuilds the index after entries moved (removal, insertion at the front: rare, and only
    /// on messages we build).
    fn reindex(&mut self) {
        if self.entries.len() <= INDEX_FROM {
            self.index = None;
            return;
        }
        let mut index = HashMap::with_capacity_and_hasher(
            self.entries.len(),
            std::collections::hash_map::RandomState::new(),
        );
        for (i, entry) in self.entries.iter().enumerate() {
            index.insert(Key(entry.name.clone()), i);
        }
        self.index = Some(index);
    }

    /// Whether a header named `name` is present.
    #[must_use]
    pub fn contains(&self, name: &Name) -> bool {
        self.position(name).is_some()
    }

    /// Appends a raw value under `name`, after the values it already has.
    pub fn insert(&mut self, name: Name, value: impl HeaderValue) {
        let value = value.into_value();
        match self.position(&name) {
            Some(i) => self.entries[i].values.push(value),
            None => self.push_entry(Entry {
                name,
                values: OneOrMore::One(value),
            }),
        }
    }

    /// Appends a typed header under its own name.
    pub fn insert_named<H: DynNamed + ExtendValues + ?Sized>(&mut self, header: &H) {
        self.insert_type(header.name(), header);
    }

    /// Appends a typed header under `name`.
    pub fn insert_type<H: ExtendValues + ?Sized>(&mut self, name: Name, header: &H) {
        let ctx = PrintCtx::default();
        match self.position(&name) {
            Some(i) => header.extend_values(ctx, &mut self.entries[i].values),
            None => self.push_entry(Entry {
                values: header.create_values(ctx),
                name,
            }),
        }
    }

    /// Puts a typed header first: before the values its name has (a new top Via), and its
    /// name before every other name when it is new.
    pub fn insert_named_front<H: DynNamed + ExtendValues + ?Sized>(&mut self, header: &H) {
        let name = header.name();
        let ctx = PrintCtx::default();
        match self.position(&name) {
            Some(i) => header.extend_values(ctx, &mut self.entries[i].values),
            None => {
                self.entries.insert(
                    0,
                    Entry {
                        values: header.create_values(ctx),
                        name,
                    },
                );
                self.reindex();
            }
        }
    }

    /// Removes every value of `name`, returning them.
    pub fn remove(&mut self, name: &Name) -> Option<Vec<BytesStr>> {
        let i = self.position(name)?;
        let entry = self.entries.remove(i);
        if self.index.is_some() {
            self.reindex();
        }
        Some(match entry.values {
            OneOrMore::One(v) => vec![v],
            OneOrMore::More(v) => v,
        })
    }

    /// The raw values of `name`, in order (empty when absent).
    pub fn get_raw(&self, name: &Name) -> slice::Iter<'_, BytesStr> {
        match self.entry(name) {
            Some(Entry {
                values: OneOrMore::One(v),
                ..
            }) => slice::from_ref(v).iter(),
            Some(Entry {
                values: OneOrMore::More(v),
                ..
            }) => v.iter(),
            None => [].iter(),
        }
    }

    /// `name`'s values decoded as `H`.
    ///
    /// # Errors
    /// The header is missing or does not decode.
    pub fn get<H: DecodeValues>(&self, name: Name) -> Result<H, HeaderError> {
        match self.entry(&name) {
            Some(entry) => decode(&entry.values, name),
            None => Err(HeaderError::missing(name)),
        }
    }

    /// The typed header `H`, under its own name.
    ///
    /// # Errors
    /// The header is missing or does not decode.
    pub fn get_named<H: ConstNamed + DecodeValues>(&self) -> Result<H, HeaderError> {
        self.get(H::NAME)
    }

    /// The typed header `H`, or `None` when it is absent.
    pub fn try_get_named<H: ConstNamed + DecodeValues>(&self) -> Option<Result<H, HeaderError>> {
        self.entry(&H::NAME)
            .map(|entry| decode(&entry.values, H::NAME))
    }

    /// Every `(name, value)`, names in order of first appearance, values in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, &BytesStr)> + '_ {
        self.entries.iter().flat_map(|entry| {
            let values = match &entry.values {
                OneOrMore::One(v) => slice::from_ref(v),
                OneOrMore::More(v) => v.as_slice(),
            };
            values.iter().map(move |v| (&entry.name, v))
        })
    }

    /// The bytes the headers take when printed (`Name: value\r\n` each).
    #[must_use]
    pub fn printed_len(&self) -> usize {
        self.iter()
            .map(|(name, value)| name.as_print_str().len() + value.len() + 4)
            .sum()
    }
}

fn decode<H: DecodeValues>(values: &OneOrMore, name: Name) -> Result<H, HeaderError> {
    let result = match values {
        OneOrMore::One(v) => H::decode(&mut once(v)).finish(),
        OneOrMore::More(v) => H::decode(&mut v.iter()).finish(),
    };
    result.map(|(_, h)| h).map_err(|err| {
        let owned = VerboseError {
            errors: err
                .errors
                .into_iter()
                .map(|(input, kind)| (input.to_owned(), kind))
                .collect(),
        };
        HeaderError::malformed(name, owned)
    })
}

#[cfg(test)]
mod tests {
    use ezk_sip_types::header::typed::{CSeq, MaxForwards};
    use ezk_sip_types::{Method, Name};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_match_case_insensitively_and_keep_their_values_in_order() {
        let mut headers = Headers::new();
        headers.insert(Name::from("X-Thing"), "a");
        headers.insert(Name::VIA, "SIP/2.0/UDP h;branch=z9hG4bK1");
        headers.insert(Name::from("x-thing"), "b");
        headers.insert(Name::from("v"), "SIP/2.0/UDP h;branch=z9hG4bK2");
        let things: Vec<_> = headers
            .get_raw(&Name::from("X-THING"))
            .map(BytesStr::as_str)
            .collect();
        assert_eq!(things, ["a", "b"]);
        assert_eq!(headers.get_raw(&Name::VIA).len(), 2);
        assert!(!headers.contains(&Name::TO));
        assert_eq!(
            headers.to_string(),
            "X-Thing: a\r\nX-Thing: b\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Via: SIP/2.0/UDP h;branch=z9hG4bK2\r\n"
        );
    }

    #[test]
    fn typed_headers_go_in_and_come_out() {
        let mut headers = Headers::new();
        headers.insert_named(&MaxForwards(70));
        headers.insert_named(&CSeq::new(7, Method::INVITE));
        assert_eq!(headers.get_named::<MaxForwards>().unwrap().0, 70);
        assert_eq!(headers.get_named::<CSeq>().unwrap().cseq, 7);
        headers.insert(Name::CONTENT_TYPE, "x");
        assert!(headers.try_get_named::<MaxForwards>().unwrap().is_ok());
        headers.remove(&Name::MAX_FORWARDS);
        assert!(headers.try_get_named::<MaxForwards>().is_none());
        assert!(headers.get_named::<MaxForwards>().unwrap_err().is_missing());
        headers.insert(Name::MAX_FORWARDS, "seventy");
        assert!(!headers.get_named::<MaxForwards>().unwrap_err().is_missing());
    }

    #[test]
    fn many_distinct_names_stay_cheap() {
        // 20,000 distinct names: quadratic comparison would be 200 million of them.
        let mut headers = Headers::new();
        for i in 0..20_000 {
            headers.insert(Name::from(format!("X-H{i}")), "v");
        }
        headers.insert(Name::CALL_ID, "c");
        assert_eq!(headers.get_raw(&Name::from("x-h19999")).len(), 1);
        assert_eq!(headers.get_raw(&Name::CALL_ID).len(), 1);
        headers.remove(&Name::from("X-H0"));
        assert_eq!(headers.get_raw(&Name::from("X-H1")).len(), 1);
        assert!(!headers.contains(&Name::from("X-H0")));
        assert_eq!(headers.iter().count(), 20_000);
    }

    proptest! {
        /// The map answers every lookup as a plain list of `(lowercase name, value)` would,
        /// below and above the indexing threshold, through removals.
        #[test]
        fn agrees_with_a_list(
            ops in proptest::collection::vec((0u8..40, any::<bool>(), 0u8..3), 0..120)
        ) {
            let mut headers = Headers::new();
            let mut model: Vec<(String, Vec<String>)> = Vec::new();
            for (n, upper, op) in ops {
                let name = if upper { format!("X-N{n}") } else { format!("x-n{n}") };
                let key = name.to_ascii_lowercase();
                if op == 0 {
                    headers.remove(&Name::from(name.clone()));
                    model.retain(|(k, _)| *k != key);
                } else {
                    let value = format!("v{n}");
                    headers.insert(Name::from(name.clone()), value.as_str());
                    match model.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, values)) => values.push(value),
                        None => model.push((key, vec![value])),
                    }
                }
            }
            for n in 0u8..40 {
                let key = format!("x-n{n}");
                let want: Vec<String> = model
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let got: Vec<String> = headers
                    .get_raw(&Name::from(format!("X-n{n}")))
                    .map(ToString::to_string)
                    .collect();
                prop_assert_eq!(got, want);
            }
            let order: Vec<String> = headers
                .iter()
                .map(|(n, _)| n.as_print_str().to_ascii_lowercase())
                .collect();
            let want: Vec<String> = model
                .iter()
                .flat_map(|(k, v)| v.iter().map(move |_| k.clone()))
                .collect();
            prop_assert_eq!(order, want);
        }
    }
}
