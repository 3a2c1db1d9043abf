//! Release builds embed `web/dist`: rebuild when the UI is rebuilt (Vite's file names
//! change with their content, so the folder, not a file list, is what to watch).
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
