//! Generates the `WhoAmI` service's server and client code from a Rust description: no `.proto`
//! file and no `protoc` (the messages are hand-written prost structs in `src/lib.rs`).

fn main() {
    let who_am_i = tonic_build::manual::Service::builder()
        .name("WhoAmI")
        .package("passage.example")
        .comment("Who the caller is, by their Passage token.")
        .method(
            tonic_build::manual::Method::builder()
                .name("who_am_i")
                .route_name("WhoAmI")
                .comment("The user id of the token in the `authorization` metadata.")
                .input_type("crate::WhoAmIRequest")
                .output_type("crate::WhoAmIReply")
                .codec_path("tonic_prost::ProstCodec")
                .build(),
        )
        .build();
    tonic_build::manual::Builder::new().compile(&[who_am_i]);
}
