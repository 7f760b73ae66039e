//! Conversions between an older contract's generated types and the
//! latest's where both have the same shape (commands, values, levels, error
//! records, spans, cells): the bindings of each version are distinct Rust
//! types, so each older version's module needs them, written once here.

/// Defines `level_of`, `command`, `value`, `scalar`, `error_record`, `span`,
/// `cell` and `unpacked` (a batch; `text` is the type of its text) in the
/// invoking module, between the given modules of its
/// bindings and `latest_report`, `latest_shell`, `latest_values` and
/// `LatestCell`, which it must have in scope.
macro_rules! same_shape_conversions {
    (values: $values:ident, shell: $shell:ident, report: $report:ident, text: $text:ty) => {
        fn level_of(level: $report::Level) -> latest_report::Level {
            use latest_report::Level as L;
            match level {
                $report::Level::Trace => L::Trace,
                $report::Level::Debug => L::Debug,
                $report::Level::Info => L::Info,
                $report::Level::Warn => L::Warn,
                $report::Level::Error => L::Error,
            }
        }

        fn command(c: $shell::Command) -> latest_shell::Command {
            latest_shell::Command {
                name: c.name,
                parameters: c
                    .parameters
                    .into_iter()
                    .map(|p| latest_shell::Parameter {
                        name: p.name,
                        argument: match p.argument {
                            $shell::Argument::Switch => latest_shell::Argument::Switch,
                            $shell::Argument::Value(v) => latest_shell::Argument::Value(value(v)),
                        },
                    })
                    .collect(),
            }
        }

        fn value(v: $values::Value) -> latest_values::Value {
            use latest_values::Value as L;
            match v {
                $values::Value::Scalar(s) => L::Scalar(scalar(s)),
                $values::Value::List(l) => L::List(l.into_iter().map(scalar).collect()),
                $values::Value::Dictionary(d) => L::Dictionary(
                    d.into_iter()
                        .map(|(k, e)| {
                            let e = match e {
                                $values::Element::Scalar(s) => {
                                    latest_values::Element::Scalar(scalar(s))
                                }
                                $values::Element::List(l) => latest_values::Element::List(
                                    l.into_iter().map(scalar).collect(),
                                ),
                            };
                            (k, e)
                        })
                        .collect(),
                ),
            }
        }

        fn scalar(s: $values::Scalar) -> latest_values::Scalar {
            use latest_values::Scalar as L;
            match s {
                $values::Scalar::Null => L::Null,
                $values::Scalar::Text(t) => L::Text(t),
                $values::Scalar::Boolean(b) => L::Boolean(b),
                $values::Scalar::Integer(i) => L::Integer(i),
                $values::Scalar::Number(n) => L::Number(n),
                $values::Scalar::DateTime(t) => L::DateTime(t),
                $values::Scalar::Guid(g) => L::Guid(g),
                $values::Scalar::Bytes(b) => L::Bytes(b),
                $values::Scalar::Object(o) => L::Object(latest_values::NestedObject {
                    type_names: o.type_names,
                    to_string: o.to_string,
                }),
            }
        }

        fn error_record(e: latest_shell::ErrorRecord) -> $shell::ErrorRecord {
            $shell::ErrorRecord {
                message: e.message,
                fully_qualified_error_id: e.fully_qualified_error_id,
                category: e.category,
                target: e.target,
            }
        }

        fn span(s: latest_values::Span) -> $values::Span {
            $values::Span {
                start: s.start,
                len: s.len,
            }
        }

        fn cell(c: LatestCell) -> $values::Cell {
            use LatestCell as L;
            match c {
                L::Null => $values::Cell::Null,
                L::Text(s) => $values::Cell::Text(span(s)),
                L::Boolean(b) => $values::Cell::Boolean(b),
                L::Integer(i) => $values::Cell::Integer(i),
                L::Number(n) => $values::Cell::Number(n),
                L::DateTime(s) => $values::Cell::DateTime(span(s)),
                L::Guid(s) => $values::Cell::Guid(span(s)),
                L::Bytes(s) => $values::Cell::Bytes(span(s)),
                L::Object(i) => $values::Cell::Object(i),
                L::List(s) => $values::Cell::List(span(s)),
                L::Dictionary(s) => $values::Cell::Dictionary(span(s)),
            }
        }

        /// The batch with its values unpacked into cell variants (the
        /// per-value cost 0.4.0 removed), its text given in the older
        /// contract's type.
        fn unpacked(b: latest_values::Batch, text: $text) -> $values::Batch {
            $values::Batch {
                shapes: b
                    .shapes
                    .into_iter()
                    .map(|s| $values::Shape {
                        type_names: s.type_names,
                        property_names: s.property_names,
                    })
                    .collect(),
                objects: b
                    .objects
                    .into_iter()
                    .map(|o| $values::BatchObject {
                        shape: o.shape,
                        to_string: o.to_string.map(span),
                        values: span(o.values),
                    })
                    .collect(),
                values: b.values.iter().map(cell).collect(),
                items: b.items.iter().map(cell).collect(),
                // Keys and values pair up; a value missing (never in a batch the
                // host built) reads as null rather than shifting the others.
                entries: b
                    .entry_keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| $values::Entry {
                        key: span(*key),
                        value: cell(b.entry_values.get(i).unwrap_or(LatestCell::Null)),
                    })
                    .collect(),
                nested: b
                    .nested
                    .into_iter()
                    .map(|n| $values::NestedObject {
                        type_names: n.type_names,
                        to_string: n.to_string,
                    })
                    .collect(),
                text,
                binary: b.binary,
            }
        }
    };
}

pub(crate) use same_shape_conversions;
