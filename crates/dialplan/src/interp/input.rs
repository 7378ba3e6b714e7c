//! The verbs that take input or talk to the outside: `menu`, `read` and `http`.
//!
//! # Menu
//! Each attempt plays the prompts with barge-in, then waits `timeout` for one key. A key with an
//! option runs it (then the verb after the menu). Any other key runs `on-invalid`, no key runs
//! `on-timeout`; after either branch (which usually plays a short message) the menu tries
//! again, up to `retries` more times, and then runs `on-failure`. A branch that jumps away
//! (`goto`, `hangup`) ends the menu there. Keys typed ahead during an earlier barge-in prompt
//! answer the menu at once, without its prompt.
//!
//! # Read
//! Digits are collected until `max` of them, the terminator key (not stored), or a timeout
//! (`timeout` for the first key, `inter-digit` for the next ones). At least `min` digits set the
//! variable; fewer retry the whole input (prompt again) up to `retries` times, then set the
//! variable empty and run `on-failure`.
//!
//! # Http
//! A URL that is not `http://` or `https://` (e.g. an empty `${crm}`) fails at once without a
//! request. A failure is no answer, a status outside 200-299, or, when the verb extracts
//! fields, a body that is not JSON; a field missing from good JSON just leaves its variable
//! empty.

use super::{
    AfterPlay, Collect, Command, HttpFailure, HttpResponse, Interpreter, OnEnd, Pending, ReadState,
    State,
};
use crate::ast::{Http, Plan, VerbKind};

impl Interpreter {
    pub(super) fn menu_attempt(&mut self, plan: &Plan, attempt: u32) {
        let Some(VerbKind::Menu(m)) = self.current(plan) else {
            self.advance();
            return;
        };
        if !self.typeahead.is_empty() {
            let digit = self.typeahead.remove(0);
            self.menu_digit(plan, attempt, digit);
            return;
        }
        let prompts = self.resolve(&m.prompts);
        self.play(prompts, true, AfterPlay::Menu(attempt));
    }

    pub(super) fn menu_collect(&mut self, plan: &Plan, attempt: u32) {
        let Some(VerbKind::Menu(m)) = self.current(plan) else {
            self.advance();
            return;
        };
        self.emit(Command::CollectDigits { timeout: m.timeout });
        self.state = State::Collecting(Collect::Menu(attempt));
    }

    pub(super) fn menu_digit(&mut self, plan: &Plan, attempt: u32, digit: char) {
        let Some(VerbKind::Menu(m)) = self.current(plan) else {
            self.advance();
            return;
        };
        match m.options.iter().find(|(d, _)| *d == digit) {
            Some(&(_, block)) => {
                self.branch("menu", format!("option {digit}"));
                self.push(block, OnEnd::Continue);
                self.state = State::Running;
            }
            None => {
                self.branch("menu", format!("on-invalid ({digit})"));
                self.menu_miss(plan, attempt, m.on_invalid);
            }
        }
    }

    pub(super) fn menu_timeout(&mut self, plan: &Plan, attempt: u32) {
        let Some(VerbKind::Menu(m)) = self.current(plan) else {
            self.advance();
            return;
        };
        self.branch("menu", "on-timeout");
        self.menu_miss(plan, attempt, m.on_timeout);
    }

    fn menu_miss(&mut self, plan: &Plan, attempt: u32, branch: Option<crate::ast::BlockId>) {
        let Some(VerbKind::Menu(m)) = self.current(plan) else {
            self.advance();
            return;
        };
        let next = attempt + 1;
        let on_end = if next <= m.retries {
            OnEnd::RetryMenu(next)
        } else {
            OnEnd::MenuFailed
        };
        match (branch, on_end) {
            (Some(block), _) => {
                self.push(block, on_end);
                self.state = State::Running;
            }
            (None, OnEnd::RetryMenu(n)) => self.menu_attempt(plan, n),
            (None, _) => self.menu_failed(plan),
        }
    }

    pub(super) fn menu_failed(&mut self, plan: &Plan) {
        let Some(VerbKind::Menu(m)) = self.current(plan) else {
            self.advance();
            return;
        };
        self.branch("menu", "on-failure");
        match m.on_failure {
            Some(block) => {
                self.push(block, OnEnd::Continue);
                self.state = State::Running;
            }
            None => self.advance(),
        }
    }

    pub(super) fn read_attempt(&mut self, plan: &Plan, attempt: u32) {
        let Some(VerbKind::Read(r)) = self.current(plan) else {
            self.advance();
            return;
        };
        let mut rs = ReadState {
            attempt,
            digits: String::new(),
        };
        while !self.typeahead.is_empty() {
            let digit = self.typeahead.remove(0);
            if Some(digit) == r.terminator || push_digit(&mut rs, digit, r.max) {
                self.typeahead.clear();
                self.read_finish(plan, rs);
                return;
            }
        }
        match (&r.prompt, rs.digits.is_empty()) {
            (Some(prompt), true) => {
                let prompts = self.resolve(std::slice::from_ref(prompt));
                self.play(prompts, true, AfterPlay::Read(rs));
            }
            _ => self.read_collect(plan, rs),
        }
    }

    pub(super) fn read_collect(&mut self, plan: &Plan, rs: ReadState) {
        let Some(VerbKind::Read(r)) = self.current(plan) else {
            self.advance();
            return;
        };
        let timeout = if rs.digits.is_empty() {
            r.timeout
        } else {
            r.inter_digit
        };
        self.emit(Command::CollectDigits { timeout });
        self.state = State::Collecting(Collect::Read(rs));
    }

    pub(super) fn read_input(&mut self, plan: &Plan, mut rs: ReadState, digit: Option<char>) {
        let Some(VerbKind::Read(r)) = self.current(plan) else {
            self.advance();
            return;
        };
        match digit {
            Some(d) if Some(d) != r.terminator && !push_digit(&mut rs, d, r.max) => {
                self.read_collect(plan, rs);
            }
            _ => self.read_finish(plan, rs),
        }
    }

    fn read_finish(&mut self, plan: &Plan, rs: ReadState) {
        let Some(VerbKind::Read(r)) = self.current(plan) else {
            self.advance();
            return;
        };
        if rs.digits.len() >= r.min as usize {
            self.set_var(&r.var, rs.digits);
            self.advance();
            return;
        }
        let next = rs.attempt + 1;
        if next <= r.retries {
            self.branch("read", format!("retry ({} digits)", rs.digits.len()));
            self.read_attempt(plan, next);
            return;
        }
        self.set_var(&r.var, String::new());
        self.branch("read", "on-failure");
        match r.on_failure {
            Some(block) => {
                self.push(block, OnEnd::Continue);
                self.state = State::Running;
            }
            None => self.advance(),
        }
    }

    pub(super) fn http(&mut self, plan: &Plan, h: &Http) {
        let url = h
            .url
            .expand_escaped(&self.vars, crate::template::url_escape);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.emit(Command::Log {
                message: format!("http: no request, {url:?} is not an http(s) URL"),
            });
            self.http_done(plan, Err(HttpFailure::NotConfigured));
            return;
        }
        self.emit(Command::Http {
            method: h.method,
            url,
            body: h
                .body
                .as_ref()
                .map(|b| b.expand_escaped(&self.vars, crate::template::json_escape)),
            timeout: h.timeout,
        });
        self.state = State::Waiting(Pending::Http);
    }

    pub(super) fn http_done(&mut self, plan: &Plan, result: Result<HttpResponse, HttpFailure>) {
        let Some(VerbKind::Http(h)) = self.current(plan) else {
            self.advance();
            return;
        };
        let status = result
            .as_ref()
            .map_or(String::new(), |r| r.status.to_string());
        self.set_var("http_status", status);
        let outcome = match result {
            Ok(r) if (200..300).contains(&r.status) => {
                if h.sets.is_empty() {
                    Ok(Vec::new())
                } else {
                    serde_json::from_str::<serde_json::Value>(&r.body)
                        .map(|doc| {
                            h.sets
                                .iter()
                                .map(|(var, path)| {
                                    (var.clone(), path.extract(&doc).unwrap_or_default())
                                })
                                .collect()
                        })
                        .map_err(|e| format!("answer is not JSON: {e}"))
                }
            }
            Ok(r) => Err(format!("status {}", r.status)),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(values) => {
                for (var, value) in values {
                    self.set_var(&var, value);
                }
                self.advance();
            }
            Err(why) => {
                self.branch("http", format!("on-failure ({why})"));
                match h.on_failure {
                    Some(block) => {
                        self.push(block, OnEnd::Continue);
                        self.state = State::Running;
                    }
                    None => self.advance(),
                }
            }
        }
    }
}

/// Adds a digit; whether `max` is now reached.
fn push_digit(rs: &mut ReadState, digit: char, max: u32) -> bool {
    rs.digits.push(digit);
    rs.digits.len() >= max as usize
}
