//! `c4forge convert --fill`: a fill into a directory on disk, where the
//! user may have edited `impl/` modules since the last run.

use std::collections::BTreeMap;
use std::path::Path;

use infer::regen::{Action, Plan};
use schemas::files::FileSet;

use crate::prompt;

/// The `impl/` modules of `files` that must not be filled in `out_dir`
/// (edited by the user, or not written by c4forge), with the reason.
pub fn off_limits(out_dir: &Path, files: &FileSet) -> std::io::Result<BTreeMap<String, String>> {
    let paths: Vec<String> = prompt::targets(files).into_iter().map(|t| t.path).collect();
    crate::record::edited_modules(out_dir, &paths)
}

/// Makes a regeneration plan write the filled modules: regeneration keeps
/// an existing user-owned file, but one still as c4forge wrote it (checked
/// by [`off_limits`] before the fill) is replaced by its filled body.
pub fn write_filled(plan: &mut Plan, filled: &[String]) {
    for a in &mut plan.actions {
        if let Action::Keep { path, .. } = a
            && filled.contains(path)
        {
            *a = Action::Update {
                path: path.clone(),
                overwrites_edit: false,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kept_filled_modules_become_updates() {
        let mut plan = Plan {
            actions: vec![
                Action::Keep {
                    path: "a/impl/x.py".into(),
                    reason: "user-owned, never overwritten".into(),
                    warn: false,
                },
                Action::Keep {
                    path: "a/impl/y.py".into(),
                    reason: "user-owned, never overwritten".into(),
                    warn: false,
                },
                Action::Create {
                    path: "a/impl/z.py".into(),
                },
            ],
        };
        write_filled(&mut plan, &["a/impl/x.py".into(), "a/impl/z.py".into()]);
        assert_eq!(
            plan.lines(),
            vec![
                "update  a/impl/x.py",
                "keep    a/impl/y.py (user-owned, never overwritten)",
                "create  a/impl/z.py",
            ]
        );
    }
}
