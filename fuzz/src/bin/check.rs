//! Fuzzes the synchronous validation path (size, cache, shape, segments, base64, header JSON,
//! algorithm and kid rules) on an arbitrary `Authorization` value. No input may authenticate.

use passage_core::{Passage, TokenSource, auth::Check};

fn main() {
    let Ok(passage) = Passage::builder("fuzz_app").auth_url("http://127.0.0.1:9").build() else {
        return;
    };
    // A panic aborts the run (that is the finding); no state needs to survive it.
    let passage = std::panic::AssertUnwindSafe(passage);
    afl::fuzz!(|data: &[u8]| {
        if let Check::Done(Ok(claims)) = passage.auth().check(TokenSource::default(), [data], []) {
            panic!("authenticated {claims:?}");
        }
    });
}
