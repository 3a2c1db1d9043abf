//! MLflow's search syntax as the MLflow adapter reads it: any filter or order_by
//! text gives a query or an error, never a panic; queries stay within Cairn's limits
//! or are refused by them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Some(expr)) = cairn_query::mlflow::run_filter(text) {
        let _ = expr.check_limits();
        let _ = expr.to_string();
    }
    let clauses: Vec<String> = text.split(',').map(str::to_owned).collect();
    let _ = cairn_query::mlflow::run_order(&clauses);
});
