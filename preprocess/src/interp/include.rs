//! `!include` and its variants: the C4 library files by any spelling
//! (resolved natively, never read), other files through the
//! [`IncludeResolver`](crate::IncludeResolver), with depth and once-only
//! bounds.

use super::*;

impl<'a> Interp<'a> {
    pub(super) fn include(&mut self, arg: &str, once: bool, l: &SrcLine<'_>) {
        let target = self.apply_defines(arg);
        let target = expr::substitute(target.trim(), self, true);
        let target = lexer::unquote_whole(&target)
            .unwrap_or(&target)
            .trim()
            .to_string();
        // `file.puml!2` / `file.puml!ID` name one `@startuml` block of the
        // file, but PlantUML (1.2026) includes the first block whatever
        // the selector: so does c4forge, and says so
        let target = match target.rfind('!') {
            Some(p) if p > 0 && !target[p..].contains('/') => {
                self.warning(
                    l,
                    format!(
                        "block selector `{}` is ignored: PlantUML includes the first `@startuml` block of `{}`",
                        &target[p..],
                        &target[..p]
                    ),
                );
                target[..p].to_string()
            }
            _ => target,
        };
        if target.is_empty() {
            self.error(l, "`!include` needs a file".into());
            return;
        }
        let is_url = target.contains("://");
        if let Some(stem) = c4::library_stem(&target) {
            self.c4.libs.load(stem);
            return;
        }
        if let Some(lib) = target.strip_prefix('<') {
            // PlantUML standard library (icons, themes): sprites only, no
            // model meaning; but a C4 file the library lacks is an error
            let lib = lib.trim_end_matches('>');
            let in_c4 = lib.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("c4/"));
            let theme = lib
                .get(3..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("themes/"));
            if in_c4 && !theme {
                self.error(
                    l,
                    format!(
                        "cannot include `{target}`: the C4-PlantUML library has no such file (it has {})",
                        c4::LIBRARY_FILES.join(", ")
                    ),
                );
            }
            return;
        }
        let from = self.include_stack.last().cloned().unwrap_or_default();
        let found = if is_url {
            let name = target.rsplit('/').next().unwrap_or("");
            match self.resolver.resolve(&from, name) {
                Ok(f) if !name.is_empty() => Some(f),
                _ => {
                    self.warning(
                        l,
                        format!("include of URL `{target}` skipped: c4forge works offline and only has the C4-PlantUML library built in"),
                    );
                    return;
                }
            }
        } else {
            match self.resolver.resolve(&from, &target) {
                Ok(f) => Some(f),
                Err(e) => {
                    self.error(l, format!("cannot include `{target}`: {e}"));
                    return;
                }
            }
        };
        let Some(file) = found else { return };
        if self.include_stack.contains(&file.path) {
            self.error(l, format!("include cycle: `{}` includes itself", file.path));
            return;
        }
        if self.include_stack.len() > MAX_INCLUDE_DEPTH {
            self.error(
                l,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"),
            );
            return;
        }
        if once && !self.once.insert(file.path.clone()) {
            return;
        }
        self.once.insert(file.path.clone());
        let idx = match self.files.iter().position(|p| *p == file.path) {
            Some(i) => i,
            None => {
                self.files.push(file.path.clone());
                self.file_names.push(Rc::from(file.path.as_str()));
                self.loaded.push(file.clone());
                self.files.len() - 1
            }
        };
        let lines = lexer::logical_lines(&file.text, idx);
        let lines = first_block(lines);
        if self.budget.included.insert(file.path.clone()) {
            // counted once per parse: including a file in a loop, or in
            // every diagram, must not grow the budgets every time
            self.add_budget(&lines);
        }
        self.include_stack.push(file.path.clone());
        self.run(&lines);
        self.include_stack.pop();
    }
}
