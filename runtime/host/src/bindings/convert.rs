//! Conversions between an older contract's generated types and the
//! latest's where both have the same shape (commands, values, levels, error
//! records, spans, cells): the bindings of each version are distinct Rust
//! types, so each older version's module needs them, written once here.

/// Defines `level_of`, `command`, `value`, `scalar`, `error_record`, `span`
/// and `cell` in the invoking module, between the given modules of its
/// bindings and `latest_report`, `latest_shell`, `latest_values` and
/// `LatestCell`, which it must have in scope.
macro_rules! same_shape_conversions {
    (values: $values:ident, shell: $shell:ident, report: $report:ident) => {
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
    };
}

pub(crate) use same_shape_conversions;
