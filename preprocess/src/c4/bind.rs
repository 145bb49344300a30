//! Binding a call's arguments to a macro's parameters, as PlantUML binds
//! those of a procedure, and the bound values the macro then reads.

use schemas::model::v1::Text;

use super::{Action, C4State, Macro};
use crate::diagnostics::{Diags, Loc};
use crate::expr::Value;

/// The bound arguments of one call.
pub(crate) struct Bound {
    /// The value bound to each parameter and the 1-based column of the
    /// argument it came from, when known (one vector: one allocation).
    pub(super) slots: Vec<(Option<Text>, Option<u32>)>,
    pub(super) params: &'static [&'static str],
}

impl Bound {
    pub(super) fn get(&self, p: &str) -> Text {
        self.params
            .iter()
            .position(|x| *x == p)
            .and_then(|i| self.slots.get(i).and_then(|s| s.0.clone()))
            .unwrap_or_default()
    }

    /// Like [`Bound::get`], but moves the value out (no copy): only for a
    /// parameter that is not read again.
    pub(super) fn take(&mut self, p: &str) -> Text {
        self.params
            .iter()
            .position(|x| *x == p)
            .and_then(|i| self.slots.get_mut(i).and_then(|s| s.0.take()))
            .unwrap_or_default()
    }

    /// The value of `p`, borrowed (`""` when not given).
    pub(super) fn str(&self, p: &str) -> &str {
        self.params
            .iter()
            .position(|x| *x == p)
            .and_then(|i| self.slots.get(i).and_then(|s| s.0.as_deref()))
            .unwrap_or("")
    }

    /// `base` moved to the column of parameter `p`'s argument.
    pub(super) fn loc(&self, p: &str, base: &Loc) -> Loc {
        let col = self
            .params
            .iter()
            .position(|x| *x == p)
            .and_then(|i| self.slots.get(i).and_then(|s| s.1));
        Loc {
            column: col.unwrap_or(base.column),
            ..base.clone()
        }
    }
}

impl C4State {
    /// Binds positional and keyword arguments to `m`'s parameters,
    /// reporting arity and unknown-keyword problems.
    /// `args` is left empty (its buffer can be reused).
    ///
    /// As PlantUML binds the arguments of a procedure: keyword arguments
    /// first, wherever they stand; positional ones then take the parameters
    /// left, in order; positional ones left over when the keywords took
    /// their parameters are dropped (a warning here, silence in PlantUML).
    /// More positional arguments than parameters is an error, as PlantUML
    /// rejects the call (`Function not found`).
    pub fn bind(
        &mut self,
        name: &str,
        m: &Macro,
        args: &mut Vec<(Option<String>, Value)>,
        loc: &Loc,
        d: &mut Diags,
    ) -> Option<Bound> {
        let positional = args.iter().filter(|(k, _)| k.is_none()).count();
        if positional > m.params.len() {
            d.error(
                loc,
                format!(
                    "too many arguments for `{name}`: {positional} positional, it takes at most {} (PlantUML rejects the call too)",
                    m.params.len()
                ),
            );
            args.clear();
            return None;
        }
        let mut slots = self.slot_pool.pop().unwrap_or_default();
        slots.resize_with(m.params.len(), || (None, None));
        let mut pos = 0usize;
        // keyword arguments bind first, wherever they stand; positional
        // ones then take the parameters left, in order (`Container(a, "A",
        // "descr", $techn="T")` has a description), as PlantUML binds them
        for (n, (k, v)) in args.iter_mut().enumerate() {
            let Some(k) = k.as_deref() else { continue };
            let col = self.arg_cols.get(n).copied();
            match m.params.iter().position(|p| *p == k) {
                Some(i) => {
                    let v = std::mem::replace(v, Value::Int(0));
                    slots[i] = (Some(v.into_text()), col);
                }
                None => d.warning(
                    loc,
                    format!("`{name}` has no parameter `${k}`; the argument is ignored"),
                ),
            }
        }
        let mut dropped = 0usize;
        let mut first_dropped = None;
        for (n, (k, v)) in args.drain(..).enumerate() {
            if k.is_some() {
                continue;
            }
            while slots.get(pos).is_some_and(|s| s.0.is_some()) {
                pos += 1;
            }
            if pos >= m.params.len() {
                dropped += 1;
                first_dropped.get_or_insert(n);
                continue;
            }
            slots[pos] = (Some(v.into_text()), self.arg_cols.get(n).copied());
            pos += 1;
        }
        if let Some(first) = first_dropped {
            // the caret points at the first argument dropped
            let at = Loc {
                column: self.arg_cols.get(first).copied().unwrap_or(loc.column),
                ..loc.clone()
            };
            let keywords = m.params.len() + dropped - positional;
            d.warning(
                &at,
                format!(
                    "`{name}` takes {} arguments, {keywords} of them given by keyword: {dropped} positional argument{} left over {} ignored (PlantUML drops {} too)",
                    m.params.len(),
                    if dropped == 1 { "" } else { "s" },
                    if dropped == 1 { "is" } else { "are" },
                    if dropped == 1 { "it" } else { "them" },
                ),
            );
        }
        let required = match m.action {
            Action::Element { .. } | Action::Boundary(_) | Action::Node => 2,
            Action::Rel { explicit_index, .. } => 3 + usize::from(explicit_index),
            Action::RawRel { .. } => m.params.len(),
            Action::Lay => 2,
            Action::ElementTag { boundary: true } if m.params[0] == "elementName" => 0,
            Action::ElementTag { .. } | Action::RelTag => 1,
            Action::AddProp | Action::PropHeader => 1,
            Action::SetIndexProc => 1,
            _ => 0,
        };
        let required = required.min(m.params.len());
        if let Some(missing) = (0..required).find(|&i| slots[i].0.is_none()) {
            d.error(
                loc,
                format!(
                    "`{name}` needs its `${}` argument",
                    m.params.get(missing).copied().unwrap_or("?")
                ),
            );
            self.recycle(Bound {
                slots,
                params: m.params,
            });
            return None;
        }
        Some(Bound {
            slots,
            params: m.params,
        })
    }

    /// Keeps the buffer of a used [`Bound`] for the next call (the values
    /// left in it are dropped).
    pub(super) fn recycle(&mut self, b: Bound) {
        let mut slots = b.slots;
        slots.clear();
        if self.slot_pool.len() < 4 {
            self.slot_pool.push(slots);
        }
    }
}
