// Compiles proto/tensorboard.proto (the parts of TensorBoard's event records Cairn
// reads) with protox, so no system `protoc` is needed.
fn main() {
    println!("cargo:rerun-if-changed=proto/tensorboard.proto");
    let fds = protox::compile(["proto/tensorboard.proto"], ["proto"]).expect("proto/tensorboard.proto compiles");
    prost_build::Config::new().compile_fds(fds).expect("code generation");
}
