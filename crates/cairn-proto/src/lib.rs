//! gRPC wire types and the `Cairn` service, generated at build time from
//! `proto/cairn.proto`. No logic lives here.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("cairn.v1");
}
