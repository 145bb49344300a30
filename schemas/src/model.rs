//! The C4 model IR: what the parser produces and the generators consume.
//!
//! This is also the public JSON printed by `c4forge parse --format json` and
//! served at `GET /api/v1/diagrams/{id}/model`, so field names and enum
//! spellings are a stable, versioned contract (`v1`). Add fields only with
//! `#[serde(default)]`; never rename.

/// Version 1 of the model IR.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    /// A string of the model: inline up to 24 bytes (aliases, names,
    /// technologies and most labels need no heap block of their own), so a
    /// large model is fewer, denser allocations to build, walk and free.
    /// It serializes as a plain JSON string.
    pub type Text = compact_str::CompactString;

    /// The version number written next to a serialized model.
    pub const VERSION: u32 = 1;

    /// Everything parsed from one upload: its diagrams plus every diagnostic.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Model {
        /// One entry per `@startuml ... @enduml` block, in file order.
        pub diagrams: Vec<Diagram>,
        /// All diagnostics of the run, not only the first.
        pub diagnostics: Vec<Diagnostic>,
    }

    impl Model {
        /// True when any diagnostic is an error (the job then fails).
        pub fn has_errors(&self) -> bool {
            self.diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
        }
    }

    /// One diagram.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Diagram {
        /// The file the diagram came from (as uploaded, relative).
        #[serde(default)]
        pub file: String,
        /// The `@startuml name` name, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        /// The `title` line, when present.
        pub title: Option<String>,
        /// The C4 level, inferred from includes and macros.
        pub level: Level,
        /// Persons, systems, containers and components.
        pub elements: Vec<Element>,
        /// Boundaries and deployment nodes.
        pub boundaries: Vec<Boundary>,
        /// Relationships (`Rel*`, `BiRel*`), in source order. `Lay_*` is not here.
        pub relationships: Vec<Relationship>,
    }

    /// The C4 abstraction level of a diagram.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Level {
        /// System context.
        Context,
        /// Containers.
        Container,
        /// Components.
        Component,
        /// Deployment nodes.
        Deployment,
        /// Dynamic (numbered interactions).
        Dynamic,
        /// Sequence.
        Sequence,
        /// System landscape.
        Landscape,
        /// Could not be inferred.
        #[default]
        Unknown,
    }

    /// What kind of C4 element.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ElementKind {
        /// `Person*`.
        #[default]
        Person,
        /// `System*`.
        System,
        /// `Container*`.
        Container,
        /// `Component*`.
        Component,
    }

    /// The drawn shape, which carries meaning (`Db` and `Queue` variants).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Shape {
        /// A plain box (also any other `$baseShape`).
        #[default]
        Default,
        /// `*Db` variants: a database.
        Database,
        /// `*Queue` variants: a queue.
        Queue,
    }

    /// A 1-based source position.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct Span {
        /// 1-based line.
        pub line: u32,
        /// 1-based column.
        pub column: u32,
    }

    /// A person, system, container or component.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Element {
        /// The alias (first macro argument), unique in a diagram.
        pub alias: Text,
        /// Element kind.
        pub kind: ElementKind,
        /// `_Ext` variants.
        pub external: bool,
        /// Shape (`Db`/`Queue`).
        pub shape: Shape,
        /// The label.
        pub name: Text,
        /// `$techn` (containers, components) or empty.
        pub technology: Text,
        /// `$descr`.
        pub description: Text,
        /// Tags from `$tags`, split on `+`.
        pub tags: Vec<Text>,
        /// `$sprite`, or empty.
        pub sprite: Text,
        /// `$link`, or empty.
        pub link: Text,
        /// `$type` (persons and systems), or empty.
        #[serde(default, skip_serializing_if = "Text::is_empty")]
        pub r#type: Text,
        /// Alias of the enclosing boundary or node.
        pub parent: Option<Text>,
        /// Where the macro call starts.
        pub span: Span,
        /// Property table rows (`AddProperty`) attached to this element.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub properties: Vec<Vec<String>>,
    }

    /// What kind of boundary.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum BoundaryKind {
        /// `Enterprise_Boundary`.
        EnterpriseBoundary,
        /// `System_Boundary`.
        SystemBoundary,
        /// `Container_Boundary`.
        ContainerBoundary,
        /// `Boundary`.
        #[default]
        Boundary,
        /// `Deployment_Node`, `Node` and their `_L`/`_R` forms.
        DeploymentNode,
    }

    /// A boundary or deployment node; elements name it as their `parent`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Boundary {
        /// The alias.
        pub alias: Text,
        /// Boundary kind.
        pub kind: BoundaryKind,
        /// The label.
        pub label: Text,
        /// `$type` of a boundary or deployment node, or empty.
        pub technology: Text,
        /// `$descr`.
        pub description: Text,
        /// Alias of the enclosing boundary.
        pub parent: Option<Text>,
        /// Tags from `$tags`.
        pub tags: Vec<Text>,
        /// `$link`, or empty.
        #[serde(default, skip_serializing_if = "Text::is_empty")]
        pub link: Text,
        /// Where the macro call starts.
        #[serde(default)]
        pub span: Span,
        /// Property table rows attached to this node.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub properties: Vec<Vec<String>>,
    }

    /// A layout direction given by a `_D`/`_U`/`_L`/`_R` macro variant.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Direction {
        /// `_U`, `_Up`.
        Up,
        /// `_D`, `_Down`.
        Down,
        /// `_L`, `_Left`.
        Left,
        /// `_R`, `_Right`.
        Right,
    }

    /// A relationship between two aliases.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Relationship {
        /// First macro argument (also for `Rel_Back*`).
        pub from: Text,
        /// Second macro argument.
        pub to: Text,
        /// The label.
        pub label: Text,
        /// `$techn`.
        pub technology: Text,
        /// `$descr`.
        pub description: Text,
        /// Dynamic-diagram index as printed (`"3"`, `"4-1"`), else null.
        pub index: Option<Text>,
        /// `BiRel*`.
        pub bidirectional: bool,
        /// Layout direction of the macro variant, if any.
        pub direction: Option<Direction>,
        /// Tags from `$tags`.
        pub tags: Vec<Text>,
        /// `$link`, or empty.
        pub link: Text,
        /// `$sprite`, or empty.
        #[serde(default, skip_serializing_if = "Text::is_empty")]
        pub sprite: Text,
        /// Where the macro call starts.
        #[serde(default)]
        pub span: Span,
        /// Property table rows attached to this relationship.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub properties: Vec<Vec<String>>,
    }

    /// How bad a diagnostic is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Severity {
        /// The diagram is wrong; the job fails.
        Error,
        /// Suspicious but usable.
        Warning,
    }

    /// A problem found in the input, with its exact place.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct Diagnostic {
        /// Error or warning.
        pub severity: Severity,
        /// What is wrong, in one sentence.
        pub message: String,
        /// The file it is in.
        pub file: String,
        /// 1-based line.
        pub line: u32,
        /// 1-based column.
        pub column: u32,
        /// The same place as bytes of the file, for tools that index text by
        /// byte (editors, `str` slicing): from the position to the end of its
        /// line. Absent when the file's text was not at hand (generator
        /// warnings).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bytes: Option<ByteSpan>,
    }

    /// A range of bytes of a source file: `start` inclusive, `end` exclusive,
    /// both 0-based offsets from the start of the file.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct ByteSpan {
        /// Offset of the first byte.
        pub start: u32,
        /// Offset one past the last byte.
        pub end: u32,
    }
}
