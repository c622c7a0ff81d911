//! `example-tonic` (the `WhoAmI` gRPC service behind `PassageLayer`) with a real tonic client
//! over loopback HTTP/2: the token travels in the `authorization` metadata.

use std::time::Duration;

use example_tonic::{WhoAmIRequest, who_am_i_client::WhoAmIClient};
use passage_emulator::{Fault, Target};
use passage_tests::{Running, USER_ID, fast, start_tonic};
use tonic::{Code, transport::Channel};

async fn client(server: &Running) -> WhoAmIClient<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(server.base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    WhoAmIClient::new(channel)
}

/// Calls `WhoAmI` with `authorization` metadata when given: the user id, or the status code.
async fn who_am_i(
    client: &mut WhoAmIClient<Channel>,
    authorization: Option<&str>,
) -> Result<String, Code> {
    let mut request = tonic::Request::new(WhoAmIRequest {});
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    client
        .who_am_i(request)
        .await
        .map(|reply| reply.into_inner().user_id)
        .map_err(|status| status.code())
}

#[tokio::test]
async fn who_am_i_answers_the_user_of_the_token_in_the_metadata() {
    let server = start_tonic(fast).await.unwrap();
    let mut client = client(&server).await;
    let emu = &server.emulator;
    let token = emu.mint_token(USER_ID).unwrap();

    assert_eq!(Code::Unauthenticated as i32, 16);
    assert_eq!(
        who_am_i(&mut client, None).await,
        Err(Code::Unauthenticated),
        "no token"
    );
    // The first valid call fetches the keys; the second is served from the verified cache.
    for _ in 0..2 {
        assert_eq!(
            who_am_i(&mut client, Some(&format!("Bearer {token}"))).await,
            Ok(USER_ID.to_owned())
        );
    }
    let other = emu.mint_token("someone-else").unwrap();
    assert_eq!(
        who_am_i(&mut client, Some(&format!("bearer {other}"))).await,
        Ok("someone-else".to_owned()),
        "each call is its own user"
    );
    let expired = emu.token(USER_ID).expires_in_secs(-5).sign().unwrap();
    let wrong_app = emu.token(USER_ID).claim("aud", "other_app").sign().unwrap();
    let tampered = format!("{}x", &token[..token.len() - 1]);
    for (name, value) in [
        ("garbage", "Bearer x.y.z".to_owned()),
        ("no scheme", token.clone()),
        ("basic", "Basic dXNlcjpwYXNz".to_owned()),
        ("expired", format!("Bearer {expired}")),
        ("another app's", format!("Bearer {wrong_app}")),
        ("tampered", format!("Bearer {tampered}")),
    ] {
        assert_eq!(
            who_am_i(&mut client, Some(&value)).await,
            Err(Code::Unauthenticated),
            "{name} token"
        );
    }
    // The channel still works after the refusals.
    assert_eq!(
        who_am_i(&mut client, Some(&format!("Bearer {token}"))).await,
        Ok(USER_ID.to_owned())
    );
}

#[tokio::test]
async fn unavailable_signing_keys_are_grpc_unavailable_then_recover() {
    let server = start_tonic(fast).await.unwrap();
    let mut client = client(&server).await;
    let token = server.emulator.mint_token(USER_ID).unwrap();
    let bearer = format!("Bearer {token}");

    server.emulator.set_fault(Target::Jwks, Fault::Unavailable);
    assert_eq!(Code::Unavailable as i32, 14);
    assert_eq!(
        who_am_i(&mut client, Some(&bearer)).await,
        Err(Code::Unavailable)
    );
    // No token is still a client error, whatever the keys.
    assert_eq!(
        who_am_i(&mut client, None).await,
        Err(Code::Unauthenticated)
    );

    server.emulator.clear_fault(Target::Jwks);
    // The client backs off (100-200 ms with `fast`) before it fetches again.
    let mut answer = Err(Code::Unavailable);
    for _ in 0..50 {
        answer = who_am_i(&mut client, Some(&bearer)).await;
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer, Ok(USER_ID.to_owned()));
}
