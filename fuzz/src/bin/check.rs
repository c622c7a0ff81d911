//! Fuzzes the synchronous validation path (size, cache, shape, segments, base64, header JSON,
//! algorithm and kid rules) on an arbitrary `Authorization` value. No input may authenticate.

use passage_core::{
    Passage, TokenSource,
    adapter::{Admission, Decision, Hooks as _},
};

fn main() {
    let built = Passage::builder("fuzz_app")
        .auth_url("http://127.0.0.1:9")
        .api_url("http://127.0.0.1:9")
        .build();
    // A client that cannot be built would fuzz nothing: say so and fail the run.
    let passage = match built {
        Ok(passage) => passage,
        Err(err) => {
            eprintln!("fuzz_check: the client could not be built: {err}");
            std::process::exit(2);
        }
    };
    // A panic aborts the run (that is the finding); no state needs to survive it.
    let passage = std::panic::AssertUnwindSafe(passage);
    afl::fuzz!(|data: &[u8]| {
        let admission = Admission::required(TokenSource::default());
        if let Decision::Ready(Ok(claims)) = passage.auth().admit(admission, [data], []) {
            panic!("authenticated {claims:?}");
        }
    });
}
