//! The OPATH subset `Get-Mailbox -Filter` understands here: comparisons
//! (`-eq -ne -lt -le -gt -ge -like -notlike`) on a few properties, joined by
//! `-and`, `-or`, `-not` and parentheses (`-not` binds tightest, then
//! `-and`, then `-or`, as in PowerShell).

use super::render::MailboxView;
use super::text::{cmp_ci, eq_ci, like_ci};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    WhenChangedUtc,
    WhenCreatedUtc,
    WhenChanged,
    WhenCreated,
    Name,
    Alias,
    Database,
    RecipientTypeDetails,
    Guid,
    SamAccountName,
    PrimarySmtpAddress,
    DisplayName,
    UserPrincipalName,
    EmailAddresses,
}

const PROPERTIES: &[(&str, Property)] = &[
    ("WhenChangedUTC", Property::WhenChangedUtc),
    ("WhenCreatedUTC", Property::WhenCreatedUtc),
    ("WhenChanged", Property::WhenChanged),
    ("WhenCreated", Property::WhenCreated),
    ("Name", Property::Name),
    ("Alias", Property::Alias),
    ("Database", Property::Database),
    ("RecipientTypeDetails", Property::RecipientTypeDetails),
    ("Guid", Property::Guid),
    ("SamAccountName", Property::SamAccountName),
    ("PrimarySmtpAddress", Property::PrimarySmtpAddress),
    ("DisplayName", Property::DisplayName),
    ("UserPrincipalName", Property::UserPrincipalName),
    ("EmailAddresses", Property::EmailAddresses),
];

impl Property {
    fn is_date(self) -> bool {
        matches!(
            self,
            Property::WhenChangedUtc
                | Property::WhenCreatedUtc
                | Property::WhenChanged
                | Property::WhenCreated
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    Date(DateTime<Utc>),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        property: Property,
        op: Op,
        operand: Operand,
    },
}

/// Why a filter was refused, in Exchange's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Op(Op),
    And,
    Or,
    Not,
    Word(String),
    Quoted(String),
    Variable(String),
}

struct Lexed {
    tok: Tok,
    /// 1-based character position, as Exchange reports it.
    pos: usize,
}

fn tokenize(text: &str) -> Result<Vec<Lexed>, usize> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' || c == ')' {
            out.push(Lexed {
                tok: if c == '(' { Tok::Open } else { Tok::Close },
                pos,
            });
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(pos),
                    Some(&q) if q == c => {
                        // A doubled quote is a literal quote.
                        if chars.get(i + 1) == Some(&c) {
                            value.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            out.push(Lexed {
                tok: Tok::Quoted(value),
                pos,
            });
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')') {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let lower = word.to_ascii_lowercase();
        let tok = match lower.as_str() {
            "-eq" => Tok::Op(Op::Eq),
            "-ne" => Tok::Op(Op::Ne),
            "-lt" => Tok::Op(Op::Lt),
            "-le" => Tok::Op(Op::Le),
            "-gt" => Tok::Op(Op::Gt),
            "-ge" => Tok::Op(Op::Ge),
            "-like" => Tok::Op(Op::Like),
            "-notlike" => Tok::Op(Op::NotLike),
            "-and" => Tok::And,
            "-or" => Tok::Or,
            "-not" | "!" => Tok::Not,
            _ if lower.starts_with('$') => Tok::Variable(lower[1..].to_string()),
            _ if lower.starts_with('-') => return Err(pos),
            _ => Tok::Word(word),
        };
        out.push(Lexed { tok, pos });
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Lexed>,
    at: usize,
    text: &'a str,
    offset: FixedOffset,
}

impl Parser<'_> {
    fn syntax_error(&self, pos: usize) -> FilterError {
        bind_error(&format!(
            "Invalid filter syntax. For a description of the filter parameter syntax see the command help.\n\"{}\" at position {pos}.",
            self.text
        ))
    }

    fn here(&self) -> usize {
        self.toks
            .get(self.at)
            .map_or(self.text.chars().count() + 1, |t| t.pos)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        if self.peek() == Some(&Tok::Not) {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        let pos = self.here();
        match self.toks.get(self.at).map(|t| t.tok.clone()) {
            Some(Tok::Open) => {
                self.at += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.syntax_error(self.here()));
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Tok::Word(name)) => {
                self.at += 1;
                let property = PROPERTIES
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                    .map(|(_, p)| *p)
                    .ok_or_else(|| {
                        bind_error(&format!(
                            "\"{name}\" is not a recognized filterable property. For a list of filterable properties see the command help.\n\"{}\" at position {pos}.",
                            self.text
                        ))
                    })?;
                let Some(Tok::Op(op)) = self.peek().cloned() else {
                    return Err(self.syntax_error(self.here()));
                };
                self.at += 1;
                let value_pos = self.here();
                let operand = match self.toks.get(self.at).map(|t| t.tok.clone()) {
                    Some(Tok::Quoted(v)) | Some(Tok::Word(v)) => Operand::Text(v),
                    Some(Tok::Variable(v)) if v == "null" => Operand::Null,
                    Some(Tok::Variable(v)) if v == "true" || v == "false" => Operand::Text(v),
                    _ => return Err(self.syntax_error(value_pos)),
                };
                self.at += 1;
                let operand = match operand {
                    Operand::Text(v) if property.is_date() => {
                        let local = !matches!(
                            property,
                            Property::WhenChangedUtc | Property::WhenCreatedUtc
                        );
                        let zone = if local {
                            self.offset
                        } else {
                            FixedOffset::east_opt(0).unwrap_or(self.offset)
                        };
                        Operand::Date(parse_date(&v, zone).ok_or_else(|| {
                            bind_error(&format!(
                                "The value \"{v}\" could not be converted to type System.DateTime.\n\"{}\" at position {value_pos}.",
                                self.text
                            ))
                        })?)
                    }
                    other => other,
                };
                Ok(Filter::Compare {
                    property,
                    op,
                    operand,
                })
            }
            _ => Err(self.syntax_error(pos)),
        }
    }
}

fn bind_error(detail: &str) -> FilterError {
    FilterError {
        message: format!(
            "Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"{detail}\""
        ),
    }
}

/// en-US (`11/27/2026 08:00:00`, `11/27/2026 8:00:00 AM`, `11/27/2026`) and
/// ISO (`2026-11-27T08:00:00Z`, `2026-11-27 08:00:00`, with an offset or
/// fraction) forms. A form without a zone is read in `zone`.
pub fn parse_date(text: &str, zone: FixedOffset) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    const NAIVE: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M %p",
    ];
    let naive = NAIVE
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            ["%Y-%m-%d", "%m/%d/%Y"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    zone.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

pub fn parse(text: &str, offset: FixedOffset) -> Result<Filter, FilterError> {
    let toks = tokenize(text).map_err(|pos| {
        bind_error(&format!(
            "Invalid filter syntax. For a description of the filter parameter syntax see the command help.\n\"{text}\" at position {pos}."
        ))
    })?;
    let mut parser = Parser {
        toks,
        at: 0,
        text,
        offset,
    };
    let filter = parser.or()?;
    if parser.at != parser.toks.len() {
        return Err(parser.syntax_error(parser.here()));
    }
    Ok(filter)
}

fn compare_text(value: &str, op: Op, operand: &Operand) -> bool {
    let wanted = match operand {
        Operand::Text(t) => t.as_str(),
        Operand::Null => "",
        Operand::Date(_) => return false,
    };
    match op {
        Op::Eq => eq_ci(value, wanted),
        Op::Ne => !eq_ci(value, wanted),
        Op::Like => like_ci(wanted, value),
        Op::NotLike => !like_ci(wanted, value),
        Op::Lt => cmp_ci(value, wanted) == Ordering::Less,
        Op::Le => cmp_ci(value, wanted) != Ordering::Greater,
        Op::Gt => cmp_ci(value, wanted) == Ordering::Greater,
        Op::Ge => cmp_ci(value, wanted) != Ordering::Less,
    }
}

fn compare_date(value: &DateTime<Utc>, op: Op, operand: &Operand) -> bool {
    let Operand::Date(wanted) = operand else {
        return matches!(op, Op::Ne | Op::NotLike);
    };
    match op {
        Op::Eq | Op::Like => value == wanted,
        Op::Ne | Op::NotLike => value != wanted,
        Op::Lt => value < wanted,
        Op::Le => value <= wanted,
        Op::Gt => value > wanted,
        Op::Ge => value >= wanted,
    }
}

impl Filter {
    pub fn matches(&self, view: &MailboxView) -> bool {
        match self {
            Filter::And(a, b) => a.matches(view) && b.matches(view),
            Filter::Or(a, b) => a.matches(view) || b.matches(view),
            Filter::Not(a) => !a.matches(view),
            Filter::Compare {
                property,
                op,
                operand,
            } => compare(view, *property, *op, operand),
        }
    }
}

fn compare(view: &MailboxView, property: Property, op: Op, operand: &Operand) -> bool {
    let user = &*view.user;
    let text = |v: &str| compare_text(v, op, operand);
    // Get-User filters users without a mailbox: user properties still
    // compare, mail properties never match.
    let Some(mbx) = user.mailbox.as_ref() else {
        return match property {
            Property::WhenChangedUtc | Property::WhenChanged => {
                compare_date(&user.when_changed, op, operand)
            }
            Property::WhenCreatedUtc | Property::WhenCreated => {
                compare_date(&user.when_created, op, operand)
            }
            Property::Name => text(&user.name),
            Property::DisplayName => text(&user.display_name),
            Property::SamAccountName => text(&user.sam_account_name),
            Property::UserPrincipalName => text(&user.user_principal_name),
            Property::Guid => text(&user.guid),
            Property::RecipientTypeDetails => text(
                crate::exchange::cmdlets::get_user::recipient_type_details(user),
            ),
            Property::Alias
            | Property::PrimarySmtpAddress
            | Property::Database
            | Property::EmailAddresses => false,
        };
    };
    match property {
        Property::WhenChangedUtc | Property::WhenChanged => {
            compare_date(&user.when_changed, op, operand)
        }
        Property::WhenCreatedUtc | Property::WhenCreated => {
            compare_date(&user.when_created, op, operand)
        }
        Property::Name => text(&user.name),
        Property::Alias => text(&mbx.alias),
        Property::DisplayName => text(&user.display_name),
        Property::SamAccountName => text(&user.sam_account_name),
        Property::UserPrincipalName => text(&user.user_principal_name),
        Property::Guid => text(&user.guid),
        Property::RecipientTypeDetails => text(mbx.kind.recipient_type_details()),
        Property::PrimarySmtpAddress => text(mbx.primary_smtp_address()),
        Property::Database => match &view.database {
            None => text(""),
            Some(db) => any_form(&[&db.name, &db.distinguished_name(), &db.guid], op, operand),
        },
        Property::EmailAddresses => {
            let forms: Vec<&str> = mbx
                .email_addresses
                .iter()
                .flat_map(|a| [a.as_str(), a.split_once(':').map_or(a.as_str(), |(_, x)| x)])
                .collect();
            any_form(&forms, op, operand)
        }
    }
}

/// A value known under several forms (a database by name, DN or GUID; an
/// address with or without its prefix): equality and `-like` hold when
/// any form matches, their negations when none does; ordering uses the
/// first form.
fn any_form(forms: &[&str], op: Op, operand: &Operand) -> bool {
    let matching = |positive: Op| forms.iter().any(|f| compare_text(f, positive, operand));
    match op {
        Op::Eq | Op::Like => matching(op),
        Op::Ne => !matching(Op::Eq),
        Op::NotLike => !matching(Op::Like),
        _ => forms.first().is_some_and(|f| compare_text(f, op, operand)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    #[test]
    fn precedence_not_and_or() {
        let f = parse(
            "Name -eq 'a' -or Name -eq 'b' -and -not Alias -like 'x*'",
            utc(),
        )
        .unwrap();
        match f {
            Filter::Or(_, right) => match *right {
                Filter::And(_, r) => assert!(matches!(*r, Filter::Not(_))),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parentheses_group() {
        let f = parse(
            "(Name -eq 'a' -or Name -eq 'b') -and Alias -eq \"c\"",
            utc(),
        )
        .unwrap();
        assert!(matches!(f, Filter::And(_, _)));
    }

    #[test]
    fn dates_in_both_forms() {
        let want = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        for text in [
            "11/27/2026 08:00:00",
            "11/27/2026 8:00:00 AM",
            "2026-11-27T08:00:00Z",
            "2026-11-27 08:00:00",
            "2026-11-27T09:00:00+01:00",
        ] {
            assert_eq!(parse_date(text, utc()), Some(want), "{text}");
        }
        let paris = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            parse_date("2026-11-27 09:00:00", paris),
            Some(want),
            "naive local time"
        );
    }

    #[test]
    fn errors_speak_like_exchange() {
        let e = parse("Foo -eq 'x'", utc()).unwrap_err();
        assert!(e
            .message
            .starts_with("Cannot bind parameter 'Filter' to the target."));
        assert!(e
            .message
            .contains("\"Foo\" is not a recognized filterable property"));
        let e = parse("Name -eq", utc()).unwrap_err();
        assert!(e.message.contains("Invalid filter syntax"), "{}", e.message);
        assert!(e.message.contains("at position 9"), "{}", e.message);
        let e = parse("WhenChangedUTC -ge 'soon'", utc()).unwrap_err();
        assert!(e.message.contains("System.DateTime"));
        assert!(parse("(Name -eq 'a'", utc()).is_err());
        assert!(parse("Name -eq 'a' Name", utc()).is_err());
        assert!(parse("Name -eq 'unterminated", utc()).is_err());
        assert!(parse("Name -bogus 'a'", utc()).is_err());
    }

    #[test]
    fn doubled_quotes_are_literal() {
        let f = parse("Name -eq 'O''Brien'", utc()).unwrap();
        assert_eq!(
            f,
            Filter::Compare {
                property: Property::Name,
                op: Op::Eq,
                operand: Operand::Text("O'Brien".into())
            }
        );
    }
}
