//! Masking a recorded fixture before it is written (docs/replay.md,
//! "What a fixture stores").
//!
//! Two kinds of masks, applied to every text of the fixture's calls and
//! orders the same way, so the same input gives the same mask everywhere
//! and joins (a mailbox's name in `Get-Mailbox` output, in an order, in a
//! later `-Identity` parameter) still hold when the fixture is replayed:
//! - what must never leave the recording machine: the server's address,
//!   the account, its password, the host's paths;
//! - values of the properties and parameters an operator names
//!   (`--redact DisplayName`), each distinct value (case-insensitively)
//!   replaced by `redacted-<n>`, numbered in order of first appearance.
//!
//! A counter map rather than a hash: a mask tells nothing about its value,
//! even to someone who guesses candidate values.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// Keys whose strings are structure, never data: cmdlet names, type names.
const STRUCTURAL_KEYS: &[&str] = &["Command", "TypeNames"];

/// A text to mask and its mask.
#[derive(Debug, Clone)]
struct Needle {
    text: String,
    mask: String,
    /// Only where the text stands alone (not inside a longer word): an
    /// account `admin` must not turn `Administrator` into nonsense.
    whole_words: bool,
}

/// The masks of one fixture.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Property and parameter names whose values are masked (lower case).
    rules: Vec<String>,
    needles: Vec<Needle>,
    /// Redacted values by their lower-case text, to their mask.
    masks: BTreeMap<String, String>,
}

impl Redactor {
    pub fn new(rules: &[String]) -> Redactor {
        Redactor {
            rules: rules
                .iter()
                .map(|r| r.trim_start_matches('-').to_ascii_lowercase())
                .collect(),
            ..Redactor::default()
        }
    }

    /// `text` is replaced by `mask` wherever it occurs (ASCII
    /// case-insensitively); with `whole_words`, only where it is not part
    /// of a longer word. Empty texts are ignored.
    pub fn mask_always(&mut self, text: &str, mask: &str, whole_words: bool) {
        if text.trim().is_empty() {
            return;
        }
        self.needles.push(Needle {
            text: text.to_string(),
            mask: mask.to_string(),
            whole_words,
        });
    }

    /// How many distinct values the rules masked.
    pub fn redacted_values(&self) -> usize {
        self.masks.len()
    }

    fn matches_rule(&self, name: &str) -> bool {
        let name = name.trim_start_matches('-').to_ascii_lowercase();
        self.rules.contains(&name)
    }

    /// Collects the values to mask from a fixture: properties of `Calls[].Output`,
    /// parameters of `Calls[].Pipeline`, hashtable entries, and any field
    /// of the orders, whose name is a rule.
    pub fn collect(&mut self, fixture: &Json) {
        if self.rules.is_empty() {
            return;
        }
        let mut found = Vec::new();
        if let Some(calls) = fixture.get("Calls").and_then(Json::as_array) {
            for call in calls {
                for command in call
                    .get("Pipeline")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(params) = command.get("Parameters").and_then(Json::as_object) {
                        self.collect_named(params.iter(), &mut found);
                    }
                }
                for object in call
                    .get("Output")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(props) = object.get("Properties").and_then(Json::as_object) {
                        self.collect_named(props.iter(), &mut found);
                        // Hashtable entries are named too (@{Add=...}).
                        for value in props.values() {
                            if let Some(dict) = value.get("Dictionary").and_then(Json::as_object) {
                                self.collect_named(dict.iter(), &mut found);
                            }
                        }
                    }
                }
            }
        }
        if let Some(orders) = fixture.pointer("/Job/Orders").and_then(Json::as_array) {
            for file in orders {
                if let Some(json) = file.get("Json") {
                    self.collect_anywhere(json, &mut found);
                }
            }
        }
        for text in found {
            let key = text.to_lowercase();
            let next = self.masks.len() + 1;
            let mask = self
                .masks
                .entry(key)
                .or_insert_with(|| format!("redacted-{next}"))
                .clone();
            // A redacted value is masked inside longer texts too (a
            // filter, an error message naming it); a value of a few
            // characters only where it stands alone, or it would mask
            // pieces of every other word.
            let whole_words = text.chars().count() < 4;
            self.needles.push(Needle {
                text,
                mask,
                whole_words,
            });
        }
    }

    fn collect_named<'a>(
        &self,
        entries: impl Iterator<Item = (&'a String, &'a Json)>,
        found: &mut Vec<String>,
    ) {
        for (name, value) in entries {
            if self.matches_rule(name) {
                strings(value, found);
            }
        }
    }

    fn collect_anywhere(&self, value: &Json, found: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (k, v) in map {
                    if self.matches_rule(k) {
                        strings(v, found);
                    } else {
                        self.collect_anywhere(v, found);
                    }
                }
            }
            Json::Array(items) => items.iter().for_each(|v| self.collect_anywhere(v, found)),
            _ => {}
        }
    }

    /// Masks every text of the fixture's calls and orders.
    pub fn apply(&mut self, fixture: &mut Json) {
        // Longest first, so a value containing another is masked whole.
        self.needles
            .sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.text.cmp(&b.text)));
        self.needles.dedup_by(|a, b| a.text == b.text);
        if let Some(calls) = fixture.get_mut("Calls") {
            self.apply_value(calls);
        }
        if let Some(orders) = fixture.pointer_mut("/Job/Orders") {
            self.apply_value(orders);
        }
    }

    fn apply_value(&self, value: &mut Json) {
        match value {
            Json::String(s) => *s = self.mask_text(s),
            Json::Array(items) => items.iter_mut().for_each(|v| self.apply_value(v)),
            Json::Object(map) => {
                // Keys are property and parameter names: structure.
                for (k, v) in map.iter_mut() {
                    if !STRUCTURAL_KEYS.contains(&k.as_str()) {
                        self.apply_value(v);
                    }
                }
            }
            _ => {}
        }
    }

    /// `text` with every needle replaced.
    pub fn mask_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            out = replace(&out, needle);
        }
        out
    }
}

/// Every string inside a value (its list items, a nested object's
/// ToString, a hashtable's values), never type names.
fn strings(value: &Json, found: &mut Vec<String>) {
    match value {
        Json::String(s) if !s.trim().is_empty() => found.push(s.clone()),
        Json::Array(items) => items.iter().for_each(|v| strings(v, found)),
        Json::Object(map) => {
            for (k, v) in map {
                if !STRUCTURAL_KEYS.contains(&k.as_str()) {
                    strings(v, found);
                }
            }
        }
        _ => {}
    }
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Replaces the needle's occurrences, ASCII case-insensitively (lower-casing
/// ASCII keeps byte offsets, so positions found in the lowered copy are
/// positions in the original).
fn replace(text: &str, needle: &Needle) -> String {
    let hay = text.to_ascii_lowercase();
    let pat = needle.text.to_ascii_lowercase();
    if pat.is_empty() || !hay.contains(&pat) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = hay.get(from..).and_then(|h| h.find(&pat)) {
        let start = from + found;
        let end = start + pat.len();
        let standalone = !needle.whole_words
            || (!is_word(text[..start].chars().next_back())
                && !is_word(text[end..].chars().next()));
        if standalone {
            out.push_str(&text[copied..start]);
            out.push_str(&needle.mask);
            copied = end;
            from = end;
        } else {
            // Step over one character, staying on a char boundary.
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_redacted_value_gets_one_mask_everywhere() {
        let mut fixture = json!({
            "Job": {"Operation": "fulfill", "Orders": [{"Name": "a.json", "Json": {"Changes": {"DisplayName": "Alice Smith"}}}]},
            "Calls": [
                {"Pipeline": [{"Command": "Get-Mailbox"}],
                 "Output": [{"TypeNames": ["Mailbox"], "ToString": "alice smith",
                             "Properties": {"DisplayName": "Alice Smith", "Name": "Bob", "Manager": {"Object": {"TypeNames": ["ADObjectId"], "ToString": "Bob"}}}}]},
                {"Pipeline": [{"Command": "Set-Mailbox", "Parameters": {"Identity": "Bob", "DisplayName": "Carol"}}],
                 "Errors": [{"Message": "Alice Smith is not unique"}]}
            ]
        });
        let mut r = Redactor::new(&["DisplayName".to_string()]);
        r.collect(&fixture);
        r.apply(&mut fixture);
        let text = fixture.to_string();
        assert!(!text.to_lowercase().contains("alice"), "{text}");
        assert!(!text.contains("Carol"), "{text}");
        assert_eq!(r.redacted_values(), 2);
        let call = &fixture["Calls"][0]["Output"][0];
        assert_eq!(call["Properties"]["DisplayName"], "redacted-1");
        assert_eq!(call["ToString"], "redacted-1", "the same value, any case");
        assert_eq!(call["Properties"]["Name"], "Bob", "not a rule: unchanged");
        assert_eq!(
            fixture["Job"]["Orders"][0]["Json"]["Changes"]["DisplayName"],
            "redacted-1"
        );
        assert_eq!(
            fixture["Calls"][1]["Errors"][0]["Message"],
            "redacted-1 is not unique"
        );
        assert_eq!(
            fixture["Calls"][1]["Pipeline"][0]["Parameters"]["DisplayName"],
            "redacted-2"
        );
        assert_eq!(fixture["Calls"][0]["Pipeline"][0]["Command"], "Get-Mailbox");
    }

    #[test]
    fn whole_word_masks_leave_longer_words_alone() {
        let mut r = Redactor::new(&["Initials".to_string()]);
        r.mask_always("admin", "account", true);
        r.mask_always("mail01.contoso.com", "server.invalid", false);
        let mut fixture = json!({"Calls": [{"Output": [{"Properties": {
            "A": "CONTOSO\\admin", "B": "Administrator", "C": "http://MAIL01.contoso.com/PowerShell/",
            "Initials": "JD", "D": "JDoe, JD"}}]}]});
        r.collect(&fixture);
        r.apply(&mut fixture);
        let props = &fixture["Calls"][0]["Output"][0]["Properties"];
        assert_eq!(props["A"], "CONTOSO\\account");
        assert_eq!(props["B"], "Administrator");
        assert_eq!(props["C"], "http://server.invalid/PowerShell/");
        // A short redacted value is masked where it stands alone only.
        assert_eq!(props["Initials"], "redacted-1");
        assert_eq!(props["D"], "JDoe, redacted-1");
    }
}
