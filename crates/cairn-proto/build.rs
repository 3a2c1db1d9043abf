// Compiles proto/cairn.proto with protox (pure Rust), so no system `protoc` is needed.
fn main() {
    println!("cargo:rerun-if-changed=proto/cairn.proto");
    let fds = protox::compile(["proto/cairn.proto"], ["proto"]).expect("proto/cairn.proto compiles");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Clients bring their own channel; the server build needs no client transport.
        .build_transport(false)
        .compile_fds(fds)
        .expect("code generation");
}
