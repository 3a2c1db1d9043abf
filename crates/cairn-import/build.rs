// Compiles proto/tensorboard.proto and proto/wandb.proto (the parts of TensorBoard's
// event records and W&B's transaction log Cairn reads) with protox, so no system `protoc`
// is needed.
fn main() {
    println!("cargo:rerun-if-changed=proto/tensorboard.proto");
    println!("cargo:rerun-if-changed=proto/wandb.proto");
    let fds = protox::compile(["proto/tensorboard.proto", "proto/wandb.proto"], ["proto"]).expect("the protos compile");
    prost_build::Config::new().compile_fds(fds).expect("code generation");
}
