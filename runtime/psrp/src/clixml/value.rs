use std::sync::Arc;

/// One CLIXML value (MS-PSRP 2.2.5.1 primitives, or a complex object).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<Nil/>`
    Nil,
    /// `<S>`
    String(String),
    /// `<C>`: a UTF-16 code unit.
    Char(u16),
    /// `<B>`
    Bool(bool),
    /// `<DT>`: kept in its lexical form (`2022-10-31T01:01:36Z`,
    /// `2022-10-31T02:01:36.1234567+01:00`).
    DateTime(String),
    /// `<TS>`: an xs:duration, kept in its lexical form.
    Duration(String),
    /// `<By>`
    U8(u8),
    /// `<SB>`
    I8(i8),
    /// `<U16>`
    U16(u16),
    /// `<I16>`
    I16(i16),
    /// `<U32>`
    U32(u32),
    /// `<I32>`
    I32(i32),
    /// `<U64>`
    U64(u64),
    /// `<I64>`
    I64(i64),
    /// `<Sg>`
    Single(f32),
    /// `<Db>`
    Double(f64),
    /// `<D>`: kept in its lexical form to lose no precision.
    Decimal(String),
    /// `<BA>`
    Bytes(Vec<u8>),
    /// `<G>`: lower-case hyphenated.
    Guid(String),
    /// `<URI>`
    Uri(String),
    /// `<Version>`
    Version(String),
    /// `<XD>`
    XmlDocument(String),
    /// `<SBK>`
    ScriptBlock(String),
    /// `<Obj>`
    Object(Box<PsObject>),
}

/// `LST`, `IE`, `STK`, `QUE`: the element kind a list was serialized as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    List,
    Enumerable,
    Stack,
    Queue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Collection {
    List(CollectionKind, Vec<Value>),
    /// `<DCT>` entries in order.
    Dictionary(Vec<(Value, Value)>),
}

/// A complex object: `<Obj>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PsObject {
    /// `<TN>`; shared between objects that use `<TNRef>`.
    pub type_names: Arc<[String]>,
    /// `<ToString>`
    pub to_string: Option<String>,
    /// A primitive held by the object itself (an enum's underlying value).
    pub value: Option<Value>,
    pub collection: Option<Collection>,
    /// `<Props>`: adapted properties, in order.
    pub adapted: Vec<(String, Value)>,
    /// `<MS>`: extended properties, in order.
    pub extended: Vec<(String, Value)>,
}

impl PsObject {
    /// An adapted or extended property by name (case-insensitive, as
    /// PowerShell resolves member names).
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.adapted
            .iter()
            .chain(self.extended.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl Value {
    /// The text of a `<S>` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&PsObject> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer primitive that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::I8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The items of an object that holds a list (`LST`, `IE`, `STK`, `QUE`).
    pub fn as_list(&self) -> Option<&[Value]> {
        self.as_object().and_then(PsObject::list)
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The string PowerShell would show for this value: `ToString` for
    /// objects (or the primitive an object wraps), the lexical form for
    /// primitives (booleans as .NET prints them, `True`/`False`), `None` for
    /// `Nil` and for objects that carry neither.
    pub fn to_display_string(&self) -> Option<String> {
        let text = match self {
            Value::Nil => return None,
            Value::Object(o) => {
                return match (&o.to_string, &o.value) {
                    (Some(s), _) => Some(s.clone()),
                    (None, Some(v)) => v.to_display_string(),
                    (None, None) => None,
                }
            }
            Value::String(s)
            | Value::DateTime(s)
            | Value::Duration(s)
            | Value::Decimal(s)
            | Value::Guid(s)
            | Value::Uri(s)
            | Value::Version(s)
            | Value::XmlDocument(s)
            | Value::ScriptBlock(s) => s.clone(),
            Value::Bool(true) => "True".to_owned(),
            Value::Bool(false) => "False".to_owned(),
            Value::Char(c) => char::from_u32(u32::from(*c))
                .unwrap_or(char::REPLACEMENT_CHARACTER)
                .to_string(),
            Value::Bytes(_)
            | Value::U8(_)
            | Value::I8(_)
            | Value::U16(_)
            | Value::I16(_)
            | Value::U32(_)
            | Value::I32(_)
            | Value::U64(_)
            | Value::I64(_)
            | Value::Single(_)
            | Value::Double(_) => {
                let mut out = String::new();
                super::ser::write_primitive_text(&mut out, self);
                out
            }
        };
        Some(text)
    }

    /// The CLIXML element this value is written as (`S`, `I32`, `Obj`...).
    pub fn element_name(&self) -> &'static str {
        match self {
            Value::Nil => "Nil",
            Value::String(_) => "S",
            Value::Char(_) => "C",
            Value::Bool(_) => "B",
            Value::DateTime(_) => "DT",
            Value::Duration(_) => "TS",
            Value::U8(_) => "By",
            Value::I8(_) => "SB",
            Value::U16(_) => "U16",
            Value::I16(_) => "I16",
            Value::U32(_) => "U32",
            Value::I32(_) => "I32",
            Value::U64(_) => "U64",
            Value::I64(_) => "I64",
            Value::Single(_) => "Sg",
            Value::Double(_) => "Db",
            Value::Decimal(_) => "D",
            Value::Bytes(_) => "BA",
            Value::Guid(_) => "G",
            Value::Uri(_) => "URI",
            Value::Version(_) => "Version",
            Value::XmlDocument(_) => "XD",
            Value::ScriptBlock(_) => "SBK",
            Value::Object(_) => "Obj",
        }
    }
}

impl PsObject {
    pub fn new() -> Self {
        Self::default()
    }

    /// Type names, most derived first (`System.Collections.Hashtable`,
    /// `System.Object`).
    pub fn with_type_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.type_names = names.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_to_string(mut self, text: impl Into<String>) -> Self {
        self.to_string = Some(text.into());
        self
    }

    /// The primitive the object wraps (an enum's underlying value).
    pub fn with_value(mut self, value: impl Into<Value>) -> Self {
        self.value = Some(value.into());
        self
    }

    pub fn with_list(mut self, kind: CollectionKind, items: Vec<Value>) -> Self {
        self.collection = Some(Collection::List(kind, items));
        self
    }

    pub fn with_dictionary(mut self, entries: Vec<(Value, Value)>) -> Self {
        self.collection = Some(Collection::Dictionary(entries));
        self
    }

    /// Appends a `<Props>` property.
    pub fn with_adapted(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.adapted.push((name.into(), value.into()));
        self
    }

    /// Appends an `<MS>` property (how PSRP message bodies carry their fields).
    pub fn with_extended(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extended.push((name.into(), value.into()));
        self
    }

    /// The items when the object holds a list.
    pub fn list(&self) -> Option<&[Value]> {
        match &self.collection {
            Some(Collection::List(_, items)) => Some(items),
            _ => None,
        }
    }

    /// The entries when the object holds a dictionary.
    pub fn dictionary(&self) -> Option<&[(Value, Value)]> {
        match &self.collection {
            Some(Collection::Dictionary(entries)) => Some(entries),
            _ => None,
        }
    }

    /// Whether `name` is among the type names (exact match).
    pub fn is_type(&self, name: &str) -> bool {
        self.type_names.iter().any(|t| t == name)
    }
}

impl From<PsObject> for Value {
    fn from(object: PsObject) -> Self {
        Value::Object(Box::new(object))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::I32(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::U32(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::U64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

/// `None` becomes `Nil`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Nil, Into::into)
    }
}
