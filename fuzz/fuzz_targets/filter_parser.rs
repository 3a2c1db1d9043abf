//! Cairn's filter and ordering language: any text gives a query or a positioned
//! error, never a panic; a query printed back parses to the same query.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match cairn_query::parse_filter(text) {
        Ok(Some(expr)) => {
            let _ = expr.check_limits();
            let printed = expr.to_string();
            let again = cairn_query::parse_filter(&printed)
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
            assert_eq!(again.as_ref(), Some(&expr), "{text:?} printed as {printed:?} reads differently");
        }
        Ok(None) => {}
        Err(e) => assert!(e.position <= text.len(), "error position {} past the end of {text:?}", e.position),
    }
    let _ = cairn_query::parse_order(text);
});
