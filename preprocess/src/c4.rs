//! The C4-PlantUML library, implemented natively.
//!
//! Instead of interpreting the ~3,000 lines of `C4*.puml` for every diagram,
//! this module knows each public macro's parameter list (C4-PlantUML 2.13)
//! and its meaning, and builds the IR directly: elements, boundaries,
//! deployment nodes, relationships, the dynamic index counter, tag defaults
//! (`$techn`/`$type`/`$sprite` of `Add*Tag`/`UpdateElementStyle`) and
//! property tables. Which macros exist, and with which parameters, depends
//! on the library files included (see [`Libs`]), as in PlantUML.
//!
//! The parameter tables and semantics follow C4-PlantUML
//! (<https://github.com/plantuml-stdlib/C4-PlantUML>, MIT, (c) Ricardo
//! Niepel, kirchsth and contributors; see `LICENSE-C4-PlantUML`). No library
//! text is embedded.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use schemas::model::v1::{
    Boundary, BoundaryKind, Diagram, Direction, Element, ElementKind, Level, Relationship, Shape,
    Span, Text,
};

use crate::diagnostics::{Diags, Loc};
use crate::expr::Value;

mod bind;
mod macros;

pub(crate) use bind::Bound;

pub(crate) use macros::{
    Action, LIBRARY_FILES, Libs, Macro, is_function, library_stem, lookup, procedure_names,
};

/// a suggestion); the rest are summarized.
const MAX_UNKNOWN_REPORTS: usize = 200;

/// An open `{` frame.
#[derive(Debug, Clone)]
struct Frame {
    /// The boundary or node alias; `None` for a non-C4 group (`package x {`).
    alias: Option<Text>,
    /// Where it was opened.
    loc: Loc,
}

impl Frame {
    /// What an open frame costs the text budget: its alias and the frame.
    fn cost(&self) -> usize {
        self.alias.as_ref().map_or(0, Text::len) + std::mem::size_of::<Frame>()
    }
}

/// PlantUML's element keywords a C4 element can be drawn as (`$baseShape`
/// passes its value through); [`drawn_shape`] codes are 1-based indexes.
const PLANTUML_SHAPES: [&str; 26] = [
    "rectangle",
    "database",
    "queue",
    "person",
    "actor",
    "agent",
    "artifact",
    "boundary",
    "card",
    "circle",
    "cloud",
    "collections",
    "component",
    "control",
    "entity",
    "file",
    "folder",
    "frame",
    "hexagon",
    "interface",
    "label",
    "node",
    "package",
    "stack",
    "storage",
    "usecase",
];

/// The [`drawn_shape`] of boundaries and nodes: groups, which PlantUML lets
/// share an alias with anything.
const FRAME: u8 = 0;

/// The [`drawn_shape`] of an unknown `$baseShape` keyword.
const OTHER_SHAPE: u8 = u8::MAX;

/// What PlantUML draws for an element: its `$baseShape`, else the macro's
/// shape. PlantUML rejects an alias redefined as a different shape.
fn drawn_shape(base_shape: &str, shape: Shape) -> u8 {
    let keyword = match (base_shape.trim(), shape) {
        ("", Shape::Database) => "database",
        ("", Shape::Queue) => "queue",
        ("", _) => "rectangle",
        (k, _) => k,
    };
    PLANTUML_SHAPES
        .iter()
        .position(|s| s.eq_ignore_ascii_case(keyword))
        .and_then(|i| u8::try_from(i + 1).ok())
        .unwrap_or(OTHER_SHAPE)
}

/// The keyword of a [`drawn_shape`] code, for messages.
fn shape_name(code: u8) -> &'static str {
    match code {
        FRAME => "boundary",
        OTHER_SHAPE => "custom shape",
        c => PLANTUML_SHAPES
            .get(usize::from(c) - 1)
            .copied()
            .unwrap_or("custom shape"),
    }
}

/// Rotation `LAYOUT_LANDSCAPE()` applies (an involution).
fn rotate(d: Direction) -> Direction {
    match d {
        Direction::Down => Direction::Right,
        Direction::Right => Direction::Down,
        Direction::Up => Direction::Left,
        Direction::Left => Direction::Up,
    }
}

/// Per-diagram C4 state and the model under construction.
#[derive(Debug, Default)]
pub(crate) struct C4State {
    /// Included library files.
    pub libs: Libs,
    /// The diagram being built.
    pub diagram: Diagram,
    frames: Vec<Frame>,
    index: Option<Value>,
    last_index: Option<Value>,
    elem_techn: HashMap<String, String>,
    elem_sprite: HashMap<String, String>,
    rel_techn: HashMap<String, String>,
    rel_sprite: HashMap<String, String>,
    prop_header: Option<Vec<String>>,
    prop_rows: Vec<Vec<String>>,
    landscape: bool,
    show_index: bool,
    /// Every alias defined so far (elements, boundaries, nodes), the
    /// line that defined it and what PlantUML draws for it ([`drawn_shape`]).
    /// (Hashed with foldhash: hashing aliases is hot, and its random
    /// seed keeps collisions from being precomputed into an upload.)
    aliases: foldhash::HashMap<Text, (u32, u8)>,
    /// Relationships with an end that was not a known alias when they were
    /// read (the others cannot refer to an unknown alias: aliases are never
    /// forgotten): their index and where their `from` and `to` arguments are.
    rel_locs: Vec<(usize, Loc, Loc)>,
    /// 1-based columns of the current call's arguments (set by the caller).
    pub arg_cols: Vec<u32>,
    /// Buffers of finished [`Bound`]s, reused (one allocation less per call).
    slot_pool: Vec<Vec<(Option<Text>, Option<u32>)>>,
    /// A user procedure was called with a trailing `{`: the boundary it
    /// creates (without its own brace) takes it.
    pub pending_brace: bool,
    /// Seen any C4 macro at all (for level inference without includes).
    used_deployment: bool,
    used_enterprise: bool,
    /// Bytes of text this state keeps: the model's strings (see
    /// [`element_text`]), the title, tag defaults, pending property rows,
    /// the alias table and open frames. The interpreter compares it with
    /// the diagram's budget after every statement.
    pub text_bytes: usize,
}

/// What a string kept in a vector costs besides its text (its header).
const STRING_HEADER: usize = std::mem::size_of::<String>();

/// Text bytes of strings kept in a vector (tags, a property row).
fn strings_text<S: AsRef<str>>(v: &[S]) -> usize {
    v.iter().map(|s| s.as_ref().len() + STRING_HEADER).sum()
}

/// Text bytes of property rows.
fn rows_text(rows: &[Vec<String>]) -> usize {
    rows.iter().map(|r| strings_text(r)).sum()
}

/// Text bytes an element keeps (the fixed size of the struct is bounded by
/// the item budget instead).
pub(crate) fn element_text(e: &Element) -> usize {
    e.alias.len()
        + e.name.len()
        + e.r#type.len()
        + e.technology.len()
        + e.description.len()
        + e.sprite.len()
        + e.link.len()
        + e.parent.as_ref().map_or(0, Text::len)
        + strings_text(&e.tags)
        + rows_text(&e.properties)
}

/// Text bytes a boundary or deployment node keeps.
pub(crate) fn boundary_text(b: &Boundary) -> usize {
    b.alias.len()
        + b.label.len()
        + b.technology.len()
        + b.description.len()
        + b.link.len()
        + b.parent.as_ref().map_or(0, Text::len)
        + strings_text(&b.tags)
        + rows_text(&b.properties)
}

/// Text bytes a relationship keeps.
pub(crate) fn relationship_text(r: &Relationship) -> usize {
    r.from.len()
        + r.to.len()
        + r.label.len()
        + r.technology.len()
        + r.description.len()
        + r.index.as_ref().map_or(0, Text::len)
        + r.link.len()
        + r.sprite.len()
        + strings_text(&r.tags)
        + rows_text(&r.properties)
}

/// Inserts into a tag-default map, keeping `text` up to date.
fn insert_default(map: &mut HashMap<String, String>, text: &mut usize, k: String, v: String) {
    let klen = k.len();
    *text += klen + v.len();
    if let Some(old) = map.insert(k, v) {
        // replaced: the map kept its equal key and dropped the old value
        *text = text.saturating_sub(klen + old.len());
    }
}

/// Moves an inline icon that starts a label (`<$sprite>`, `<&icon>`,
/// `<img:url>`) into `sprite` when no sprite is set, and returns the label
/// without it: PlantUML draws such an icon as it draws a `$sprite` (and the
/// generators want the bare name). The sprite keeps the `$sprite` argument
/// form: `sprite`, `&icon`, `img:url`.
fn split_icon(label: Text, sprite: &mut Text) -> Text {
    if !sprite.is_empty() {
        return label;
    }
    let Some((icon, rest)) = leading_icon(&label) else {
        return label;
    };
    *sprite = Text::from(icon);
    Text::from(rest)
}

/// The `$sprite` form of an inline icon at the start of `label` and the
/// text after it (leading whitespace dropped).
fn leading_icon(label: &str) -> Option<(&str, &str)> {
    let body = label.strip_prefix("<$").or_else(|| {
        label
            .strip_prefix('<')
            .filter(|r| r.starts_with('&') || r.starts_with("img:"))
    })?;
    let end = body.find('>')?;
    Some((&body[..end], crate::lexer::trim_start(&body[end + 1..])))
}

fn split_tags(s: &str) -> Vec<Text> {
    s.split('+')
        .map(|t| Text::from(t.trim()))
        .filter(|t| !t.is_empty())
        .collect()
}

impl C4State {
    /// A fresh state for one diagram.
    pub fn new() -> Self {
        C4State {
            index: Some(Value::Int(1)),
            last_index: Some(Value::Int(0)),
            ..Default::default()
        }
    }

    /// Reserves room for the items of a diagram block of `lines` source
    /// lines that may hold items (most lines of a large diagram are one
    /// element or one relationship): growing the vectors and the alias table
    /// by doubling copies them several times, slow once they outgrow the
    /// cache. Unused room is virtual memory only, and given back by
    /// [`C4State::finish`].
    pub fn reserve(&mut self, lines: usize) {
        let d = &mut self.diagram;
        d.elements.reserve(lines / 3);
        d.relationships.reserve(lines / 2);
        d.boundaries.reserve(lines / 16);
        self.aliases.reserve(lines / 3);
    }

    fn tag_default(&self, map: &HashMap<String, String>, arg: Text, tags: &str, et: &str) -> Text {
        if !arg.is_empty() || map.is_empty() {
            return arg;
        }
        let look = |k: &str| map.get(k).filter(|v| !v.is_empty()).map(Text::from);
        if tags.is_empty() {
            return look(et).unwrap_or(arg);
        }
        let parts: Vec<&str> = tags.split('+').collect();
        let (last, init) = parts.split_last().unwrap_or((&"", &[]));
        for t in init {
            if let Some(v) = look(t) {
                return v;
            }
        }
        if !last.is_empty() {
            if let Some(v) = look(last) {
                return v;
            }
            if let Some(v) = look(et) {
                return v;
            }
        }
        arg
    }

    fn rel_default(&self, map: &HashMap<String, String>, arg: Text, tags: &str) -> Text {
        if !arg.is_empty() || map.is_empty() {
            return arg;
        }
        tags.split('+')
            .filter(|t| !t.is_empty())
            .find_map(|t| map.get(t).filter(|v| !v.is_empty()).map(Text::from))
            .unwrap_or(arg)
    }

    fn parent(&self) -> Option<Text> {
        self.frames.iter().rev().find_map(|f| f.alias.clone())
    }

    fn take_props(&mut self) -> Vec<Vec<String>> {
        if self.prop_rows.is_empty() {
            return Vec::new();
        }
        // the header (`SetPropertyHeader`) is global in C4-PlantUML: it
        // stays for later tables until changed
        let mut out = Vec::new();
        if let Some(h) = &self.prop_header {
            out.push(h.clone());
        }
        // the rows move into the item, which is charged for them
        self.text_bytes = self.text_bytes.saturating_sub(rows_text(&self.prop_rows));
        out.append(&mut self.prop_rows);
        out
    }

    /// Records a new alias drawn as `drawn` (see [`drawn_shape`]); false
    /// when it is empty (an error) or taken. A taken alias keeps its first
    /// definition, as PlantUML does: a warning, or an error where PlantUML
    /// rejects the file (an element redrawn as another shape).
    fn define_alias(&mut self, alias: &str, drawn: u8, loc: &Loc, d: &mut Diags) -> bool {
        if alias.is_empty() {
            d.error(loc, "empty alias".to_string());
            return false;
        }
        match self.aliases.entry(Text::from(alias)) {
            Entry::Occupied(prev) => {
                let (line, first) = *prev.get();
                if first != FRAME && drawn != FRAME && first != drawn {
                    d.error(
                        loc,
                        format!(
                            "duplicate alias `{alias}`: first defined at line {line} as a {}, here as a {} (PlantUML rejects an element redefined with another shape)",
                            shape_name(first),
                            shape_name(drawn)
                        ),
                    );
                } else {
                    d.warning(
                        loc,
                        format!(
                            "duplicate alias `{alias}` (first defined at line {line}): the first definition is kept"
                        ),
                    );
                }
                false
            }
            Entry::Vacant(v) => {
                self.text_bytes += alias.len();
                v.insert((loc.line, drawn));
                true
            }
        }
    }

    /// Runs the procedure `m` (already looked up) with bound arguments.
    /// `brace` is true when the call line ends with `{`.
    pub fn run(
        &mut self,
        name: &str,
        m: &Macro,
        mut b: Bound,
        brace: bool,
        loc: &Loc,
        d: &mut Diags,
    ) {
        self.run_bound(name, m, &mut b, brace, loc, d);
        self.recycle(b);
    }

    fn run_bound(
        &mut self,
        name: &str,
        m: &Macro,
        b: &mut Bound,
        brace: bool,
        loc: &Loc,
        d: &mut Diags,
    ) {
        let span = Span {
            line: loc.line,
            column: loc.column,
        };
        match m.action {
            Action::Element {
                kind,
                external,
                shape,
            } => {
                let et = match (kind, external) {
                    (ElementKind::Person, false) => "person",
                    (ElementKind::System, false) => "system",
                    (ElementKind::Container, false) => "container",
                    (ElementKind::Component, false) => "component",
                    (ElementKind::Person, true) => "external_person",
                    (ElementKind::System, true) => "external_system",
                    (ElementKind::Container, true) => "external_container",
                    (ElementKind::Component, true) => "external_component",
                };
                let tags_raw = b.take("tags");
                let alias = b.take("alias");
                let is_ps = matches!(kind, ElementKind::Person | ElementKind::System);
                let techn_arg = if is_ps {
                    b.take("type")
                } else {
                    b.take("techn")
                };
                let techn = self.tag_default(&self.elem_techn, techn_arg, &tags_raw, et);
                let mut sprite =
                    self.tag_default(&self.elem_sprite, b.take("sprite"), &tags_raw, et);
                let properties = self.take_props();
                let shape = match b.str("baseShape") {
                    "database" => Shape::Database,
                    "queue" => Shape::Queue,
                    _ => shape,
                };
                let parent = self.parent();
                if brace {
                    // PlantUML draws a nested rectangle; C4 has no such parent
                    d.warning(
                        loc,
                        format!(
                            "`{name}` is not a boundary: elements inside its `{{ }}` get the enclosing boundary as parent"
                        ),
                    );
                    self.open_group(loc);
                }
                let drawn = drawn_shape(b.str("baseShape"), shape);
                if !self.define_alias(&alias, drawn, &b.loc("alias", loc), d) {
                    return;
                }
                let e = Element {
                    alias,
                    kind,
                    external,
                    shape,
                    name: split_icon(b.take("label"), &mut sprite),
                    r#type: if is_ps {
                        techn.clone()
                    } else {
                        Text::default()
                    },
                    technology: techn,
                    description: b.take("descr"),
                    tags: split_tags(&tags_raw),
                    sprite,
                    link: b.take("link"),
                    parent,
                    span,
                    properties,
                };
                self.text_bytes += element_text(&e);
                self.diagram.elements.push(e);
            }
            Action::Boundary(kind_tag) => {
                let mut tags = split_tags(b.str("tags"));
                if let Some(k) = kind_tag {
                    tags.push(Text::from(k));
                }
                let kind = match tags.last().map(Text::as_str) {
                    Some("enterprise") => BoundaryKind::EnterpriseBoundary,
                    Some("system") => BoundaryKind::SystemBoundary,
                    Some("container") => BoundaryKind::ContainerBoundary,
                    _ => BoundaryKind::Boundary,
                };
                if kind != BoundaryKind::Boundary {
                    tags.pop();
                }
                if kind == BoundaryKind::EnterpriseBoundary {
                    self.used_enterprise = true;
                }
                let alias = b.take("alias");
                let fresh = self.define_alias(&alias, FRAME, &b.loc("alias", loc), d);
                let technology = if kind_tag.is_none() {
                    let btags: Vec<String> = tags.iter().map(|t| format!("{t}_boundary")).collect();
                    let btags = btags.join("+");
                    self.tag_default(&self.elem_techn, b.take("type"), &btags, "boundary")
                } else {
                    Text::default()
                };
                let parent = self.parent();
                self.open_frame(alias.clone(), name, brace, loc, d);
                if !fresh {
                    return;
                }
                let bd = Boundary {
                    alias,
                    kind,
                    label: split_icon(b.take("label"), &mut Text::default()),
                    technology,
                    description: b.take("descr"),
                    parent,
                    tags,
                    link: b.take("link"),
                    span,
                    properties: Vec::new(),
                };
                self.text_bytes += boundary_text(&bd);
                self.diagram.boundaries.push(bd);
            }
            Action::Node => {
                self.used_deployment = true;
                let tags_raw = b.take("tags");
                let alias = b.take("alias");
                let fresh = self.define_alias(&alias, FRAME, &b.loc("alias", loc), d);
                let technology =
                    self.tag_default(&self.elem_techn, b.take("type"), &tags_raw, "node");
                let properties = self.take_props();
                let parent = self.parent();
                self.open_frame(alias.clone(), name, brace, loc, d);
                if !fresh {
                    return;
                }
                let bd = Boundary {
                    alias,
                    kind: BoundaryKind::DeploymentNode,
                    label: split_icon(b.take("label"), &mut Text::default()),
                    technology,
                    description: b.take("descr"),
                    parent,
                    tags: split_tags(&tags_raw),
                    link: b.take("link"),
                    span,
                    properties,
                };
                self.text_bytes += boundary_text(&bd);
                self.diagram.boundaries.push(bd);
            }
            Action::BoundaryEnd => {
                if self.pop_frame(None).is_none() {
                    d.error(loc, "`Boundary_End()` without an open boundary".to_string());
                }
            }
            Action::Rel {
                dir,
                bidirectional,
                explicit_index,
                indexed,
            } => {
                let index = if explicit_index {
                    Some(b.take("e_index"))
                } else if indexed && (self.libs.dynamic || self.show_index) {
                    let given = b.take("index");
                    if !given.is_empty() {
                        Some(given)
                    } else if self.libs.dynamic_rel || self.show_index {
                        Some(Text::from(self.next_index(1).text()))
                    } else {
                        None
                    }
                } else {
                    None
                };
                let printed = dir.map(|d| if self.landscape { rotate(d) } else { d });
                let techn = b.take("techn");
                self.push_rel(
                    b,
                    "from",
                    "to",
                    techn,
                    index,
                    bidirectional,
                    printed,
                    span,
                    loc,
                );
            }
            Action::RawRel { indexed } => {
                let (bidi, printed) = arrow_info(b.str("direction"));
                let index = indexed.then(|| b.take("e_index"));
                let techn = b.take("techn");
                self.push_rel(
                    b, "alias1", "alias2", techn, index, bidi, printed, span, loc,
                );
            }
            Action::Lay => {}
            Action::ElementTag { boundary } => {
                let mut key = if b.params[0] == "elementName" {
                    b.str("elementName").to_string()
                } else {
                    b.str("tagStereo").to_string()
                };
                if boundary {
                    key = if key.is_empty() && b.params[0] == "elementName" {
                        "boundary".to_string()
                    } else {
                        format!("{key}_boundary")
                    };
                }
                let techn = b.str("techn").to_string() + b.str("type");
                if !techn.is_empty() {
                    insert_default(
                        &mut self.elem_techn,
                        &mut self.text_bytes,
                        key.clone(),
                        techn,
                    );
                }
                let sprite = b.str("sprite").to_string();
                if !sprite.is_empty() {
                    insert_default(&mut self.elem_sprite, &mut self.text_bytes, key, sprite);
                }
            }
            Action::RelTag => {
                let key = b.str("tagStereo").to_string();
                let techn = b.str("techn").to_string();
                if !techn.is_empty() {
                    insert_default(
                        &mut self.rel_techn,
                        &mut self.text_bytes,
                        key.clone(),
                        techn,
                    );
                }
                let sprite = b.str("sprite").to_string();
                if !sprite.is_empty() {
                    insert_default(&mut self.rel_sprite, &mut self.text_bytes, key, sprite);
                }
            }
            Action::PropHeader => {
                let h = trim_cols(b);
                // the old header is freed, but a header is small and rarely set:
                // charging every one keeps this simple and conservative
                self.text_bytes += strings_text(&h);
                self.prop_header = Some(h);
            }
            Action::NoPropHeader => {
                self.prop_header = None;
            }
            Action::AddProp => {
                let row = trim_cols(b);
                self.text_bytes += strings_text(&row);
                self.prop_rows.push(row);
            }
            Action::Increment => {
                let off = parse_int_or(&b.get("offset"), 1);
                self.last_index = self.index.clone();
                self.index = Some(add(self.index.clone(), Value::Int(off)));
            }
            Action::SetIndexProc => {
                self.last_index = self.index.clone();
                self.index = Some(num_or_text(&b.get("new_index")));
            }
            Action::Landscape => self.landscape = true,
            Action::ShowIndex => {
                let v = b.get("show");
                self.show_index = v.is_empty() || v == "true";
            }
            Action::Style => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_rel(
        &mut self,
        b: &mut Bound,
        from_p: &str,
        to_p: &str,
        techn: Text,
        index: Option<Text>,
        bidirectional: bool,
        printed: Option<Direction>,
        span: Span,
        loc: &Loc,
    ) {
        let tags_raw = b.take("tags");
        let technology = self.rel_default(&self.rel_techn, techn, &tags_raw);
        let mut sprite = self.rel_default(&self.rel_sprite, b.take("sprite"), &tags_raw);
        let properties = self.take_props();
        // checked here, where the aliases just defined are still in the
        // cache, rather than all at the end
        let both_known =
            self.aliases.contains_key(b.str(from_p)) && self.aliases.contains_key(b.str(to_p));
        let r = self.diagram.relationships.len();
        let rel = Relationship {
            from: b.take(from_p),
            to: b.take(to_p),
            label: split_icon(b.take("label"), &mut sprite),
            technology,
            description: b.take("descr"),
            index,
            bidirectional,
            direction: printed,
            tags: split_tags(&tags_raw),
            link: b.take("link"),
            sprite,
            span,
            properties,
        };
        self.text_bytes += relationship_text(&rel);
        self.diagram.relationships.push(rel);
        if !both_known {
            self.rel_locs
                .push((r, b.loc(from_p, loc), b.loc(to_p, loc)));
        }
    }

    fn open_frame(&mut self, alias: Text, name: &str, brace: bool, loc: &Loc, d: &mut Diags) {
        let brace = brace || std::mem::take(&mut self.pending_brace);
        if self.libs.sequence {
            if brace {
                d.error(
                    loc,
                    format!("`{name}` in a sequence diagram is closed by `Boundary_End()`, not by braces"),
                );
            }
            self.push_frame(Some(alias), loc);
        } else if brace {
            self.push_frame(Some(alias), loc);
        }
    }

    fn push_frame(&mut self, alias: Option<Text>, loc: &Loc) {
        let f = Frame {
            alias,
            loc: loc.clone(),
        };
        self.text_bytes += f.cost();
        self.frames.push(f);
    }

    fn pop_frame(&mut self, at: Option<usize>) -> Option<Frame> {
        let f = match at {
            Some(i) => Some(self.frames.remove(i)),
            None => self.frames.pop(),
        }?;
        self.text_bytes = self.text_bytes.saturating_sub(f.cost());
        Some(f)
    }

    /// A `{` opening a non-C4 group (`package x {`, `skinparam x {`).
    pub fn open_group(&mut self, loc: &Loc) {
        self.push_frame(None, loc);
    }

    /// Adds a labelled raw PlantUML arrow between two known aliases as a
    /// relationship: PlantUML draws it as it draws a `Rel`. The label's
    /// first line is the label, the rest the description; `from` and `to`
    /// are the left and right ends whatever way the head points (the
    /// `Rel_Back` convention).
    pub fn raw_arrow(&mut self, arrow: &crate::lexer::RawArrow<'_>, loc: &Loc) {
        let (bidirectional, direction) = arrow_info(arrow.arrow);
        let text = arrow.label.unwrap_or_default();
        let (label, description) = match text.split_once("\\n") {
            Some((l, d)) => (l, crate::lexer::trim(d)),
            None => (text, ""),
        };
        let mut sprite = Text::default();
        let rel = Relationship {
            from: Text::from(arrow.from),
            to: Text::from(arrow.to),
            label: split_icon(Text::from(crate::lexer::trim(label)), &mut sprite),
            technology: Text::default(),
            description: Text::from(description),
            index: None,
            bidirectional,
            direction,
            tags: arrow.tags.iter().map(|t| Text::from(*t)).collect(),
            link: Text::default(),
            sprite,
            span: Span {
                line: loc.line,
                column: loc.column,
            },
            properties: Vec::new(),
        };
        self.text_bytes += relationship_text(&rel);
        self.diagram.relationships.push(rel);
    }

    /// Whether `alias` names an element, boundary or node seen so far.
    pub fn is_alias(&self, alias: &str) -> bool {
        self.aliases.contains_key(alias)
    }

    /// Forgets open frames (after the input was cut short).
    pub fn abandon_frames(&mut self) {
        self.frames.clear();
    }

    /// A `}` line.
    pub fn close(&mut self, loc: &Loc, d: &mut Diags) {
        if self.libs.sequence {
            // only non-C4 groups use braces in sequence diagrams
            if let Some(pos) = self.frames.iter().rposition(|f| f.alias.is_none()) {
                self.pop_frame(Some(pos));
                return;
            }
        }
        if self.pop_frame(None).is_none() {
            d.error(loc, "`}` without an open boundary or group".to_string());
        }
    }

    /// The library's `$index`/`$lastIndex` variables.
    pub fn index_var(&self, name: &str) -> Option<Value> {
        if !self.libs.any() {
            return None;
        }
        match name {
            "$index" => self.index.clone(),
            "$lastIndex" => self.last_index.clone(),
            _ => None,
        }
    }

    /// Assigns `$index`/`$lastIndex`; false for any other name.
    pub fn set_index_var(&mut self, name: &str, v: &Value) -> bool {
        if !self.libs.any() {
            return false;
        }
        match name {
            "$index" => self.index = Some(v.clone()),
            "$lastIndex" => self.last_index = Some(v.clone()),
            _ => return false,
        }
        true
    }

    /// `Index($offset)`: returns the counter, then advances it.
    pub fn next_index(&mut self, offset: i64) -> Value {
        let cur = self.index.clone().unwrap_or(Value::Int(1));
        self.last_index = Some(cur.clone());
        self.index = Some(add(Some(cur.clone()), Value::Int(offset)));
        cur
    }

    /// Evaluates a C4 function (see [`is_function`]).
    pub fn function(
        &mut self,
        name: &str,
        args: &[(Option<String>, Value)],
        loc: &Loc,
        d: &mut Diags,
    ) -> Value {
        let arg = |i: usize, k: &str| {
            args.iter()
                .find(|(n, _)| n.as_deref() == Some(k))
                .or_else(|| args.iter().filter(|(n, _)| n.is_none()).nth(i))
                .map(|(_, v)| v.clone())
        };
        let s = |x: &str| Value::Str(Text::from(x));
        match name {
            "C4Version" => s("2.13.0"),
            "SharpCornerShape" => s("SharpCornerShape"),
            "RoundedBoxShape" => s("RoundedBoxShape"),
            "EightSidedShape" => s("EightSidedShape"),
            "DottedLine" => s("dotted"),
            "DashedLine" => s("dashed"),
            "BoldLine" => s("bold"),
            "SolidLine" => s("plain"),
            "None" => s("none"),
            "Normal" => s("normal"),
            "Small" => s("small"),
            "LEGEND" => s("legend"),
            "Index" => {
                let off = arg(0, "offset").and_then(|v| v.int()).unwrap_or(1);
                self.next_index(off)
            }
            "LastIndex" => self.last_index.clone().unwrap_or(Value::Int(0)),
            "SetIndex" => {
                let new = arg(0, "new_index").unwrap_or(Value::Int(1));
                let off = arg(1, "offset").and_then(|v| v.int()).unwrap_or(1);
                self.last_index = Some(new.clone());
                self.index = Some(add(Some(new.clone()), Value::Int(off)));
                new
            }
            "SetPropertyHeader" | "WithoutPropertyHeader" | "AddProperty" => {
                if let Some(m) = lookup(name, self.libs, args.len())
                    && let Some(b) = self.bind(name, &m, &mut args.to_vec(), loc, d)
                {
                    self.run(name, &m, b, false, loc, d);
                }
                s("")
            }
            _ => s(""),
        }
    }

    /// Closes the diagram: unterminated boundaries, unknown aliases,
    /// direction un-rotation and level inference. Returns the diagram.
    pub fn finish(mut self, d: &mut Diags) -> Diagram {
        for f in self.frames.drain(..) {
            match f.alias {
                Some(a) if self.libs.sequence => d.error(
                    &f.loc,
                    format!("boundary `{a}` is never closed: add `Boundary_End()`"),
                ),
                Some(a) => d.error(&f.loc, format!("unterminated boundary `{a}`: missing `}}`")),
                None => d.error(&f.loc, "unterminated `{` group: missing `}`".to_string()),
            }
        }
        if self.landscape {
            for r in &mut self.diagram.relationships {
                r.direction = r.direction.map(rotate);
            }
        }
        // sorted lazily: only a diagram with an unknown alias needs it
        let mut known: Option<Vec<&str>> = None;
        let mut unknown = 0usize;
        let mut first_skipped: Option<&Loc> = None;
        for (ri, lf, lt) in &self.rel_locs {
            let Some(r) = self.diagram.relationships.get(*ri) else {
                continue;
            };
            for (a, loc) in [(&r.from, lf), (&r.to, lt)] {
                if self.aliases.contains_key(a.as_str()) {
                    continue;
                }
                unknown += 1;
                if unknown > MAX_UNKNOWN_REPORTS {
                    first_skipped.get_or_insert(loc);
                    continue;
                }
                let n = a.chars().count();
                let known = known.get_or_insert_with(|| {
                    let mut k: Vec<&str> = self.aliases.keys().map(Text::as_str).collect();
                    k.sort_unstable();
                    k
                });
                let best = known
                    .iter()
                    // only names of similar length can be within distance 2
                    .filter(|k| {
                        k.len().abs_diff(a.len()) <= 8 && k.chars().count().abs_diff(n) <= 2
                    })
                    .map(|k| (crate::lexer::edit_distance(a, k), *k))
                    .min();
                match best {
                    Some((dist, k)) if dist <= 2 && dist < a.chars().count().max(2) => d.error(
                        loc,
                        format!("relationship refers to unknown alias `{a}`; did you mean `{k}`?"),
                    ),
                    _ => d.warning(
                        loc,
                        format!(
                            "relationship refers to unknown alias `{a}` (PlantUML draws it as a plain, non-C4 box)"
                        ),
                    ),
                }
            }
        }
        if let Some(loc) = first_skipped {
            d.warning(
                loc,
                format!(
                    "{} more references to unknown aliases are not listed",
                    unknown - MAX_UNKNOWN_REPORTS
                ),
            );
        }
        self.diagram.level = self.level();
        // give back what [`C4State::reserve`] guessed too much (shrinking
        // is in place: no copy)
        self.diagram.elements.shrink_to_fit();
        self.diagram.relationships.shrink_to_fit();
        self.diagram.boundaries.shrink_to_fit();
        self.diagram
    }

    fn level(&self) -> Level {
        let l = self.libs;
        let ds = &self.diagram;
        if l.sequence {
            Level::Sequence
        } else if l.dynamic {
            Level::Dynamic
        } else if l.deployment || self.used_deployment {
            Level::Deployment
        } else if l.component || ds.elements.iter().any(|e| e.kind == ElementKind::Component) {
            Level::Component
        } else if l.container || ds.elements.iter().any(|e| e.kind == ElementKind::Container) {
            Level::Container
        } else if l.context || !ds.elements.is_empty() {
            if self.used_enterprise {
                Level::Landscape
            } else {
                Level::Context
            }
        } else {
            Level::Unknown
        }
    }
}

fn trim_cols(b: &Bound) -> Vec<String> {
    let mut cols: Vec<String> = b
        .slots
        .iter()
        .map(|v| v.0.as_deref().unwrap_or_default().to_string())
        .collect();
    while cols.last().is_some_and(String::is_empty) {
        cols.pop();
    }
    cols
}

fn parse_int_or(s: &str, dflt: i64) -> i64 {
    s.trim().parse().unwrap_or(dflt)
}

fn num_or_text(s: &str) -> Value {
    s.trim()
        .parse()
        .map(Value::Int)
        .unwrap_or_else(|_| Value::Str(Text::from(s)))
}

fn add(a: Option<Value>, b: Value) -> Value {
    match (a.unwrap_or(Value::Int(0)), b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(y)),
        (x, y) => match (x.int(), y.int()) {
            (Some(p), Some(q)) => Value::Int(p.wrapping_add(q)),
            _ => Value::Str((x.text() + &y.text()).into()),
        },
    }
}

/// Direction and bidirectionality of a raw PlantUML arrow (`-UP->>`, `<-->`).
fn arrow_info(arrow: &str) -> (bool, Option<Direction>) {
    let mut core = String::new();
    let mut depth = 0;
    for c in arrow.trim().chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => core.push(c),
            _ => {}
        }
    }
    let bidi = core.starts_with('<') && core.ends_with('>');
    let dir = core
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .find_map(|w| match w.to_ascii_lowercase().as_str() {
            "up" | "u" => Some(Direction::Up),
            "down" | "d" | "do" => Some(Direction::Down),
            "left" | "l" | "le" => Some(Direction::Left),
            "right" | "r" | "ri" => Some(Direction::Right),
            _ => None,
        });
    (bidi, dir)
}
