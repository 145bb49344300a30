//! Fuzz target: any bytes, as a diagram (and as an include of one), must
//! parse without panicking and within the parser's step limits.
//! Run with `cargo +nightly fuzz run parse` from `preprocess/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preprocess::{BundleResolver, SourceFile, parse, parse_many, render_text};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let main = SourceFile { path: "main.puml".into(), text: text.clone() };
    let lib = SourceFile { path: "lib.iuml".into(), text };
    let wrapper = SourceFile {
        path: "wrap.puml".into(),
        text: "@startuml\n!include <C4/C4_Dynamic>\n!include lib.iuml\n@enduml\n".into(),
    };
    let resolver = BundleResolver::new(vec![main.clone(), lib, wrapper.clone()]);
    let m = parse(&main, &resolver);
    let _ = render_text(&m, std::slice::from_ref(&main));
    let _ = parse_many(&[wrapper], &resolver);
});
