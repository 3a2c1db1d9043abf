//! A command's flags as `cairn run` reads them into the run's config, and the one
//! text rule for parameter values: any arguments give a config, never a panic; each
//! value keeps its text (nothing is lost) and has a meaning.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let config = cairn_domain::config_from_flags(&args);
    let _ = serde_json::to_string(&config).expect("a config always serialises");
    for leaf in cairn_domain::leaves(&config).values() {
        let _ = cairn_domain::meaning(leaf);
    }
    for a in &args {
        let v = cairn_domain::value_from_text(a);
        // Lossless: a number or boolean reads back as exactly the text given.
        match &v {
            Value::String(s) => assert_eq!(s, a),
            Value::Number(n) => assert_eq!(&n.to_string(), a, "{a:?} became the number {n}"),
            Value::Bool(b) => assert_eq!(&b.to_string(), a),
            other => panic!("{a:?} became {other}"),
        }
        let _ = cairn_domain::meaning(&v);
    }
});
