//! The public macros of the C4-PlantUML library: one table, [`MACROS`],
//! says for each name which library file defines it, what it does as a
//! statement ([`Action`] and parameter names) and whether it is also a
//! function usable inside expressions. [`lookup`], [`procedure_names`] and
//! [`is_function`] all read that table, so a new macro is one row (plus an
//! arm in `C4State::run_bound` when it needs a new [`Action`]).

use std::sync::LazyLock;

use schemas::model::v1::{Direction, ElementKind, Shape};

/// Which C4 library files are loaded in the current diagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Libs {
    /// `C4.puml`.
    pub base: bool,
    /// `C4_Context.puml`.
    pub context: bool,
    /// `C4_Container.puml`.
    pub container: bool,
    /// `C4_Component.puml`.
    pub component: bool,
    /// `C4_Deployment.puml`.
    pub deployment: bool,
    /// `C4_Dynamic.puml`.
    pub dynamic: bool,
    /// `Rel` and its direction variants number themselves: C4_Dynamic
    /// was the last library file to define them. Including another library
    /// file afterwards reads `C4.puml` again, whose plain `Rel` replaces
    /// the numbering one (the `$index=` overload stays).
    pub dynamic_rel: bool,
    /// `C4_Sequence.puml`.
    pub sequence: bool,
}

impl Libs {
    /// Marks `file` (a library file stem such as `C4_Container`) and the
    /// files it includes as loaded; false if `file` is not a library file.
    pub fn load(&mut self, file: &str) -> bool {
        match file {
            "C4" => {
                self.base = true;
                self.dynamic_rel = false;
            }
            "C4_Context" => {
                self.load("C4");
                self.context = true;
            }
            "C4_Container" => {
                self.load("C4_Context");
                self.container = true;
            }
            "C4_Component" => {
                self.load("C4_Container");
                self.component = true;
            }
            "C4_Deployment" => {
                self.load("C4_Container");
                self.deployment = true;
            }
            "C4_Dynamic" => {
                self.load("C4_Component");
                self.dynamic = true;
                self.dynamic_rel = true;
            }
            "C4_Sequence" => {
                self.load("C4_Component");
                self.sequence = true;
            }
            _ => return false,
        }
        true
    }

    /// Whether any library file is loaded (`C4.puml` comes with each).
    pub fn any(&self) -> bool {
        self.base
    }
}

/// Library file stem for an include target naming a C4 library file
/// (`C4_Container.puml`, `.../master/C4_Container.puml`, `<C4/C4_Container>`).
pub(crate) fn library_stem(target: &str) -> Option<&'static str> {
    let t = target.trim().trim_start_matches('<').trim_end_matches('>');
    let t = t.split(['?', '#']).next().unwrap_or(t);
    let last = t.rsplit(['/', '\\']).next().unwrap_or(t);
    let stem = last.strip_suffix(".puml").unwrap_or(last);
    LIBRARY_FILES.into_iter().find(|s| *s == stem)
}

/// The files of the C4-PlantUML library (stems), in include order.
pub(crate) const LIBRARY_FILES: [&str; 7] = [
    "C4",
    "C4_Context",
    "C4_Container",
    "C4_Component",
    "C4_Deployment",
    "C4_Dynamic",
    "C4_Sequence",
];

const PERSON: &[&str] = &["alias", "label", "descr", "sprite", "tags", "link", "type"];
const SYSTEM: &[&str] = &[
    "alias",
    "label",
    "descr",
    "sprite",
    "tags",
    "link",
    "type",
    "baseShape",
];
const CONTAINER: &[&str] = &[
    "alias",
    "label",
    "techn",
    "descr",
    "sprite",
    "tags",
    "link",
    "baseShape",
];
const CONTAINER_DB: &[&str] = &["alias", "label", "techn", "descr", "sprite", "tags", "link"];
const BOUNDARY: &[&str] = &["alias", "label", "type", "tags", "link", "descr"];
const KIND_BOUNDARY: &[&str] = &["alias", "label", "tags", "link", "descr"];
const NODE: &[&str] = &["alias", "label", "type", "descr", "sprite", "tags", "link"];
const REL: &[&str] = &[
    "from", "to", "label", "techn", "descr", "sprite", "tags", "link",
];
const REL_DYN: &[&str] = &[
    "from", "to", "label", "techn", "descr", "sprite", "tags", "link", "index",
];
const REL_SEQ: &[&str] = &[
    "from", "to", "label", "techn", "descr", "sprite", "tags", "link", "index", "rel",
];
const REL_INDEX: &[&str] = &[
    "e_index", "from", "to", "label", "techn", "descr", "sprite", "tags", "link",
];
const REL_RAW4: &[&str] = &["alias1", "alias2", "label", "direction"];
const REL_RAW5: &[&str] = &["alias1", "alias2", "label", "techn", "direction"];
const REL_RAW_DYN5: &[&str] = &["e_index", "alias1", "alias2", "label", "direction"];
const REL_RAW_DYN6: &[&str] = &["e_index", "alias1", "alias2", "label", "techn", "direction"];
const LAY: &[&str] = &["from", "to"];
const LAY_DISTANCE: &[&str] = &["from", "to", "distance"];
const ELEMENT_TAG: &[&str] = &[
    "tagStereo",
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "sprite",
    "techn",
    "legendText",
    "legendSprite",
    "borderStyle",
    "borderThickness",
];
const UPDATE_ELEMENT: &[&str] = &[
    "elementName",
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "sprite",
    "techn",
    "legendText",
    "legendSprite",
    "borderStyle",
    "borderThickness",
];
const PERSON_TAG: &[&str] = &[
    "tagStereo",
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "sprite",
    "legendText",
    "legendSprite",
    "type",
    "borderStyle",
    "borderThickness",
];
const NODE_TAG: &[&str] = &[
    "tagStereo",
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "sprite",
    "type",
    "legendText",
    "legendSprite",
    "techn",
    "borderStyle",
    "borderThickness",
];
const REL_TAG: &[&str] = &[
    "tagStereo",
    "textColor",
    "lineColor",
    "lineStyle",
    "sprite",
    "techn",
    "legendText",
    "legendSprite",
    "lineThickness",
];
const BOUNDARY_TAG: &[&str] = &[
    "tagStereo",
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "type",
    "legendText",
    "borderStyle",
    "borderThickness",
    "sprite",
    "legendSprite",
];
const UPDATE_BOUNDARY: &[&str] = &[
    "elementName",
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "type",
    "legendText",
    "borderStyle",
    "borderThickness",
    "sprite",
    "legendSprite",
];
const KIND_BOUNDARY_STYLE: &[&str] = &[
    "bgColor",
    "fontColor",
    "borderColor",
    "shadowing",
    "shape",
    "type",
    "legendText",
    "borderStyle",
    "borderThickness",
    "sprite",
    "legendSprite",
];
const PROPS: &[&str] = &["col1", "col2", "col3", "col4"];
const SHOW: &[&str] = &["show"];

/// What a macro does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Person/system/container/component.
    Element {
        kind: ElementKind,
        external: bool,
        shape: Shape,
    },
    /// A boundary; `tag` is the kind tag (`system`, ...) added to `$tags`.
    Boundary(Option<&'static str>),
    /// `Boundary_End()` of sequence diagrams.
    BoundaryEnd,
    /// A deployment node.
    Node,
    /// A relationship.
    Rel {
        dir: Option<Direction>,
        bidirectional: bool,
        /// `RelIndex*`: the first argument is the index.
        explicit_index: bool,
        /// Defined by C4_Dynamic/C4_Sequence with a `$index` parameter.
        indexed: bool,
    },
    /// `Rel_` with a raw arrow.
    RawRel { indexed: bool },
    /// `Lay_*`: hidden layout line.
    Lay,
    /// `Add*Tag`/`UpdateElementStyle`: records `$sprite`/`$techn` defaults.
    ElementTag {
        /// Suffix appended to the tag name (`_boundary` for boundary tags).
        boundary: bool,
    },
    /// `AddRelTag`.
    RelTag,
    /// `SetPropertyHeader`.
    PropHeader,
    /// `WithoutPropertyHeader`.
    NoPropHeader,
    /// `AddProperty`.
    AddProp,
    /// `increment`.
    Increment,
    /// `setIndex`.
    SetIndexProc,
    /// `LAYOUT_LANDSCAPE`.
    Landscape,
    /// `SHOW_INDEX`.
    ShowIndex,
    /// Style, legend and layout macros without model meaning.
    Style,
}

/// A resolved macro: its action and parameter names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Macro {
    /// What it does.
    pub action: Action,
    /// Parameter names, in order (no `$`).
    pub params: &'static [&'static str],
}

/// The library file that must be loaded for a macro to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// `C4.puml` (any library file).
    Base,
    /// `C4_Context.puml`.
    Context,
    /// `C4_Container.puml`.
    Container,
    /// `C4_Component.puml`.
    Component,
    /// `C4_Deployment.puml`.
    Deployment,
    /// `C4_Dynamic.puml`.
    Dynamic,
    /// `C4_Sequence.puml`.
    Sequence,
}

impl Needs {
    fn met(self, libs: Libs) -> bool {
        libs.any()
            && match self {
                Needs::Base => true,
                Needs::Context => libs.context,
                Needs::Container => libs.container,
                Needs::Component => libs.component,
                Needs::Deployment => libs.deployment,
                Needs::Dynamic => libs.dynamic,
                Needs::Sequence => libs.sequence,
            }
    }
}

/// What a macro does as a statement, and how its parameters are chosen.
#[derive(Debug, Clone, Copy)]
enum Proc {
    /// Not a statement: a function only.
    None,
    /// One action with one parameter list.
    Fixed(Action, &'static [&'static str]),
    /// `Rel_` with a raw arrow: overloaded on arity, and C4_Dynamic
    /// replaces the 5-argument form (adding `$e_index`) and adds a
    /// 6-argument one; the 4-argument form of C4.puml stays.
    RawRel,
    /// `Rel*`, `BiRel*`, `RelIndex*`: the parameters (`$index`) depend on
    /// whether C4_Dynamic or C4_Sequence is loaded.
    Rel {
        dir: Option<Direction>,
        bidirectional: bool,
        explicit_index: bool,
    },
}

/// One public name of the C4 library.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MacroDef {
    /// The name as called (case-sensitive, as in PlantUML).
    pub name: &'static str,
    /// The library file that defines it.
    needs: Needs,
    /// Its meaning as a statement.
    proc: Proc,
    /// Also a function usable inside expressions (`Index()`, `DashedLine()`).
    function: bool,
}

const fn def(
    name: &'static str,
    needs: Needs,
    action: Action,
    params: &'static [&'static str],
) -> MacroDef {
    MacroDef {
        name,
        needs,
        proc: Proc::Fixed(action, params),
        function: false,
    }
}

const fn element(
    name: &'static str,
    needs: Needs,
    kind: ElementKind,
    external: bool,
    shape: Shape,
    params: &'static [&'static str],
) -> MacroDef {
    def(
        name,
        needs,
        Action::Element {
            kind,
            external,
            shape,
        },
        params,
    )
}

/// A procedure that is a function too.
const fn both(name: &'static str, action: Action, params: &'static [&'static str]) -> MacroDef {
    MacroDef {
        function: true,
        ..def(name, Needs::Base, action, params)
    }
}

/// A function only.
const fn function(name: &'static str) -> MacroDef {
    MacroDef {
        name,
        needs: Needs::Base,
        proc: Proc::None,
        function: true,
    }
}

const fn style(name: &'static str, needs: Needs, params: &'static [&'static str]) -> MacroDef {
    def(name, needs, Action::Style, params)
}

const fn rel(name: &'static str, dir: Option<Direction>) -> MacroDef {
    rel_def(name, Needs::Base, dir, false, false)
}

const fn birel(name: &'static str, dir: Option<Direction>) -> MacroDef {
    rel_def(name, Needs::Base, dir, true, false)
}

const fn rel_index(name: &'static str, dir: Option<Direction>) -> MacroDef {
    rel_def(name, Needs::Dynamic, dir, false, true)
}

const fn rel_def(
    name: &'static str,
    needs: Needs,
    dir: Option<Direction>,
    bidirectional: bool,
    explicit_index: bool,
) -> MacroDef {
    MacroDef {
        name,
        needs,
        proc: Proc::Rel {
            dir,
            bidirectional,
            explicit_index,
        },
        function: false,
    }
}

const fn lay(name: &'static str) -> MacroDef {
    def(name, Needs::Base, Action::Lay, LAY)
}

const TAG: Action = Action::ElementTag { boundary: false };
const BOUNDARY_TAG_ACTION: Action = Action::ElementTag { boundary: true };
const D: Option<Direction> = Some(Direction::Down);
const U: Option<Direction> = Some(Direction::Up);
const L: Option<Direction> = Some(Direction::Left);
const R: Option<Direction> = Some(Direction::Right);

/// Every public procedure and function of C4-PlantUML 2.13 that c4forge
/// knows.
pub(crate) const MACROS: &[MacroDef] = {
    use ElementKind::{Component, Container, Person, System};
    use Needs as N;
    use Shape::{Database as Db, Default as Df, Queue as Q};
    &[
        element("Person", N::Context, Person, false, Df, PERSON),
        element("Person_Ext", N::Context, Person, true, Df, PERSON),
        element("System", N::Context, System, false, Df, SYSTEM),
        element("System_Ext", N::Context, System, true, Df, SYSTEM),
        element("SystemDb", N::Context, System, false, Db, PERSON),
        element("SystemDb_Ext", N::Context, System, true, Db, PERSON),
        element("SystemQueue", N::Context, System, false, Q, PERSON),
        element("SystemQueue_Ext", N::Context, System, true, Q, PERSON),
        element("Container", N::Container, Container, false, Df, CONTAINER),
        element(
            "Container_Ext",
            N::Container,
            Container,
            true,
            Df,
            CONTAINER,
        ),
        element(
            "ContainerDb",
            N::Container,
            Container,
            false,
            Db,
            CONTAINER_DB,
        ),
        element(
            "ContainerDb_Ext",
            N::Container,
            Container,
            true,
            Db,
            CONTAINER_DB,
        ),
        element(
            "ContainerQueue",
            N::Container,
            Container,
            false,
            Q,
            CONTAINER_DB,
        ),
        element(
            "ContainerQueue_Ext",
            N::Container,
            Container,
            true,
            Q,
            CONTAINER_DB,
        ),
        element("Component", N::Component, Component, false, Df, CONTAINER),
        element(
            "Component_Ext",
            N::Component,
            Component,
            true,
            Df,
            CONTAINER,
        ),
        element(
            "ComponentDb",
            N::Component,
            Component,
            false,
            Db,
            CONTAINER_DB,
        ),
        element(
            "ComponentDb_Ext",
            N::Component,
            Component,
            true,
            Db,
            CONTAINER_DB,
        ),
        element(
            "ComponentQueue",
            N::Component,
            Component,
            false,
            Q,
            CONTAINER_DB,
        ),
        element(
            "ComponentQueue_Ext",
            N::Component,
            Component,
            true,
            Q,
            CONTAINER_DB,
        ),
        def("Boundary", N::Base, Action::Boundary(None), BOUNDARY),
        def(
            "Enterprise_Boundary",
            N::Context,
            Action::Boundary(Some("enterprise")),
            KIND_BOUNDARY,
        ),
        def(
            "System_Boundary",
            N::Context,
            Action::Boundary(Some("system")),
            KIND_BOUNDARY,
        ),
        def(
            "Container_Boundary",
            N::Container,
            Action::Boundary(Some("container")),
            KIND_BOUNDARY,
        ),
        def("Boundary_End", N::Sequence, Action::BoundaryEnd, &[]),
        def("Deployment_Node", N::Deployment, Action::Node, NODE),
        def("Deployment_Node_L", N::Deployment, Action::Node, NODE),
        def("Deployment_Node_R", N::Deployment, Action::Node, NODE),
        def("Node", N::Deployment, Action::Node, NODE),
        def("Node_L", N::Deployment, Action::Node, NODE),
        def("Node_R", N::Deployment, Action::Node, NODE),
        MacroDef {
            name: "Rel_",
            needs: N::Base,
            proc: Proc::RawRel,
            function: false,
        },
        rel("Rel", None),
        rel("Rel_D", D),
        rel("Rel_Down", D),
        rel("Rel_U", U),
        rel("Rel_Up", U),
        rel("Rel_L", L),
        rel("Rel_Left", L),
        rel("Rel_R", R),
        rel("Rel_Right", R),
        rel("Rel_Neighbor", None),
        rel("Rel_Back", None),
        rel("Rel_Back_Neighbor", None),
        birel("BiRel", None),
        birel("BiRel_D", D),
        birel("BiRel_Down", D),
        birel("BiRel_U", U),
        birel("BiRel_Up", U),
        birel("BiRel_L", L),
        birel("BiRel_Left", L),
        birel("BiRel_R", R),
        birel("BiRel_Right", R),
        birel("BiRel_Neighbor", None),
        rel_index("RelIndex", None),
        rel_index("RelIndex_D", D),
        rel_index("RelIndex_Down", D),
        rel_index("RelIndex_U", U),
        rel_index("RelIndex_Up", U),
        rel_index("RelIndex_L", L),
        rel_index("RelIndex_Left", L),
        rel_index("RelIndex_R", R),
        rel_index("RelIndex_Right", R),
        rel_index("RelIndex_Neighbor", None),
        rel_index("RelIndex_Back", None),
        rel_index("RelIndex_Back_Neighbor", None),
        lay("Lay_D"),
        lay("Lay_Down"),
        lay("Lay_U"),
        lay("Lay_Up"),
        lay("Lay_L"),
        lay("Lay_Left"),
        lay("Lay_R"),
        lay("Lay_Right"),
        def("Lay_Distance", N::Base, Action::Lay, LAY_DISTANCE),
        def("AddElementTag", N::Base, TAG, ELEMENT_TAG),
        def("AddContainerTag", N::Base, TAG, ELEMENT_TAG),
        def("AddExternalContainerTag", N::Base, TAG, ELEMENT_TAG),
        def("AddComponentTag", N::Base, TAG, ELEMENT_TAG),
        def("AddExternalComponentTag", N::Base, TAG, ELEMENT_TAG),
        def("UpdateElementStyle", N::Base, TAG, UPDATE_ELEMENT),
        def("AddPersonTag", N::Context, TAG, PERSON_TAG),
        def("AddExternalPersonTag", N::Context, TAG, PERSON_TAG),
        def("AddSystemTag", N::Context, TAG, PERSON_TAG),
        def("AddExternalSystemTag", N::Context, TAG, PERSON_TAG),
        def("AddNodeTag", N::Deployment, TAG, NODE_TAG),
        def("AddBoundaryTag", N::Base, BOUNDARY_TAG_ACTION, BOUNDARY_TAG),
        def(
            "UpdateBoundaryStyle",
            N::Base,
            BOUNDARY_TAG_ACTION,
            UPDATE_BOUNDARY,
        ),
        style(
            "UpdateEnterpriseBoundaryStyle",
            N::Context,
            KIND_BOUNDARY_STYLE,
        ),
        style("UpdateSystemBoundaryStyle", N::Context, KIND_BOUNDARY_STYLE),
        style(
            "UpdateContainerBoundaryStyle",
            N::Container,
            KIND_BOUNDARY_STYLE,
        ),
        def("AddRelTag", N::Base, Action::RelTag, REL_TAG),
        both("SetPropertyHeader", Action::PropHeader, PROPS),
        both("WithoutPropertyHeader", Action::NoPropHeader, &[]),
        both("AddProperty", Action::AddProp, PROPS),
        def("increment", N::Base, Action::Increment, &["offset"]),
        def("setIndex", N::Base, Action::SetIndexProc, &["new_index"]),
        def("LAYOUT_LANDSCAPE", N::Base, Action::Landscape, &[]),
        def("SHOW_INDEX", N::Sequence, Action::ShowIndex, SHOW),
        style("SHOW_ELEMENT_DESCRIPTIONS", N::Sequence, SHOW),
        style("SHOW_FOOT_BOXES", N::Sequence, SHOW),
        style("UpdateRelStyle", N::Base, &["textColor", "lineColor"]),
        style("UpdateLegendTitle", N::Base, &["newTitle"]),
        style("SetDefaultLegendEntries", N::Base, &["tagStereoEntries"]),
        style(
            "UpdateSkinparamsAndLegendEntry",
            N::Base,
            &[
                "elementName",
                "bgColor",
                "fontColor",
                "borderColor",
                "shadowing",
            ],
        ),
        style(
            "SET_SKETCH_STYLE",
            N::Base,
            &[
                "bgColor",
                "fontColor",
                "warningColor",
                "fontName",
                "footerWarning",
                "footerText",
            ],
        ),
        style("SHOW_LEGEND", N::Base, &["hideStereotype", "details"]),
        style("SHOW_DYNAMIC_LEGEND", N::Base, &["hideStereotype"]),
        style(
            "SHOW_FLOATING_LEGEND",
            N::Base,
            &["alias", "hideStereotype", "details"],
        ),
        style("C4VersionDetails", N::Base, &[]),
        style("HIDE_STEREOTYPE", N::Base, &[]),
        style("LAYOUT_AS_SKETCH", N::Base, &[]),
        style("LAYOUT_TOP_DOWN", N::Base, &[]),
        style("LAYOUT_LEFT_RIGHT", N::Base, &[]),
        style("LAYOUT_WITH_LEGEND", N::Context, &[]),
        style("HIDE_PERSON_SPRITE", N::Context, &[]),
        style("SHOW_PERSON_PORTRAIT", N::Context, &[]),
        style("SHOW_PERSON_OUTLINE", N::Context, &[]),
        style("SHOW_PERSON_SPRITE", N::Context, &["sprite"]),
        function("C4Version"),
        function("SharpCornerShape"),
        function("RoundedBoxShape"),
        function("EightSidedShape"),
        function("DottedLine"),
        function("DashedLine"),
        function("BoldLine"),
        function("SolidLine"),
        function("None"),
        function("Normal"),
        function("Small"),
        function("LEGEND"),
        function("Index"),
        function("LastIndex"),
        function("SetIndex"),
    ]
};

/// [`MACROS`] sorted by name, for binary search (a call line looks its
/// name up at least once).
static BY_NAME: LazyLock<Vec<&'static MacroDef>> = LazyLock::new(|| {
    let mut v: Vec<&'static MacroDef> = MACROS.iter().collect();
    v.sort_unstable_by_key(|m| m.name);
    v
});

fn find(name: &str) -> Option<&'static MacroDef> {
    let by = &*BY_NAME;
    by.binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| by[i])
}

/// The public C4 procedures visible with `libs`, chosen for `nargs`
/// arguments where the library overloads on arity (`Rel_`).
pub(crate) fn lookup(name: &str, libs: Libs, nargs: usize) -> Option<Macro> {
    let def = find(name)?;
    if !def.needs.met(libs) {
        return None;
    }
    let (dy, seq) = (libs.dynamic, libs.sequence);
    match def.proc {
        Proc::None => None,
        Proc::Fixed(action, params) => Some(Macro { action, params }),
        Proc::RawRel => {
            let (params, indexed) = match (dy, nargs) {
                (true, n) if n >= 6 => (REL_RAW_DYN6, true),
                (true, 5) => (REL_RAW_DYN5, true),
                (false, n) if n >= 5 => (REL_RAW5, false),
                _ => (REL_RAW4, false),
            };
            Some(Macro {
                action: Action::RawRel { indexed },
                params,
            })
        }
        Proc::Rel {
            dir,
            bidirectional,
            explicit_index,
        } => {
            let indexed = !bidirectional && !explicit_index && (dy || seq);
            // C4_Sequence only redefines `Rel`; the other variants keep the
            // C4.puml form
            let indexed = indexed && !(seq && name != "Rel");
            let params = if explicit_index {
                REL_INDEX
            } else if indexed && seq {
                REL_SEQ
            } else if indexed {
                REL_DYN
            } else {
                REL
            };
            Some(Macro {
                action: Action::Rel {
                    dir,
                    bidirectional,
                    explicit_index,
                    indexed,
                },
                params,
            })
        }
    }
}

/// Every public C4 procedure name (for "did you mean" suggestions).
pub(crate) fn procedure_names() -> impl Iterator<Item = &'static str> {
    MACROS
        .iter()
        .filter(|m| !matches!(m.proc, Proc::None))
        .map(|m| m.name)
}

/// C4 functions usable inside expressions (`Index()`, `DashedLine()`, ...).
pub(crate) fn is_function(name: &str, libs: Libs) -> bool {
    find(name).is_some_and(|m| m.function && m.needs.met(libs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let by = &*BY_NAME;
        for w in by.windows(2) {
            assert_ne!(
                w[0].name, w[1].name,
                "`{}` is in the table twice",
                w[0].name
            );
        }
    }

    #[test]
    fn macros_exist_only_with_their_library_file() {
        let mut ctx = Libs::default();
        ctx.load("C4_Context");
        assert!(lookup("Person", ctx, 2).is_some());
        assert!(lookup("Container", ctx, 2).is_none(), "needs C4_Container");
        assert!(lookup("RelIndex", ctx, 4).is_none(), "needs C4_Dynamic");
        assert!(
            lookup("Person", Libs::default(), 2).is_none(),
            "nothing loaded"
        );
        assert!(is_function("Index", ctx));
        assert!(!is_function("Index", Libs::default()));
        assert!(
            lookup("Index", ctx, 0).is_none(),
            "a function, not a statement"
        );
    }

    #[test]
    fn raw_rel_is_overloaded_on_arity_under_c4_dynamic() {
        let mut dy = Libs::default();
        dy.load("C4_Dynamic");
        let m = lookup("Rel_", dy, 6).map(|m| m.params);
        assert_eq!(m, Some(REL_RAW_DYN6));
        let mut base = Libs::default();
        base.load("C4");
        assert_eq!(lookup("Rel_", base, 5).map(|m| m.params), Some(REL_RAW5));
        assert_eq!(lookup("Rel_", base, 4).map(|m| m.params), Some(REL_RAW4));
    }

    #[test]
    fn sequence_numbers_only_plain_rel() {
        let mut seq = Libs::default();
        seq.load("C4_Sequence");
        assert_eq!(lookup("Rel", seq, 3).map(|m| m.params), Some(REL_SEQ));
        assert_eq!(lookup("Rel_D", seq, 3).map(|m| m.params), Some(REL));
    }
}
