//! Chat over real HTTP: conversations, history, claim, validation, limits, and who can
//! see what.

use parley_e2e::*;
use serde_json::json;
use uuid::Uuid;

fn conversation_of(reply: &Reply) -> Uuid {
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["message"]["conversation_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_message_starts_a_conversation_at_index_zero_linked_to_genesis() {
    let who = as_user(Uuid::now_v7());
    let reply = post_message(&who, "  Hello there!  ", None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let m = &reply.body["message"];
    assert_eq!(m["role"], "user");
    assert_eq!(m["content"], "Hello there!");
    assert_eq!(m["chain_index"], 0);
    assert_eq!(m["prev_hash"], "0".repeat(64));
    assert_eq!(m["message_hash"].as_str().unwrap().len(), 64);
    // AND the assistant's reply follows it in the same chain
    let r = &reply.body["reply"];
    assert_eq!((r["role"].as_str(), r["chain_index"].as_i64()), (Some("assistant"), Some(1)));
    assert_eq!(r["prev_hash"], m["message_hash"]);
    let next = post_message(&who, "second", Some(conversation_of(&reply))).await;
    assert_eq!(next.body["message"]["chain_index"], 2);
    assert_eq!(next.body["message"]["prev_hash"], r["message_hash"]);
}

#[tokio::test]
async fn anonymous_chat_claimed_by_a_user_moves_the_whole_history() {
    // GIVEN an anonymous visitor with a conversation of three messages
    let (session, anon_token) = anonymous_session().await;
    let anon = as_anonymous(&anon_token);
    let first = post_message(&anon, "one", None).await;
    let conversation = conversation_of(&first);
    post_message(&anon, "two", Some(conversation)).await.assert_status(201);
    post_message(&anon, "three", Some(conversation)).await.assert_status(201);
    let history_path = format!("/v1/chat/conversations/{conversation}/messages");
    let before = get_as(&history_path, &anon).await;
    assert_eq!(before.status, 200);

    // WHEN a user claims the session
    let user = Uuid::now_v7();
    let mut both = as_user(user);
    both.extend(anon.clone());
    let claim = post_as("/v1/sessions/claim", &both).await;
    assert_eq!(claim.status, 200, "{}", claim.body);
    assert_eq!(claim.body["session_id"], session.to_string());
    assert_eq!(claim.body["newly_claimed"], true);
    assert_eq!(claim.body["conversations_moved"], 1);

    // THEN the user sees the same history, the anonymous token no longer does
    let after = get_as(&history_path, &as_user(user)).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body["messages"], before.body["messages"]);
    // (issue 13: a claimed session's token is refused outright)
    get_as(&history_path, &anon).await.assert_problem(401);
    // AND another caller gets 404, as if it did not exist
    get_as(&history_path, &as_user(Uuid::now_v7())).await.assert_problem(404);
    // AND the user can go on writing in it
    let more = post_message(&as_user(user), "four", Some(conversation)).await;
    assert_eq!(more.body["message"]["chain_index"], 6);

    // Claiming again is a no-op; another user cannot claim it
    let again = post_as("/v1/sessions/claim", &both).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["newly_claimed"], false);
    assert_eq!(again.body["conversations_moved"], 0);
    let mut thief = as_user(Uuid::now_v7());
    thief.extend(anon);
    post_as("/v1/sessions/claim", &thief).await.assert_problem(409);
}

#[tokio::test]
async fn a_claim_needs_both_credentials() {
    post_as("/v1/sessions/claim", &as_user(Uuid::now_v7())).await.assert_problem(401);
    let (_, anon) = anonymous_session().await;
    post_as("/v1/sessions/claim", &as_anonymous(&anon)).await.assert_problem(401);
}

#[tokio::test]
async fn someone_elses_conversation_is_not_found_for_every_route() {
    let owner = as_user(Uuid::now_v7());
    let conversation = conversation_of(&post_message(&owner, "private", None).await);
    let stranger = as_user(Uuid::now_v7());
    post_message(&stranger, "let me in", Some(conversation)).await.assert_problem(404);
    get_as(&format!("/v1/chat/conversations/{conversation}/messages"), &stranger).await.assert_problem(404);
    get_as(&format!("/v1/chat/conversations/{conversation}/verification"), &stranger).await.assert_problem(404);
    // and the owner's conversation is untouched
    let v = get_as(&format!("/v1/chat/conversations/{conversation}/verification"), &owner).await;
    assert_eq!(v.body, json!({"valid": true, "checked": 2, "first_invalid_index": null, "reason": null}));
}

#[tokio::test]
async fn invalid_messages_are_422_with_the_field_and_store_nothing() {
    let who = as_user(Uuid::now_v7());
    let conversation = conversation_of(&post_message(&who, "first", None).await);
    for (content, why) in
        [("", "empty"), ("   \n ", "blank"), (&"x".repeat(2001) as &str, "too long"), ("bell\u{7}", "control")]
    {
        let reply = post_message(&who, content, Some(conversation)).await;
        reply.assert_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "content", "{why}: {}", reply.body);
    }
    let unknown_field = send(
        client()
            .post(format!("{}/v1/chat/messages", base_url()))
            .header("authorization", &who[0].1)
            .json(&json!({"content": "hi", "price_cents": 1})),
    )
    .await;
    unknown_field.assert_problem(422);
    let missing = send(
        client().post(format!("{}/v1/chat/messages", base_url())).header("authorization", &who[0].1).json(&json!({})),
    )
    .await;
    missing.assert_problem(422);
    assert_eq!(missing.body["errors"][0]["field"], "content");
    let not_json = send(
        client()
            .post(format!("{}/v1/chat/messages", base_url()))
            .header("authorization", &who[0].1)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    not_json.assert_problem(400);
    // THEN nothing was appended
    let history = get_as(&format!("/v1/chat/conversations/{conversation}/messages"), &who).await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 2, "the first message and its reply only");
}

/// Every chain index `who` can page through in `conversation`, with pages of `limit`.
async fn paged_indexes(who: &[(String, String)], conversation: Uuid, limit: u32) -> Vec<i64> {
    let path = format!("/v1/chat/conversations/{conversation}/messages?limit={limit}");
    let mut cursor = String::new();
    let mut seen = Vec::new();
    loop {
        let page = get_as(&format!("{path}&cursor={cursor}"), who).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(page.body["messages"].as_array().unwrap().iter().map(|m| m["chain_index"].as_i64().unwrap()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn history_still_lists_every_message_after_a_deleted_one() {
    // GIVEN a conversation of ten messages, one deleted behind the API's back
    let who = as_user(Uuid::now_v7());
    let conversation = conversation_of(&post_message(&who, "m0", None).await);
    for i in 1..5 {
        post_message(&who, &format!("m{i}"), Some(conversation)).await.assert_status(201);
    }
    let owner = connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
    owner
        .execute("DELETE FROM conversation_messages WHERE conversation_id = $1 AND chain_index = 3", &[&conversation])
        .await
        .unwrap();
    // WHEN it is paged through in pages of three
    // THEN every remaining message is listed, in order (the gap does not end the listing)
    assert_eq!(paged_indexes(&who, conversation, 3).await, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn history_pages_oldest_first_with_a_cursor() {
    let who = as_user(Uuid::now_v7());
    let conversation = conversation_of(&post_message(&who, "m0", None).await);
    for i in 1..5 {
        post_message(&who, &format!("m{i}"), Some(conversation)).await.assert_status(201);
    }
    let path = format!("/v1/chat/conversations/{conversation}/messages");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            None => format!("{path}?limit=2"),
            Some(c) => format!("{path}?limit=2&cursor={c}"),
        };
        let page = get_as(&url, &who).await;
        assert_eq!(page.status, 200, "{}", page.body);
        pages += 1;
        for m in page.body["messages"].as_array().unwrap() {
            if m["role"] == "user" {
                seen.push(m["content"].as_str().unwrap().to_owned());
            }
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(pages, 5, "10 messages (5 with their replies) in pages of 2");
    let default_page = get_as(&path, &who).await;
    assert_eq!(default_page.body["messages"].as_array().unwrap().len(), 10);
    assert!(default_page.body["next_cursor"].is_null());
    for bad in ["limit=0", "limit=101", "limit=abc", "cursor=bogus"] {
        get_as(&format!("{path}?{bad}"), &who).await.assert_problem(422);
    }
}

#[tokio::test]
async fn two_hundred_concurrent_messages_from_twenty_clients_form_one_unbroken_chain() {
    // GIVEN one conversation and 20 clients of its owner
    let user = Uuid::now_v7();
    let who = as_user(user);
    let first = post_message(&who, "message from the start", None).await;
    let conversation = conversation_of(&first);
    // WHEN they post 199 more messages at once, 10 each (the first client 9)
    let mut tasks = Vec::new();
    for c in 0..20 {
        let who = who.clone();
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut indices = Vec::new();
            for i in 0..(if c == 0 { 9 } else { 10 }) {
                let reply =
                    post_message_with(&client, &who, &format!("client {c} message {i}"), Some(conversation)).await;
                assert_eq!(reply.status, 201, "{}", reply.body);
                let (m, r) = (&reply.body["message"]["chain_index"], &reply.body["reply"]["chain_index"]);
                // a message and its reply are adjacent: nobody slips in between
                assert_eq!(r.as_i64().unwrap(), m.as_i64().unwrap() + 1);
                indices.extend([m.as_i64().unwrap(), r.as_i64().unwrap()]);
            }
            indices
        }));
    }
    let mut indices: Vec<i64> = vec![0, 1];
    for t in tasks {
        indices.extend(t.await.unwrap());
    }
    // THEN 200 messages and their replies hold exactly indices 0..399 — no gaps, no duplicates
    indices.sort_unstable();
    assert_eq!(indices, (0..400).collect::<Vec<_>>());
    // AND the stored chain verifies, and history returns all 400 in order
    let v = get_as(&format!("/v1/chat/conversations/{conversation}/verification"), &who).await;
    assert_eq!(v.body, json!({"valid": true, "checked": 400, "first_invalid_index": null, "reason": null}));
    let mut all: Vec<i64> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page =
            get_as(&format!("/v1/chat/conversations/{conversation}/messages?limit=100&cursor={cursor}"), &who).await;
        all.extend(page.body["messages"].as_array().unwrap().iter().map(|m| m["chain_index"].as_i64().unwrap()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(all, (0..400).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_api_role_cannot_read_or_write_another_callers_chat_even_without_a_where() {
    // GIVEN a victim's conversation
    let victim = Uuid::now_v7();
    let conversation = conversation_of(&post_message(&as_user(victim), "my secret", None).await);
    // WHEN an attacker's transaction on the API role runs raw SQL with no WHERE
    let db = connect(&setting("DATABASE_URL")).await;
    let attacker = Uuid::now_v7();
    db.batch_execute(&format!("BEGIN; SELECT set_config('app.user_id', '{attacker}', true)")).await.unwrap();
    let conversations: i64 = db.query_one("SELECT count(*) FROM conversations", &[]).await.unwrap().get(0);
    let messages: i64 = db.query_one("SELECT count(*) FROM conversation_messages", &[]).await.unwrap().get(0);
    let updated = db.execute("UPDATE conversations SET message_count = 0", &[]).await.unwrap();
    let secret_seen: i64 = db
        .query_one("SELECT count(*) FROM conversation_messages WHERE content = 'my secret'", &[])
        .await
        .unwrap()
        .get(0);
    // THEN it sees and changes nothing
    assert_eq!((conversations, messages, updated, secret_seen), (0, 0, 0, 0));
    // AND cannot append to the victim's conversation
    let insert = db
        .execute(
            "INSERT INTO conversation_messages (id, conversation_id, chain_index, role, sender_kind, sender_id, content, \
             content_sha256, created_at, prev_hash, message_hash, chain_version) \
             VALUES ($1, $2, 99, 'user', 'user', $3, 'forged', $4, now(), $4, $4, 1)",
            &[&Uuid::now_v7(), &conversation, &attacker, &vec![0u8; 32]],
        )
        .await
        .unwrap_err();
    assert!(insert.as_db_error().unwrap().message().contains("row-level security"), "{insert:?}");
    db.batch_execute("ROLLBACK").await.unwrap();
    // AND the API role may not edit or delete messages at all, even its own
    db.batch_execute(&format!("BEGIN; SELECT set_config('app.user_id', '{victim}', true)")).await.unwrap();
    let edit = db.execute("UPDATE conversation_messages SET content = 'edited'", &[]).await.unwrap_err();
    assert!(edit.as_db_error().unwrap().message().contains("permission denied"), "{edit:?}");
    db.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn verifying_while_messages_arrive_never_reports_a_broken_chain() {
    // GIVEN a conversation that keeps growing
    let who = as_user(Uuid::now_v7());
    let conversation = conversation_of(&post_message(&who, "start", None).await);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let who = who.clone();
            tokio::spawn(async move {
                for i in 0..15 {
                    assert_eq!(
                        post_message(&who, &format!("writer {w} message {i}"), Some(conversation)).await.status,
                        201
                    );
                }
            })
        })
        .collect();
    // WHEN it is verified again and again meanwhile
    let path = format!("/v1/chat/conversations/{conversation}/verification");
    let mut seen = Vec::new();
    while !writers.iter().all(|w| w.is_finished()) {
        let v = get_as(&path, &who).await;
        // THEN every verdict is valid: a head read and a message read from different moments
        // would make a fresh append look like tampering
        assert_eq!(v.body["valid"], true, "{}", v.body);
        seen.push(v.body["checked"].as_i64().unwrap());
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(seen.len() > 3, "verified only {} times", seen.len());
    assert!(seen.windows(2).all(|p| p[0] <= p[1]), "{seen:?}");
}
