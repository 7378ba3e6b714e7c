//! Strings with `${variable}` interpolation, and the JSON paths of `http`'s `set`.
//!
//! Interpolation is parsed once, when the file is loaded, so a typo such as `${caller_idd}` is
//! reported by `dialplan check` (with the variables in scope as hints) instead of silently
//! expanding to nothing during a call. `$$` writes a literal `$`; a `$` not followed by `{` or `$`
//! is kept as it is, so regular expressions and prices need no escaping.

use std::collections::HashMap;

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as it is.
    Lit(String),
    /// A variable's value (empty when unset).
    Var(String),
}

/// A string with `${…}` references, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template does not parse: byte offset in the string, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem within the string.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// An unclosed `${`, or a name that is not `[A-Za-z0-9_-]+`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                lit.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let offset = text.len() - rest.len() + pos;
                let Some(end) = body.find('}') else {
                    return Err(TemplateError {
                        offset,
                        message: "`${` without its closing `}`".into(),
                    });
                };
                let name = &body[..end];
                if !is_var_name(name) {
                    return Err(TemplateError {
                        offset,
                        message: format!(
                            "`${{{name}}}`: variable names are letters, digits, `_` and `-`"
                        ),
                    });
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Var(name.to_owned()));
                rest = &body[end + 1..];
            } else {
                lit.push('$');
                rest = after;
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// A template that is only `text`.
    #[must_use]
    pub fn literal(text: &str) -> Template {
        Template {
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::Lit(text.to_owned())]
            },
        }
    }

    /// The text, when there is no variable in it.
    #[must_use]
    pub fn as_literal(&self) -> Option<String> {
        match self.parts.as_slice() {
            [] => Some(String::new()),
            [Part::Lit(s)] => Some(s.clone()),
            _ => None,
        }
    }

    /// The variables it reads.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// The pieces.
    #[must_use]
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The string with every variable replaced by its value in `vars` (empty when unset).
    #[must_use]
    pub fn expand(&self, vars: &HashMap<String, String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => out.push_str(vars.get(v).map_or("", String::as_str)),
            }
        }
        out
    }
}

impl Template {
    /// Like [`Template::expand`], but each variable's value goes through `escape`, which also
    /// sees what has been written before it (so a URL can encode only what follows its host).
    #[must_use]
    pub fn expand_escaped(
        &self,
        vars: &HashMap<String, String>,
        escape: impl Fn(&str, &str) -> String,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    let value = escape(&out, vars.get(v).map_or("", String::as_str));
                    out.push_str(&value);
                }
            }
        }
        out
    }
}

/// A variable's value placed in a URL: as is while the URL's scheme and host are still being
/// written (`${crm}/customers` with `crm` = `http://crm.local`), percent-encoded as a URI
/// component once the path has begun (RFC 3986 §2.1, unreserved characters kept), so a caller id
/// like `+33612345678` or a name with `&` cannot change the request.
#[must_use]
pub fn url_escape(before: &str, value: &str) -> String {
    let in_path = before
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    if !in_path {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A variable's value placed in a JSON body: escaped as the content of a JSON string
/// (RFC 8259 §7), so quotes or backslashes in a value cannot break the document.
#[must_use]
pub fn json_escape(_before: &str, value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Whether `name` can name a variable: `[A-Za-z0-9_-]+`.
#[must_use]
pub fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// `.name` — a member of an object.
    Key(String),
    /// `[3]` — an element of an array.
    Index(usize),
}

/// `$.customer.name`, `$.orders[0].id`, or `$` for the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<PathStep>,
    text: String,
}

impl JsonPath {
    /// Parses the small subset of JSONPath that CRM lookups need.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let Some(mut rest) = text.strip_prefix('$') else {
            return Err("a JSON path starts with `$` (e.g. \"$.name\")".into());
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(tail) = rest.strip_prefix('.') {
                let end = tail.find(['.', '[']).unwrap_or(tail.len());
                let key = &tail[..end];
                if key.is_empty() {
                    return Err(format!("empty member name in `{text}`"));
                }
                steps.push(PathStep::Key(key.to_owned()));
                rest = &tail[end..];
            } else if let Some(tail) = rest.strip_prefix('[') {
                let end = tail
                    .find(']')
                    .ok_or_else(|| format!("`[` without `]` in `{text}`"))?;
                let index = tail[..end]
                    .parse()
                    .map_err(|_| format!("`[{}]` is not an array index", &tail[..end]))?;
                steps.push(PathStep::Index(index));
                rest = &tail[end + 1..];
            } else {
                return Err(format!("expected `.name` or `[index]` in `{text}`"));
            }
        }
        Ok(JsonPath {
            steps,
            text: text.to_owned(),
        })
    }

    /// The path as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path as text: strings unquoted, numbers and booleans as JSON writes
    /// them, objects and arrays as compact JSON; `None` when the path leads nowhere or to
    /// `null`.
    #[must_use]
    pub fn extract(&self, doc: &serde_json::Value) -> Option<String> {
        let mut at = doc;
        for step in &self.steps {
            at = match step {
                PathStep::Key(k) => at.get(k)?,
                PathStep::Index(i) => at.get(i)?,
            };
        }
        match at {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_text_and_variables() {
        let t = Template::parse("tel=${caller_id}&x=$$5 ${1}$").unwrap();
        assert_eq!(
            t.parts(),
            [
                Part::Lit("tel=".into()),
                Part::Var("caller_id".into()),
                Part::Lit("&x=$5 ".into()),
                Part::Var("1".into()),
                Part::Lit("$".into()),
            ]
        );
        let vars = HashMap::from([("caller_id".to_owned(), "+33612".to_owned())]);
        assert_eq!(t.expand(&vars), "tel=+33612&x=$5 $");
        assert_eq!(
            Template::parse("^\\+33(\\d+)$")
                .unwrap()
                .as_literal()
                .unwrap(),
            "^\\+33(\\d+)$"
        );
        assert_eq!(Template::parse("").unwrap().as_literal().unwrap(), "");
    }

    #[test]
    fn template_errors_point_at_the_dollar() {
        let e = Template::parse("ab ${oops").unwrap_err();
        assert_eq!(e.offset, 3);
        let e = Template::parse("x${a b}").unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(e.message.contains("letters"), "{}", e.message);
    }

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let doc: serde_json::Value =
            serde_json::from_str(r#"{"name":"Dupont","vip":true,"orders":[{"id":42}],"n":null}"#)
                .unwrap();
        let get = |p: &str| JsonPath::parse(p).unwrap().extract(&doc);
        assert_eq!(get("$.name").as_deref(), Some("Dupont"));
        assert_eq!(get("$.vip").as_deref(), Some("true"));
        assert_eq!(get("$.orders[0].id").as_deref(), Some("42"));
        assert_eq!(get("$.orders[1].id"), None);
        assert_eq!(get("$.n"), None);
        assert_eq!(get("$.missing"), None);
        assert!(JsonPath::parse("name").is_err());
        assert!(JsonPath::parse("$.a[x]").is_err());
        assert!(JsonPath::parse("$..a").is_err());
    }
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn urls_encode_values_after_the_host_and_json_bodies_escape_strings() {
        let vars = HashMap::from([
            ("crm".to_owned(), "http://crm.local:8089".to_owned()),
            ("caller_id".to_owned(), "+33 6&x=1#".to_owned()),
            ("name".to_owned(), "Ana \"the\" \\ one".to_owned()),
        ]);
        let url = Template::parse("${crm}/customers?phone=${caller_id}").unwrap();
        assert_eq!(
            url.expand_escaped(&vars, url_escape),
            "http://crm.local:8089/customers?phone=%2B33%206%26x%3D1%23"
        );
        let body = Template::parse("{\"name\":\"${name}\"}").unwrap();
        let json = body.expand_escaped(&vars, json_escape);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["name"], "Ana \"the\" \\ one");
    }
}
