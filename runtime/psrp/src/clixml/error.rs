/// Why a CLIXML document could not be decoded, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid CLIXML at byte {position}: {kind}")]
pub struct ClixmlError {
    position: usize,
    kind: ClixmlErrorKind,
}

impl ClixmlError {
    pub(crate) fn new(position: usize, kind: ClixmlErrorKind) -> Self {
        Self { position, kind }
    }

    /// Byte offset in the input (after any BOM) where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    pub fn kind(&self) -> &ClixmlErrorKind {
        &self.kind
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClixmlErrorKind {
    #[error("the input is not UTF-8")]
    NotUtf8,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("the document holds no CLIXML element")]
    Empty,
    #[error("content after the top-level element: one CLIXML value was expected")]
    TrailingContent,
    #[error("the document ends inside <{0}>")]
    UnexpectedEof(&'static str),
    #[error("unknown element <{element}> inside <{parent}>")]
    UnknownElement {
        element: String,
        parent: &'static str,
    },
    #[error("<Objs> is a whole Export-Clixml document: decode it with from_document")]
    DocumentWrapper,
    #[error("unexpected {found} inside <{parent}>")]
    Unexpected {
        found: &'static str,
        parent: &'static str,
    },
    #[error("<{element}> appears twice inside <{parent}>")]
    Duplicate {
        element: &'static str,
        parent: &'static str,
    },
    #[error("<{element}> lacks the {attribute} attribute")]
    MissingAttribute {
        element: &'static str,
        attribute: &'static str,
    },
    #[error("<{element}> holds {text:?}, which is not a valid {expected}")]
    InvalidValue {
        element: &'static str,
        /// The offending text, cut to a few dozen characters.
        text: String,
        expected: &'static str,
    },
    #[error(
        "<SS> (SecureString) is not supported: secrets are never exchanged through this codec"
    )]
    SecureString,
    #[error("values nest deeper than {0} levels")]
    TooDeep(usize),
    #[error("<Ref RefId={0:?}> names no complete earlier object")]
    UnknownRef(String),
    #[error("<TNRef RefId={0:?}> names no earlier <TN>")]
    UnknownTypeNameRef(String),
    #[error("<Ref> elements expand to more than {0} bytes; refusing to amplify the input")]
    RefExpansionLimit(usize),
    #[error("the decoded values would take more than {0} bytes")]
    DecodedLimit(usize),
    #[error("<En> lacks its {0} entry")]
    MissingEntryPart(&'static str),
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
}
