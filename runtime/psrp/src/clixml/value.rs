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
