//! Golden tests: the exact JSON of every message is a contract with third-party clients.

use serde_json::json;
use shared::{ClientMessage, ErrorBody, ServerBody, ServerMessage, SignIn, User};

fn message(body: ServerBody) -> ServerMessage {
    ServerMessage {
        id: 42,
        ts: 1_764_070_000_000,
        user: User::new(7, "Alice"),
        room: None,
        body,
    }
}

/// Serializes, compares with the golden text, and checks the round trip.
fn assert_golden(msg: ServerMessage, golden: &str) {
    let json = serde_json::to_string(&msg).expect("serializes");
    assert_eq!(json, golden);
    let back: ServerMessage = serde_json::from_str(golden).expect("parses");
    assert_eq!(back, msg);
}

#[test]
fn join_message_has_the_documented_shape() {
    assert_golden(
        message(ServerBody::Join("Alice joined.".into())),
        r#"{"id":42,"type":"join","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"Alice joined.","ts":1764070000000}"#,
    );
}

#[test]
fn left_message_has_the_documented_shape() {
    assert_golden(
        message(ServerBody::Left("Alice left.".into())),
        r#"{"id":42,"type":"left","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"Alice left.","ts":1764070000000}"#,
    );
}

#[test]
fn chat_message_has_the_documented_shape() {
    assert_golden(
        message(ServerBody::Chat {
            text: "hello <b>there</b> \"quoted\"".into(),
            cid: None,
            mentions: Vec::new(),
        }),
        r#"{"id":42,"type":"chat","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"hello <b>there</b> \"quoted\"","ts":1764070000000}"#,
    );
}

#[test]
fn list_message_carries_users_in_data() {
    assert_golden(
        message(ServerBody::List(vec![
            User::new(7, "Alice"),
            User::new(12, "Bob"),
        ])),
        r#"{"id":42,"type":"list","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":[{"id":7,"name":"Alice","image":7,"guest":false},{"id":12,"name":"Bob","image":2,"guest":false}],"ts":1764070000000}"#,
    );
}

#[test]
fn error_message_has_the_documented_shape() {
    assert_golden(
        message(ServerBody::Error(shared::Refusal::new(
            shared::ErrorCode::TooLong,
            "message is too long",
        ))),
        r#"{"id":42,"type":"error","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"message is too long","ts":1764070000000,"code":"too_long"}"#,
    );
}

#[test]
fn unknown_server_message_type_is_an_error() {
    let text = r#"{"id":1,"type":"shout","user":{"id":7,"name":"A","image":7,"guest":false},"data":"x","ts":1}"#;
    assert!(serde_json::from_str::<ServerMessage>(text).is_err());
}

#[test]
fn client_chat_message_has_the_documented_shape() {
    let msg = ClientMessage::chat("hello");
    assert_eq!(
        serde_json::to_value(&msg).unwrap(),
        json!({"type": "chat", "text": "hello"})
    );
    let back: ClientMessage = serde_json::from_str(r#"{"type":"chat","text":"hello"}"#).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn client_message_ignores_extra_fields() {
    let back: ClientMessage =
        serde_json::from_str(r#"{"type":"chat","text":"hi","extra":[1,2]}"#).unwrap();
    assert_eq!(back, ClientMessage::chat("hi"));
}

#[test]
fn client_message_with_unknown_type_is_rejected() {
    assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"shout","text":"x"}"#).is_err());
    assert!(serde_json::from_str::<ClientMessage>(r#"{"text":"x"}"#).is_err());
}

#[test]
fn user_object_has_the_documented_shape() {
    assert_eq!(
        serde_json::to_string(&User::new(13, "Zoë")).unwrap(),
        r#"{"id":13,"name":"Zoë","image":3,"guest":false}"#
    );
}

#[test]
fn sign_in_and_error_bodies_have_the_documented_shape() {
    assert_eq!(
        serde_json::to_string(&SignIn {
            name: "Ada".into(),
            password: None
        })
        .unwrap(),
        r#"{"name":"Ada"}"#
    );
    assert_eq!(
        serde_json::to_string(&ErrorBody {
            error: "nope".into(),
            code: shared::ErrorCode::NotFound,
            retry_after: None,
        })
        .unwrap(),
        r#"{"error":"nope","code":"not_found"}"#
    );
    let old: ErrorBody = serde_json::from_str(r#"{"error":"nope"}"#).unwrap();
    assert_eq!(old.code.as_str(), "", "a body without a code still reads");
}

#[test]
fn error_frame_carries_code_and_the_refused_cid_after_ts() {
    assert_golden(
        message(ServerBody::Error(
            shared::Refusal::new(shared::ErrorCode::RateLimited, "slow down")
                .for_cid(Some("c1".into())),
        )),
        r#"{"id":42,"type":"error","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"slow down","ts":1764070000000,"code":"rate_limited","cid":"c1"}"#,
    );
}

#[test]
fn room_scoped_chat_carries_room_and_mentions_after_ts() {
    let mut msg = message(ServerBody::Chat {
        text: "hi @Bob".into(),
        cid: None,
        mentions: vec![12],
    });
    msg.room = Some(3);
    assert_golden(
        msg,
        r#"{"id":42,"type":"chat","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"hi @Bob","ts":1764070000000,"room":3,"mentions":[12]}"#,
    );
}

#[test]
fn signals_have_no_id_and_parse_apart_from_messages() {
    let typing = shared::Signal::Typing {
        room: 3,
        user: User::new(7, "Alice"),
    };
    let json = serde_json::to_string(&typing).unwrap();
    assert_eq!(
        json,
        r#"{"type":"typing","room":3,"user":{"id":7,"name":"Alice","image":7,"guest":false}}"#
    );
    assert_eq!(
        shared::ServerFrame::parse(&json).unwrap(),
        shared::ServerFrame::Signal(typing)
    );
    let read = r#"{"type":"read","room":3,"last":99}"#;
    assert_eq!(
        shared::ServerFrame::parse(read).unwrap(),
        shared::ServerFrame::Signal(shared::Signal::Read { room: 3, last: 99 })
    );
    let chat = serde_json::to_string(&message(ServerBody::chat("x"))).unwrap();
    assert!(matches!(
        shared::ServerFrame::parse(&chat).unwrap(),
        shared::ServerFrame::Message(_)
    ));
}

#[test]
fn client_read_and_typing_have_the_documented_shapes() {
    assert_eq!(
        serde_json::from_str::<ClientMessage>(r#"{"type":"read","room":3,"id":99}"#).unwrap(),
        ClientMessage::Read { room: 3, id: 99 }
    );
    assert_eq!(
        serde_json::to_value(ClientMessage::Typing { room: 3 }).unwrap(),
        json!({"type": "typing", "room": 3})
    );
    assert_eq!(
        serde_json::to_value(ClientMessage::chat_in(3, "hi", "c1")).unwrap(),
        json!({"type": "chat", "room": 3, "text": "hi", "cid": "c1"})
    );
}

#[test]
fn chat_message_with_cid_carries_it_after_ts() {
    assert_golden(
        message(ServerBody::Chat {
            text: "hi".into(),
            cid: Some("c-1".into()),
            mentions: Vec::new(),
        }),
        r#"{"id":42,"type":"chat","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"hi","ts":1764070000000,"cid":"c-1"}"#,
    );
}

#[test]
fn history_message_holds_full_envelopes_and_truncated() {
    let old = ServerMessage {
        id: 3,
        ts: 1_764_069_000_000,
        user: User::new(12, "Bob"),
        room: None,
        body: ServerBody::Chat {
            text: "earlier".into(),
            cid: None,
            mentions: Vec::new(),
        },
    };
    assert_golden(
        message(ServerBody::History {
            messages: vec![old],
            truncated: true,
        }),
        r#"{"id":42,"type":"history","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":[{"id":3,"type":"chat","user":{"id":12,"name":"Bob","image":2,"guest":false},"data":"earlier","ts":1764069000000}],"ts":1764070000000,"truncated":true}"#,
    );
}

#[test]
fn client_chat_message_with_cid_has_the_documented_shape() {
    let msg = ClientMessage::chat_with_cid("hello", "abc");
    assert_eq!(
        serde_json::to_value(&msg).unwrap(),
        json!({"type": "chat", "text": "hello", "cid": "abc"})
    );
}

#[test]
fn sign_in_with_password_has_the_documented_shape() {
    let body: SignIn = serde_json::from_str(r#"{"name":"Ada","password":"hunter22"}"#).unwrap();
    assert_eq!(body.password.as_deref(), Some("hunter22"));
}
