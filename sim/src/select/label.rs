//! Label selectors: `=`, `==`, `!=`, `in`, `notin`, exists and `!key`, comma-separated (all must hold).

use std::str::FromStr;

use serde_json::{Map, Value};

use super::SelectError;

/// A parsed label selector; the empty one selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Whether it has no requirements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.0.iter().all(|r| {
            let value = labels.get(&r.key).and_then(Value::as_str);
            match r.op {
                Op::Equals | Op::In => value.is_some_and(|v| r.values.iter().any(|w| w == v)),
                Op::NotEquals | Op::NotIn => value.is_none_or(|v| r.values.iter().all(|w| w != v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }
}

impl FromStr for LabelSelector {
    type Err = SelectError;

    fn from_str(s: &str) -> Result<Self, SelectError> {
        let mut parser = Parser { rest: s, whole: s };
        let mut requirements = Vec::new();
        parser.skip_spaces();
        while !parser.rest.is_empty() {
            requirements.push(parser.requirement()?);
            parser.skip_spaces();
            if !parser.eat(",") && !parser.rest.is_empty() {
                return Err(parser.error("expected ','"));
            }
            parser.skip_spaces();
        }
        Ok(LabelSelector(requirements))
    }
}

struct Parser<'a> {
    rest: &'a str,
    whole: &'a str,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> SelectError {
        SelectError::Label(format!("{}: {what}", self.whole))
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// A key or value: letters, digits, `-`, `_`, `.` and (in keys) one `/`.
    fn word(&mut self) -> &str {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn key(&mut self) -> Result<String, SelectError> {
        let key = self.word();
        let name = key.rsplit('/').next().unwrap_or_default();
        if name.is_empty() || name.len() > 63 || key.matches('/').count() > 1 {
            return Err(self.error("invalid label key"));
        }
        Ok(key.to_owned())
    }

    fn value(&mut self) -> Result<String, SelectError> {
        let value = self.word();
        if value.len() > 63 || value.contains('/') {
            return Err(self.error("invalid label value"));
        }
        Ok(value.to_owned())
    }

    fn requirement(&mut self) -> Result<Requirement, SelectError> {
        if self.eat("!") {
            self.skip_spaces();
            let key = self.key()?;
            return Ok(Requirement { key, op: Op::DoesNotExist, values: vec![] });
        }
        let key = self.key()?;
        self.skip_spaces();
        let (op, values) = if self.rest.is_empty() || self.rest.starts_with(',') {
            (Op::Exists, vec![])
        } else if self.eat("!=") {
            self.skip_spaces();
            (Op::NotEquals, vec![self.value()?])
        } else if self.eat("==") || self.eat("=") {
            self.skip_spaces();
            (Op::Equals, vec![self.value()?])
        } else if self.eat("notin") {
            (Op::NotIn, self.set()?)
        } else if self.eat("in") {
            (Op::In, self.set()?)
        } else {
            return Err(self.error("expected an operator"));
        };
        Ok(Requirement { key, op, values })
    }

    fn set(&mut self) -> Result<Vec<String>, SelectError> {
        self.skip_spaces();
        if !self.eat("(") {
            return Err(self.error("expected '('"));
        }
        let mut values = Vec::new();
        loop {
            self.skip_spaces();
            values.push(self.value()?);
            self.skip_spaces();
            if self.eat(")") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ')'"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(v: &Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn selectors_match_as_kubernetes_defines_them() {
        let web = labels(&json!({"app": "web", "tier": "front", "example.com/team": "a"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app = web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app in (db)", false),
            ("app notin (db,cache)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("tier", true),
            ("missing", false),
            ("!missing", true),
            ("!tier", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("example.com/team=a", true),
            ("app in (web),!missing,tier", true),
            ("empty=", false),
        ];
        for (selector, want) in cases {
            let parsed: LabelSelector = selector.parse().unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(parsed.matches(&web), want, "{selector}");
        }
    }

    #[test]
    fn an_empty_value_selects_an_empty_label() {
        let sel: LabelSelector = "flag=".parse().unwrap();
        assert!(sel.matches(&labels(&json!({"flag": ""}))));
        assert!(!sel.matches(&labels(&json!({}))));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for bad in ["app in web", "app in (web", "=web", "app=web,,", "a/b/c=d", "app > 3", "app=(x)"] {
            assert!(bad.parse::<LabelSelector>().is_err(), "{bad} should not parse");
        }
    }
}
