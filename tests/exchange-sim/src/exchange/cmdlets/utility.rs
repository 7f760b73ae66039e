//! Select-Object and Measure-Object, as far as a connector uses them.

use super::{fail_with, Invocation, SELECT_OBJECT};
use crate::exchange::args::{as_list, as_text, Bound};
use crate::exchange::errors::parameter_binding;
use crate::exchange::pipeline::{render, Ev, Item, Stage, Upstream};
use crate::exchange::render::mailbox_props::MAILBOX_PROPERTIES;
use crate::exchange::render::{
    database_property, display_text, mailbox_property, RenderCtx, DATABASE_PROPERTIES, TYPES,
};
use idconn_psrp::clixml::{PsObject, Value};
use std::sync::Arc;

/// Where a requested property is found, resolved once per object kind so
/// selecting 44 columns of 100,000 mailboxes does no name lookups per row.
struct Resolved {
    mailbox: Vec<Option<usize>>,
    database: Vec<Option<usize>>,
}

struct Select {
    upstream: Upstream,
    properties: Vec<String>,
    resolved: Resolved,
    first: Option<u64>,
    skip: u64,
    expand: Option<String>,
    seen: u64,
    emitted: u64,
    ctx: RenderCtx,
    /// `Selected.<type>` lists, shared by all objects of one source type.
    type_names: Vec<(String, Arc<[String]>)>,
}

fn index_of<T>(table: &[(&str, T)], name: &str) -> Option<usize> {
    table.iter().position(|(n, _)| n.eq_ignore_ascii_case(name))
}

impl Select {
    fn property(&self, item: &Item, index: usize) -> Value {
        match item {
            Item::Mailbox(view) => self.resolved.mailbox[index]
                .map_or(Value::Nil, |i| mailbox_property(view, i, &self.ctx)),
            Item::Database(view) => self.resolved.database[index]
                .map_or(Value::Nil, |i| database_property(view, i, &self.ctx)),
            Item::Object(Value::Object(o)) => o
                .property(&self.properties[index])
                .cloned()
                .unwrap_or(Value::Nil),
            Item::Object(_) => Value::Nil,
        }
    }

    fn selected_names(&mut self, first: &str) -> Arc<[String]> {
        // Most recent first: a pipeline almost always carries one type.
        if let Some((_, names)) = self.type_names.iter().rev().find(|(f, _)| f == first) {
            return names.clone();
        }
        let names: Arc<[String]> = vec![
            format!("Selected.{first}"),
            "System.Management.Automation.PSCustomObject".to_string(),
            "System.Object".to_string(),
        ]
        .into();
        self.type_names.push((first.to_string(), names.clone()));
        names
    }

    fn shape(&mut self, item: &Item) -> Value {
        if let Some(name) = &self.expand {
            let index = self.properties.iter().position(|p| p == name).unwrap_or(0);
            return self.property(item, index);
        }
        let first_type = match item {
            Item::Mailbox(_) => TYPES.mailbox.first(),
            Item::Database(_) => TYPES.database.first(),
            Item::Object(Value::Object(o)) => o.type_names.first(),
            Item::Object(_) => None,
        }
        .map_or("System.Object", String::as_str);
        let type_names = self.selected_names(first_type);
        let values: Vec<(String, Value)> = (0..self.properties.len())
            .map(|i| (self.properties[i].clone(), self.property(item, i)))
            .collect();
        let mut text = String::with_capacity(64 * values.len());
        text.push_str("@{");
        for (i, (n, v)) in values.iter().enumerate() {
            if i > 0 {
                text.push_str("; ");
            }
            text.push_str(n);
            text.push('=');
            text.push_str(&display_text(v));
        }
        text.push('}');
        Value::Object(Box::new(PsObject {
            type_names,
            to_string: Some(text),
            extended: values,
            ..PsObject::default()
        }))
    }
}

impl Stage for Select {
    fn next(&mut self) -> Option<Ev> {
        loop {
            if self.first.is_some_and(|f| self.emitted >= f) {
                // Stop pulling: like PowerShell, -First ends the upstream.
                self.upstream = None;
                return None;
            }
            let up = self.upstream.as_mut()?;
            match up.next()? {
                Ev::Item(item) => {
                    self.seen += 1;
                    if self.seen <= self.skip {
                        continue;
                    }
                    self.emitted += 1;
                    let value = if self.properties.is_empty() {
                        render(&item, &self.ctx)
                    } else {
                        self.shape(&item)
                    };
                    return Some(Ev::Item(Item::Object(value)));
                }
                other => return Some(other),
            }
        }
    }
}

fn count_arg(bound: &Bound, name: &str) -> Result<Option<u64>, Ev> {
    match bound.text(name) {
        None => Ok(None),
        Some(text) => text.trim().parse::<u64>().map(Some).map_err(|_| {
            Ev::Failed(parameter_binding(
                SELECT_OBJECT,
                "CannotConvertArgumentNoMessage",
                format!(
                    "Cannot bind parameter '{name}'. Cannot convert value \"{text}\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\""
                ),
            ))
        }),
    }
}

pub fn select_object(inv: &Invocation, bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    let mut properties: Vec<String> = bound
        .get("Property")
        .map(|v| as_list(v).iter().filter_map(as_text).collect())
        .unwrap_or_default();
    let expand = bound.text("ExpandProperty");
    if let Some(name) = &expand {
        if !properties.iter().any(|p| p == name) {
            properties.push(name.clone());
        }
    }
    let (first, skip) = match (count_arg(&bound, "First"), count_arg(&bound, "Skip")) {
        (Ok(f), Ok(s)) => (f, s.unwrap_or(0)),
        (Err(e), _) | (_, Err(e)) => return fail_with(e),
    };
    let resolved = Resolved {
        mailbox: properties
            .iter()
            .map(|p| index_of(MAILBOX_PROPERTIES, p))
            .collect(),
        database: properties
            .iter()
            .map(|p| index_of(DATABASE_PROPERTIES, p))
            .collect(),
    };
    Box::new(Select {
        upstream,
        properties,
        resolved,
        first,
        skip,
        expand,
        seen: 0,
        emitted: 0,
        ctx: inv.render,
        type_names: Vec::new(),
    })
}

struct Measure {
    upstream: Upstream,
    count: i32,
}

impl Stage for Measure {
    fn next(&mut self) -> Option<Ev> {
        let up = self.upstream.as_mut()?;
        loop {
            match up.next() {
                Some(Ev::Item(_)) => self.count = self.count.saturating_add(1),
                Some(Ev::Failed(e)) => {
                    self.upstream = None;
                    return Some(Ev::Failed(e));
                }
                Some(other) => return Some(other),
                None => {
                    self.upstream = None;
                    return Some(Ev::Item(Item::Object(measure_info(self.count))));
                }
            }
        }
    }
}

fn measure_info(count: i32) -> Value {
    Value::Object(Box::new(PsObject {
        type_names: TYPES.measure_info.clone(),
        to_string: Some("Microsoft.PowerShell.Commands.GenericMeasureInfo".to_string()),
        adapted: vec![
            ("Count".to_string(), Value::I32(count)),
            ("Average".to_string(), Value::Nil),
            ("Sum".to_string(), Value::Nil),
            ("Maximum".to_string(), Value::Nil),
            ("Minimum".to_string(), Value::Nil),
            ("Property".to_string(), Value::Nil),
        ],
        ..PsObject::default()
    }))
}

pub fn measure_object(_inv: &Invocation, _bound: Bound, upstream: Upstream) -> Box<dyn Stage> {
    match upstream {
        Some(up) => Box::new(Measure {
            upstream: Some(up),
            count: 0,
        }),
        None => Box::new(crate::exchange::pipeline::Fixed(
            [Ev::Item(Item::Object(measure_info(0)))].into(),
        )),
    }
}
