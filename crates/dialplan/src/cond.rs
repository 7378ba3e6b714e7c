//! Conditions of `if`: a small expression language, parsed when the file loads.
//!
//! ```text
//! expr     = and ("or" and)*                        ; also ||
//! and      = unary ("and" unary)*                   ; also &&
//! unary    = "not" unary | primary                  ; also !
//! primary  = "(" expr ")" | "open" "(" hours ")" | operand [op operand]
//! operand  = variable | ${variable} | 'text' | "text" | number
//! op       = == != < <= > >= starts-with ends-with contains matches
//! ```
//! A bare word is a variable (`caller_id`, `customer`); text goes in single quotes (the
//! condition itself is a KDL string), and may interpolate: `'${dnis}'`. An operand alone is true
//! when it is not empty. `<`, `<=`, `>`, `>=` compare numbers when both sides are numbers and
//! text otherwise; `==` and `!=` always compare text, so `"0612"` and `"612"` differ.
//! `matches` takes a regular expression in quotes, compiled once at load.
//!
//! Examples: `caller_id starts-with '+33' and not open(office)`,
//! `customer == '' or (tries >= 3 and dnis matches '^\+331')`.

use std::collections::HashMap;

use crate::template::Template;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `starts-with`
    StartsWith,
    /// `ends-with`
    EndsWith,
    /// `contains`
    Contains,
}

/// A parsed condition.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `open(hours)`: the named opening hours are open now.
    Open {
        /// Hours name.
        hours: String,
        /// Byte offset of the name within the condition text.
        offset: usize,
    },
    /// `not c`.
    Not(Box<Cond>),
    /// `a and b and …`.
    All(Vec<Cond>),
    /// `a or b or …`.
    Any(Vec<Cond>),
    /// An operand alone: true when not empty.
    Truthy(Template),
    /// `a op b`.
    Compare(Template, Op, Template),
    /// `a matches 'regex'`.
    Matches(Template, regex::Regex),
}

/// Why a condition does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    /// Byte offset within the condition text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Cond {
    /// Parses a condition.
    ///
    /// # Errors
    /// The first problem, with its offset in `text`.
    pub fn parse(text: &str) -> Result<Cond, CondError> {
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            end: text.len(),
        };
        let cond = parser.or()?;
        match parser.peek() {
            None => Ok(cond),
            Some(t) => Err(CondError {
                offset: t.offset,
                message: "unexpected text after the condition (missing `and`/`or`?)".into(),
            }),
        }
    }

    /// Evaluates with the call's variables; `open` answers whether named hours are open now.
    #[must_use]
    pub fn eval(&self, vars: &HashMap<String, String>, open: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Cond::Open { hours, .. } => open(hours),
            Cond::Not(c) => !c.eval(vars, open),
            Cond::All(cs) => cs.iter().all(|c| c.eval(vars, open)),
            Cond::Any(cs) => cs.iter().any(|c| c.eval(vars, open)),
            Cond::Truthy(t) => !t.expand(vars).is_empty(),
            Cond::Matches(t, re) => re.is_match(&t.expand(vars)),
            Cond::Compare(a, op, b) => compare(&a.expand(vars), *op, &b.expand(vars)),
        }
    }

    /// Every `open(name)` in the condition, with its offset.
    pub fn hours_refs(&self, out: &mut Vec<(String, usize)>) {
        match self {
            Cond::Open { hours, offset } => out.push((hours.clone(), *offset)),
            Cond::Not(c) => c.hours_refs(out),
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.hours_refs(out)),
            Cond::Truthy(_) | Cond::Compare(..) | Cond::Matches(..) => {}
        }
    }

    /// Every variable the condition reads.
    pub fn vars<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Cond::Open { .. } => {}
            Cond::Not(c) => c.vars(out),
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.vars(out)),
            Cond::Truthy(t) | Cond::Matches(t, _) => out.extend(t.vars()),
            Cond::Compare(a, _, b) => out.extend(a.vars().chain(b.vars())),
        }
    }
}

fn compare(a: &str, op: Op, b: &str) -> bool {
    let ordering = || match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y),
        _ => Some(a.cmp(b)),
    };
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::StartsWith => a.starts_with(b),
        Op::EndsWith => a.ends_with(b),
        Op::Contains => a.contains(b),
        Op::Lt => ordering().is_some_and(std::cmp::Ordering::is_lt),
        Op::Le => ordering().is_some_and(std::cmp::Ordering::is_le),
        Op::Gt => ordering().is_some_and(std::cmp::Ordering::is_gt),
        Op::Ge => ordering().is_some_and(std::cmp::Ordering::is_ge),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Var(String),
    Text(String),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    offset: usize,
}

const SYMBOLS: [&str; 12] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "(", ")", "!", "=",
];

fn lex(text: &str) -> Result<Vec<Token>, CondError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |offset, message: &str| CondError {
        offset,
        message: message.to_owned(),
    };
    while let Some(c) = text[i..].chars().next() {
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let start = i;
        if c == '\'' || c == '"' {
            let body = &text[i + 1..];
            let end = body
                .find(c)
                .ok_or_else(|| err(start, "text without its closing quote"))?;
            tokens.push(Token {
                tok: Tok::Text(body[..end].to_owned()),
                offset: start,
            });
            i += end + 2;
        } else if let Some(body) = text[i..].strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| err(start, "`${` without its closing `}`"))?;
            tokens.push(Token {
                tok: Tok::Var(body[..end].to_owned()),
                offset: start,
            });
            i += end + 3;
        } else if let Some(sym) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) {
            if *sym == "=" {
                return Err(err(start, "use `==` to compare"));
            }
            tokens.push(Token {
                tok: Tok::Sym(sym),
                offset: start,
            });
            i += sym.len();
        } else if c.is_alphanumeric() || "_-+.".contains(c) {
            let len = text[i..]
                .find(|ch: char| !(ch.is_alphanumeric() || "_-+.".contains(ch)))
                .unwrap_or(text.len() - i);
            tokens.push(Token {
                tok: Tok::Word(text[i..i + len].to_owned()),
                offset: start,
            });
            i += len;
        } else {
            return Err(err(start, &format!("unexpected `{c}`")));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.end, |t| t.offset)
    }

    fn eat(&mut self, f: impl Fn(&Tok) -> bool) -> bool {
        if self.peek().is_some_and(|t| f(&t.tok)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word_or_sym(&mut self, word: &str, sym: &'static str) -> bool {
        self.eat(|t| matches!(t, Tok::Word(w) if w == word) || *t == Tok::Sym(sym))
    }

    fn or(&mut self) -> Result<Cond, CondError> {
        let mut parts = vec![self.and()?];
        while self.eat_word_or_sym("or", "||") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Any(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, CondError> {
        let mut parts = vec![self.unary()?];
        while self.eat_word_or_sym("and", "&&") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::All(parts)
        })
    }

    fn unary(&mut self) -> Result<Cond, CondError> {
        if self.eat_word_or_sym("not", "!") {
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, CondError> {
        if self.eat(|t| *t == Tok::Sym("(")) {
            let inner = self.or()?;
            if !self.eat(|t| *t == Tok::Sym(")")) {
                return Err(self.error("missing `)`"));
            }
            return Ok(inner);
        }
        let is_open = matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w == "open")
            && matches!(self.tokens.get(self.pos + 1), Some(t) if t.tok == Tok::Sym("("));
        if is_open {
            self.pos += 2;
            let offset = self.offset();
            let hours = match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Word(w) | Tok::Text(w)) => w,
                _ => return Err(self.error("`open(…)` needs the name of opening hours")),
            };
            self.pos += 1;
            if !self.eat(|t| *t == Tok::Sym(")")) {
                return Err(self.error("missing `)` after the hours name"));
            }
            return Ok(Cond::Open { hours, offset });
        }
        let left = self.operand()?;
        let Some(op) = self.operator() else {
            return Ok(Cond::Truthy(left));
        };
        let right_offset = self.offset();
        let Some(op) = op else {
            let pattern = match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Text(p)) => p,
                _ => return Err(self.error("`matches` needs a regular expression in quotes")),
            };
            self.pos += 1;
            let re = regex::Regex::new(&pattern).map_err(|e| CondError {
                offset: right_offset,
                message: format!("invalid regular expression: {e}"),
            })?;
            return Ok(Cond::Matches(left, re));
        };
        let right = self.operand()?;
        Ok(Cond::Compare(left, op, right))
    }

    /// `Some(None)` is `matches`.
    fn operator(&mut self) -> Option<Option<Op>> {
        let op = match &self.peek()?.tok {
            Tok::Sym("==") => Some(Op::Eq),
            Tok::Sym("!=") => Some(Op::Ne),
            Tok::Sym("<") => Some(Op::Lt),
            Tok::Sym("<=") => Some(Op::Le),
            Tok::Sym(">") => Some(Op::Gt),
            Tok::Sym(">=") => Some(Op::Ge),
            Tok::Word(w) if w == "starts-with" => Some(Op::StartsWith),
            Tok::Word(w) if w == "ends-with" => Some(Op::EndsWith),
            Tok::Word(w) if w == "contains" => Some(Op::Contains),
            Tok::Word(w) if w == "matches" => None,
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn operand(&mut self) -> Result<Template, CondError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.error("expected a variable, 'text' or a number"));
        };
        let template = match token.tok {
            Tok::Var(v) => Template::parse(&format!("${{{v}}}")),
            Tok::Text(t) => Template::parse(&t),
            Tok::Word(w) if w.starts_with(|c: char| c.is_ascii_digit() || c == '+') => {
                Ok(Template::literal(&w))
            }
            Tok::Word(w) if !["and", "or", "not"].contains(&w.as_str()) => {
                Template::parse(&format!("${{{w}}}"))
            }
            _ => return Err(self.error("expected a variable, 'text' or a number")),
        };
        self.pos += 1;
        template.map_err(|e| CondError {
            offset: token.offset,
            message: e.message,
        })
    }

    fn error(&self, message: &str) -> CondError {
        CondError {
            offset: self.offset(),
            message: message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, vars: &[(&str, &str)], open: bool) -> bool {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Cond::parse(text).unwrap().eval(&vars, &|_| open)
    }

    #[test]
    fn comparisons_and_logic() {
        let v = [
            ("caller_id", "+33612345678"),
            ("tries", "3"),
            ("customer", ""),
        ];
        assert!(eval("caller_id starts-with '+33'", &v, false));
        assert!(eval(
            "${caller_id} ends-with '78' && tries == '3'",
            &v,
            false
        ));
        assert!(eval("not customer", &v, false));
        assert!(eval("customer == ''", &v, false));
        assert!(eval("tries >= 3 and tries < 10", &v, false));
        assert!(!eval("tries > 10", &v, false));
        assert!(eval("'0612' != '612'", &v, false));
        assert!(eval("open(office) or tries == 0", &v, true));
        assert!(!eval("open(office) and not (tries == 3)", &v, true));
        assert!(eval("caller_id matches '^\\+336'", &v, false));
        assert!(eval("caller_id contains '1234'", &v, false));
        assert!(eval("'b' > 'a'", &v, false), "text order when not numbers");
        assert!(eval("unset_var == ''", &v, false));
    }

    #[test]
    fn errors_have_offsets() {
        let e = Cond::parse("tries = 3").unwrap_err();
        assert_eq!(e.offset, 6);
        let e = Cond::parse("(a == 'b'").unwrap_err();
        assert_eq!(e.offset, 9);
        let e = Cond::parse("a matches '('").unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(Cond::parse("a == 'b").is_err());
        assert!(Cond::parse("a b").is_err());
        assert!(Cond::parse("").is_err());
        assert!(Cond::parse("open()").is_err());
    }

    #[test]
    fn hours_and_variables_are_listed() {
        let c = Cond::parse("open(office) or not open('shop') and x == '${y}'").unwrap();
        let mut hours = Vec::new();
        c.hours_refs(&mut hours);
        assert_eq!(hours, [("office".to_owned(), 5), ("shop".to_owned(), 25)]);
        let mut vars = Vec::new();
        c.vars(&mut vars);
        assert_eq!(vars, ["x", "y"]);
    }
}
