//! The bundled fixture exports, built in code so that every quoting, BOM
//! and line-end detail is exact. `cargo run -p convault-test-support --bin make-fixtures`
//! writes them to `fixtures/`; the tests check the committed zips still
//! hold exactly these members.
//!
//! Two overlapping weekly Conversation Transcript Exports:
//! - week 1 (2026-11-09): snake_case headers with LF and epoch-ms
//!   timestamps; camelCase headers with a BOM, CRLF, ISO-8601 timestamps,
//!   quoted multi-line payloads and HTML-escaped `messageText`; and a file
//!   that is not an export (quarantined).
//! - week 2 (2026-11-16): the docs' misspelled `conversation_identifer`,
//!   epoch-second timestamps and `;`-separated related records; conversation
//!   A again (unchanged but for one redacted entry); a new conversation
//!   with the remaining event types, unknown types and one broken row.

#![allow(dead_code)]

use std::io::Write;

use serde_json::{Value, json};

pub const CONV_A: &str = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c";
pub const CONV_B: &str = "8d2b7e10-6c4f-4a1b-b5e2-9a7c3d1f0e42";
pub const CONV_C: &str = "c3e1a9f7-5d20-4b8e-a6f1-2e7d9c4b8a13";
/// The entry redacted between week 1 and week 2.
pub const REDACTED_ENTRY: &str = "a0000008-7c1e-4f2a-9b3d-5e6f7a8b9c0d";
pub const SESSION_A: &str = "0MwKj000007sdiMKAQ";
pub const SESSION_B: &str = "0MwKj000007tQ2xKAE";
pub const SESSION_C: &str = "0MwKj000007uR9zKAE";
pub const VOICE_CALL_C: &str = "0LQKj0000000001AAA";

/// Entries per conversation across both weeks (latest versions).
pub const ENTRIES_A: usize = 15;
pub const ENTRIES_B: usize = 13;
pub const ENTRIES_C: usize = 9;

#[derive(Clone)]
pub struct Member {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

fn end_user(uid: &str) -> Value {
    json!({"role": "EndUser", "appType": "iamessage", "subject": format!("v2/iamessage/UNAUTH/NA/uid:{uid}")})
}
fn agent(id: &str) -> Value {
    json!({"role": "Agent", "appType": "agent", "subject": id})
}
fn bot() -> Value {
    json!({"role": "Chatbot", "appType": "chatbot", "subject": "0XxKj0000004CzYKAU"})
}
fn system() -> Value {
    json!({"role": "System", "appType": "conversation", "subject": "system"})
}
fn router() -> Value {
    json!({"role": "Router", "appType": "conversation", "subject": "router"})
}

fn message(id: &str, abstract_message: Value) -> Value {
    json!({"entryType": "Message", "id": id, "abstractMessage": abstract_message, "messageReason": null})
}
fn text(id: &str, t: &str) -> Value {
    message(
        id,
        json!({"messageType": "StaticContentMessage", "id": id, "inReplyToMessageId": null, "references": [],
        "staticContent": {"formatType": "Text", "text": t}}),
    )
}
fn participant(op: &str, name: &str, role: &str, subject: &str) -> Value {
    json!({"entryType": "ParticipantChanged", "entries": [
        {"operation": op, "displayName": name, "participant": {"role": role, "appType": "agent", "subject": subject}}]})
}

/// One entry row: the fields every shape-1 file has.
struct Row {
    id: &'static str,
    conv: &'static str,
    entry_type: &'static str,
    payload: Value,
    sender: Value,
    /// Epoch milliseconds; written per file as ms, seconds or ISO-8601.
    ms: i64,
    session: &'static str,
    message_text: Option<&'static str>,
}

const T0: i64 = 1_794_215_700_000; // 2026-11-09T09:15:00Z

fn conversation_a(redacted: bool) -> Vec<Row> {
    let card = if redacted {
        "It's the Visa ending ****"
    } else {
        "It's the Visa ending 4321"
    };
    let r = |id, entry_type, payload, sender, secs: i64| Row {
        id,
        conv: CONV_A,
        entry_type,
        payload,
        sender,
        ms: T0 + secs * 1000,
        session: SESSION_A,
        message_text: None,
    };
    vec![
        r(
            "a0000001-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "ROUTING_RESULT",
            json!({"entryType": "RoutingResult", "recordId": SESSION_A, "routingType": "Initial", "failureType": "None", "estimatedWaitTime": {"estimatedWaitTimeInSeconds": 30}}),
            router(),
            0,
        ),
        r(
            "a0000002-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "PARTICIPANT_CHANGED",
            participant("add", "Astro", "Chatbot", "0XxKj0000004CzYKAU"),
            system(),
            1,
        ),
        r(
            "a0000003-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            text(
                "a0000003-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                "Hi, I need help with my order #10023 — it arrived damaged 😞",
            ),
            end_user("7f3e21"),
            5,
        ),
        r(
            "a0000004-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            message(
                "a0000004-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                json!({"messageType": "ChoicesMessage", "choices": {"formatType": "Buttons", "text": "What would you like to do?",
            "optionItems": [{"optionIdentifier": "refund", "titleItem": {"title": "Refund"}}, {"optionIdentifier": "replace", "titleItem": {"title": "Replacement"}}, {"optionIdentifier": "agent", "titleItem": {"title": "Talk to an agent"}}]}}),
            ),
            bot(),
            6,
        ),
        r(
            "a0000005-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            message(
                "a0000005-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                json!({"messageType": "ChoicesResponseMessage", "choicesResponse": {"selectedOptions": [{"optionIdentifier": "agent", "title": "Talk to an agent"}]}}),
            ),
            end_user("7f3e21"),
            12,
        ),
        r(
            "a0000006-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "ROUTING_WORK_RESULT",
            json!({"entryType": "RoutingWorkResult", "workItemId": "0BzKj000000AbcdKAC", "routingType": "Transfer", "failureType": "None"}),
            router(),
            13,
        ),
        r(
            "a0000007-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "PARTICIPANT_CHANGED",
            json!({"entryType": "ParticipantChanged", "entries": [
            {"operation": "remove", "displayName": "Astro", "participant": {"role": "Chatbot", "appType": "chatbot", "subject": "0XxKj0000004CzYKAU"}},
            {"operation": "add", "displayName": "Dana Whitfield", "participant": {"role": "Agent", "appType": "agent", "subject": "005Kj000001DanaWAA"}}]}),
            system(),
            40,
        ),
        r(
            REDACTED_ENTRY,
            "MESSAGE",
            text(REDACTED_ENTRY, card),
            end_user("7f3e21"),
            61,
        ),
        r(
            "a0000009-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            message(
                "a0000009-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                json!({"messageType": "StaticContentMessage", "staticContent": {"formatType": "RichLink",
            "linkItem": {"url": "https://help.example.com/refund-policy", "title": "Our refund policy"}, "image": {"assetName": "policy.png", "mimeType": "image/png", "url": "https://help.example.com/policy.png"}}}),
            ),
            agent("005Kj000001DanaWAA"),
            75,
        ),
        r(
            "a0000010-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            message(
                "a0000010-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                json!({"messageType": "StaticContentMessage", "staticContent": {"formatType": "Attachments", "text": "Photo of the box",
            "attachments": [{"id": "att1", "name": "damaged-box.jpg", "mimeType": "image/jpeg", "url": "https://files.example.com/att1"}]}}),
            ),
            end_user("7f3e21"),
            90,
        ),
        r(
            "a0000011-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "NOTE",
            json!({"entryType": "Note", "text": "Photo confirms damage; refund approved by supervisor"}),
            agent("005Kj000001DanaWAA"),
            95,
        ),
        r(
            "a0000012-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            message(
                "a0000012-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                json!({"messageType": "FormMessage", "form": {"title": "Refund details",
            "sections": [{"inputs": [{"label": "Order number", "name": "order"}, {"label": "Preferred refund method", "name": "method"}]}]}}),
            ),
            agent("005Kj000001DanaWAA"),
            100,
        ),
        r(
            "a0000013-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            message(
                "a0000013-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                json!({"messageType": "FormResponseMessage", "formResponse": {"formTitle": "Refund details",
            "fields": [{"label": "Order number", "value": "10023"}, {"label": "Preferred refund method", "value": "Original card"}]}}),
            ),
            end_user("7f3e21"),
            130,
        ),
        r(
            "a0000014-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "MESSAGE",
            text(
                "a0000014-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
                "Your refund of $42.50 is on its way. Anything else?",
            ),
            agent("005Kj000001DanaWAA"),
            150,
        ),
        r(
            "a0000015-7c1e-4f2a-9b3d-5e6f7a8b9c0d",
            "SESSION_STATUS_CHANGED",
            json!({"entryType": "SessionStatusChanged", "newStatus": "Ended", "oldStatus": "Active"}),
            system(),
            200,
        ),
    ]
}

fn conversation_b() -> Vec<Row> {
    let r = |id, entry_type, payload, sender, secs: i64| Row {
        id,
        conv: CONV_B,
        entry_type,
        payload,
        sender,
        ms: T0 + 3_600_000 + secs * 1000 + 123,
        session: SESSION_B,
        message_text: None,
    };
    let mut rows = vec![
        r(
            "b0000001-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "PARTICIPANT_CHANGED",
            participant("add", "Yusuf Haddad", "Agent", "005Kj000001YusufAA"),
            system(),
            0,
        ),
        r(
            "b0000002-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            text(
                "b0000002-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                "مرحبا، أريد استرداد المبلغ من فضلك",
            ),
            end_user("91ac0b"),
            3,
        ),
        r(
            "b0000003-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            message(
                "b0000003-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                json!({"messageType": "ChoicesMessage", "choices": {"formatType": "QuickReplies", "text": "Choose your language / اختر لغتك",
            "optionItems": [{"optionIdentifier": "ar", "titleItem": {"title": "العربية"}}, {"optionIdentifier": "en", "titleItem": {"title": "English"}}]}}),
            ),
            agent("005Kj000001YusufAA"),
            10,
        ),
        r(
            "b0000004-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            text(
                "b0000004-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                "English please 👍 — ordered a café crème machine",
            ),
            end_user("91ac0b"),
            20,
        ),
        r(
            "b0000006-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            message(
                "b0000006-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                json!({"messageType": "StaticContentMessage", "staticContent": {"formatType": "WebView", "title": "Track your parcel", "url": "https://track.example.com/p/77"}}),
            ),
            agent("005Kj000001YusufAA"),
            40,
        ),
        r(
            "b0000007-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            message(
                "b0000007-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                json!({"messageType": "StaticContentMessage", "staticContent": {"formatType": "ExternalAttachments",
            "attachments": [{"name": "return-label.pdf", "mimeType": "application/pdf", "url": "https://files.example.com/label"}]}}),
            ),
            agent("005Kj000001YusufAA"),
            50,
        ),
        r(
            "b0000008-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            message(
                "b0000008-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                json!({"messageType": "ChoicesMessage", "choices": {"formatType": "Carousel",
            "items": [{"titleItem": {"title": "Espresso Pro", "subTitle": "Replacement model A"}}, {"titleItem": {"title": "Barista Mini", "subTitle": "Replacement model B"}}]}}),
            ),
            agent("005Kj000001YusufAA"),
            60,
        ),
        r(
            "b0000009-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "MESSAGE",
            text(
                "b0000009-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                "Thanks!\nHave a great day\nشكرا",
            ),
            end_user("91ac0b"),
            70,
        ),
        r(
            "b0000010-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "FLAG_RAISE",
            json!({"entryType": "FlagRaise", "message": "Customer asked for a supervisor"}),
            agent("005Kj000001YusufAA"),
            80,
        ),
        r(
            "b0000011-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "FLAG_LOWER",
            json!({"entryType": "FlagLower"}),
            agent("005Kj000001SupervAA"),
            90,
        ),
        r(
            "b0000012-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "END_USER_CONSENT_UPDATED",
            json!({"entryType": "EndUserConsentUpdated", "consentStatus": "OptedOut"}),
            system(),
            100,
        ),
        r(
            "b0000013-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
            "SESSION_STATUS_CHANGED",
            json!({"entryType": "SessionStatusChanged", "newStatus": "Ended"}),
            system(),
            110,
        ),
    ];
    // Connect-style row: HTML-escaped messageText beside the payload.
    rows.insert(
        4,
        Row {
            message_text: Some("It&#39;s done &amp; confirmed: refund &lt;R-5531&gt;"),
            ..r(
                "b0000005-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                "MESSAGE",
                text(
                    "b0000005-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
                    "It's done & confirmed: refund <R-5531>",
                ),
                agent("005Kj000001YusufAA"),
                30,
            )
        },
    );
    rows
}

fn conversation_c() -> Vec<Row> {
    let r = |id, entry_type, payload, sender, secs: i64| Row {
        id,
        conv: CONV_C,
        entry_type,
        payload,
        sender,
        ms: T0 + 7 * 86_400_000 + secs * 1000,
        session: SESSION_C,
        message_text: None,
    };
    vec![
        r(
            "c0000001-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "ROUTING_RESULT",
            json!({"entryType": "RoutingResult", "routingType": "Initial", "failureType": "NoAgentsAvailable", "failureReason": "Queue Billing is closed"}),
            router(),
            0,
        ),
        r(
            "c0000002-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "CLIENT_MENU",
            json!({"entryType": "ClientMenu", "menuItems": [{"title": "Billing"}, {"title": "Orders"}]}),
            system(),
            1,
        ),
        r(
            "c0000003-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "MESSAGE",
            text(
                "c0000003-9e8d-4c7b-a6f5-e4d3c2b1a090",
                "Why was I charged twice for invoice 8812?",
            ),
            end_user("d44e90"),
            5,
        ),
        r(
            "c0000004-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "SESSION_CONTEXT",
            json!({"entryType": "SessionContext", "locale": "en_GB", "channel": "web"}),
            system(),
            6,
        ),
        r(
            "c0000005-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "CONSULT_CONVERSATION_INFO",
            json!({"entryType": "ConsultConversationInfo", "consultType": "Supervisor"}),
            system(),
            30,
        ),
        r(
            "c0000006-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "SESSION_OWNER_CHANGED",
            json!({"entryType": "SessionOwnerChanged", "newOwnerId": "005Kj000001PriyaAA"}),
            system(),
            35,
        ),
        r(
            "c0000007-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "MESSAGE_DELIVERY_FAILED",
            json!({"entryType": "MessageDeliveryFailed", "failureReason": "Recipient unreachable"}),
            system(),
            40,
        ),
        r(
            "c0000008-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "COBROWSE_SESSION_STARTED",
            json!({"entryType": "CobrowseSessionStarted", "viewer": "Priya Nair"}),
            agent("005Kj000001PriyaAA"),
            50,
        ),
        r(
            "c0000009-9e8d-4c7b-a6f5-e4d3c2b1a090",
            "AiSummaryGenerated",
            json!({"entryType": "AiSummaryGenerated", "summary": "Duplicate charge on invoice 8812 refunded"}),
            system(),
            60,
        ),
    ]
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

/// Week 1, file 1: snake_case, LF, epoch ms, related records as JSON.
fn week1_snake() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "identifier",
        "conversation_identifier",
        "entry_type",
        "entry_payload",
        "sender",
        "transcripted_timestamp",
        "client_timestamp",
        "related_records",
    ]);
    for r in conversation_a(false) {
        let _ = w.write_record([
            r.id.to_owned(),
            r.conv.to_owned(),
            r.entry_type.to_owned(),
            r.payload.to_string(),
            r.sender.to_string(),
            r.ms.to_string(),
            (r.ms - 400).to_string(),
            json!([r.session]).to_string(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// Week 1, file 2: BOM, camelCase, CRLF, ISO-8601, pretty-printed
/// (multi-line) payloads, HTML-escaped messageText.
fn week1_camel() -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xef\xbb\xbf".to_vec());
    let _ = w.write_record([
        "identifier",
        "conversationIdentifier",
        "entryType",
        "entryPayload",
        "sender",
        "transcriptedTimestamp",
        "clientTimestamp",
        "relatedRecords",
        "messageText",
    ]);
    for r in conversation_b() {
        let payload = serde_json::to_string_pretty(&r.payload)
            .unwrap_or_default()
            .replace('\n', "\r\n");
        let _ = w.write_record([
            r.id.to_owned(),
            r.conv.to_owned(),
            r.entry_type.to_owned(),
            payload,
            r.sender.to_string(),
            iso(r.ms),
            iso(r.ms - 250),
            r.session.to_owned(),
            r.message_text.unwrap_or("").to_owned(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// Week 2: the docs' misspelled header, epoch seconds, `;` lists.
fn week2_misspelled() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "identifier",
        "conversation_identifer",
        "entry_type",
        "entry_payload",
        "sender",
        "transcripted_timestamp",
        "client_timestamp",
        "related_records",
    ]);
    let mut rows = conversation_a(true);
    rows.extend(conversation_c());
    for r in rows {
        let _ = w.write_record([
            r.id.to_owned(),
            r.conv.to_owned(),
            r.entry_type.to_owned(),
            r.payload.to_string(),
            r.sender.to_string(),
            (r.ms / 1000).to_string(),
            ((r.ms - 400) as f64 / 1000.0).to_string(),
            related_list(&r),
        ]);
    }
    // A row whose payload was cut off: quarantined with its line number.
    let _ = w.write_record([
        "c0000010-9e8d-4c7b-a6f5-e4d3c2b1a090",
        CONV_C,
        "MESSAGE",
        "{\"entryType\":\"Message\",\"abstractMessage\":{",
        "{}",
        "1794821400",
        "",
        "",
    ]);
    w.into_inner().unwrap_or_default()
}

/// Week 2's `;`-separated related records: conversation A lists the same
/// single session as week 1 (so its entries overlap unchanged); C adds its
/// voice call.
fn related_list(r: &Row) -> String {
    if r.conv == CONV_C {
        format!("{};{}", r.session, VOICE_CALL_C)
    } else {
        r.session.to_owned()
    }
}

pub fn week1() -> Vec<Member> {
    vec![
        Member { name: "conversation_entries_1.csv", bytes: week1_snake() },
        Member { name: "conversation_entries_2.csv", bytes: week1_camel() },
        Member { name: "export-info.txt", bytes: b"Conversation Transcript Export\nOrg: 00DKj0000000001\nRequested by: compliance@example.com\n".to_vec() },
    ]
}

pub fn week2() -> Vec<Member> {
    vec![Member {
        name: "conversation_entries.csv",
        bytes: week2_misspelled(),
    }]
}

/// Conversation A of week 1 as a Conversation Data API response page: the
/// same entries as the transcript CSV, PascalCase types, payloads as
/// objects, and the page's conversation named after its entries.
pub fn data_api_page_a() -> Vec<u8> {
    let entries: Vec<Value> = conversation_a(false)
        .iter()
        .map(|r| {
            json!({
                "identifier": r.id,
                "entryType": r.payload.get("entryType").cloned().unwrap_or(json!(r.entry_type)),
                "entryPayload": r.payload,
                "sender": r.sender,
                "clientTimestamp": r.ms - 400,
                "serverReceivedTimestamp": r.ms - 100,
                "transcriptedTimestamp": r.ms,
                "relatedRecords": [r.session],
            })
        })
        .collect();
    serde_json::to_vec_pretty(&json!({
        "conversationEntries": entries,
        "nextPageToken": null,
        "conversationIdentifier": CONV_A,
    }))
    .unwrap_or_default()
}

/// Text messages of conversation A as the Connect REST API returns them
/// (`messageText` HTML-escaped, no type, no payload, no conversation: the
/// file is named after it). `redacted`: the card number as a later PATCH
/// left it.
pub fn connect_page_a(redacted: bool) -> Vec<u8> {
    let entries: Vec<Value> = conversation_a(redacted)
        .iter()
        .filter(|r| r.id == REDACTED_ENTRY || r.id.starts_with("a0000003"))
        .map(|r| {
            let text = r.payload["abstractMessage"]["staticContent"]["text"]
                .as_str()
                .unwrap_or_default()
                .replace('\'', "&#39;");
            json!({
                "clientDuration": 0,
                "clientTimestamp": r.ms - 400,
                "identifier": r.id,
                "messageText": text,
                "relatedRecords": [r.session],
                "sender": r.sender,
                "serverReceivedTimestamp": r.ms,
            })
        })
        .collect();
    serde_json::to_vec(&json!({"conversationEntries": entries})).unwrap_or_default()
}

/// A Data Export Service export in two parts (`WE_<orgId>_1.ZIP`, `_2`):
/// the on-platform records of conversations A and C. Part 2 also carries
/// a CSV of an object convault does not keep (quarantined).
pub fn data_export_parts() -> (Vec<Member>, Vec<Member>) {
    let csv = |rows: &[&[&str]]| -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in rows {
            let _ = w.write_record(*r);
        }
        w.into_inner().unwrap_or_default()
    };
    let part1 = vec![
        Member {
            name: "Conversation.csv",
            bytes: csv(&[
                &[
                    "Id",
                    "ConversationIdentifier",
                    "ConversationChannelId",
                    "StartTime",
                    "EndTime",
                    "Name",
                ],
                &[
                    "0dwKj0000000001AAA",
                    CONV_A,
                    "0MjKj0000000001AAA",
                    "2026-11-09T09:15:00.000Z",
                    "2026-11-09T09:30:00.000Z",
                    "C-0001",
                ],
                &[
                    "0dwKj0000000003AAA",
                    CONV_C,
                    "0MjKj0000000002AAA",
                    "2026-11-16T10:00:00.000Z",
                    "",
                    "C-0003",
                ],
            ]),
        },
        Member {
            name: "MessagingSession.csv",
            bytes: csv(&[
                &[
                    "Id",
                    "ConversationId",
                    "MessagingChannelId",
                    "MessagingEndUserId",
                    "CaseId",
                    "OwnerId",
                    "ChannelType",
                    "ChannelName",
                    "Status",
                    "StartTime",
                    "EndTime",
                    "Origin",
                ],
                &[
                    SESSION_A,
                    "0dwKj0000000001AAA",
                    "0MjKj0000000001AAA",
                    "0PAKj0000000001AAA",
                    "500Kj00000AbCdEAAV",
                    "005Kj000001DanaAAA",
                    "EmbeddedMessaging",
                    "Web Chat",
                    "Ended",
                    "2026-11-09T09:15:00.000Z",
                    "2026-11-09T09:30:00.000Z",
                    "InboundInitiated",
                ],
                &[
                    SESSION_C,
                    "0dwKj0000000003AAA",
                    "0MjKj0000000002AAA",
                    "0PAKj0000000002AAA",
                    "",
                    "005Kj000001ZoeAAAA",
                    "Text",
                    "SMS Support",
                    "Active",
                    "2026-11-16T10:00:00.000Z",
                    "",
                    "InboundInitiated",
                ],
            ]),
        },
        Member {
            name: "MessagingEndUser.csv",
            bytes: csv(&[
                &[
                    "Id",
                    "Name",
                    "MessagingChannelId",
                    "MessageType",
                    "MessagingPlatformKey",
                    "ContactId",
                    "AccountId",
                    "Locale",
                    "IsoCountryCode",
                    "MessagingConsentStatus",
                ],
                &[
                    "0PAKj0000000001AAA",
                    "Guest 7f3e21",
                    "0MjKj0000000001AAA",
                    "EmbeddedMessaging",
                    "v2/iamessage/UNAUTH/NA/uid:7f3e21",
                    "",
                    "",
                    "en_US",
                    "US",
                    "ImplicitlyOptedIn",
                ],
                &[
                    "0PAKj0000000002AAA",
                    "Ana Pereira",
                    "0MjKj0000000002AAA",
                    "Text",
                    "+15551230000",
                    "003Kj00000AnaAAA",
                    "001Kj00000AcmeAAA",
                    "pt_BR",
                    "BR",
                    "ExplicitlyOptedIn",
                ],
            ]),
        },
    ];
    let part2 = vec![
        Member {
            name: "MessagingChannel.csv",
            bytes: csv(&[
                &[
                    "Id",
                    "DeveloperName",
                    "MasterLabel",
                    "MessageType",
                    "MessagingPlatformKey",
                ],
                &[
                    "0MjKj0000000001AAA",
                    "Web_Chat",
                    "Web Chat",
                    "EmbeddedMessaging",
                    "web-chat-key",
                ],
                &[
                    "0MjKj0000000002AAA",
                    "SMS_Support",
                    "SMS Support",
                    "Text",
                    "+15559990000",
                ],
            ]),
        },
        Member {
            name: "ConversationParticipant.csv",
            bytes: csv(&[
                &[
                    "Id",
                    "ConversationId",
                    "ParticipantEntityId",
                    "ParticipantRole",
                    "AppType",
                    "ParticipantKey",
                    "JoinedTime",
                    "LeftTime",
                    "Name",
                ],
                &[
                    "0dpKj0000000001AAA",
                    "0dwKj0000000001AAA",
                    "005Kj000001DanaAAA",
                    "Agent",
                    "agent",
                    "005Kj000001DanaAAA",
                    "2026-11-09T09:16:00.000Z",
                    "2026-11-09T09:30:00.000Z",
                    "Dana Whitfield",
                ],
                &[
                    "0dpKj0000000002AAA",
                    "0dwKj0000000001AAA",
                    "0PAKj0000000001AAA",
                    "EndUser",
                    "iamessage",
                    "v2/iamessage/UNAUTH/NA/uid:7f3e21",
                    "2026-11-09T09:15:00.000Z",
                    "",
                    "Guest 7f3e21",
                ],
            ]),
        },
        Member {
            name: "VoiceCall.csv",
            bytes: csv(&[
                &[
                    "Id",
                    "ConversationId",
                    "VendorCallKey",
                    "CallStartDateTime",
                    "CallEndDateTime",
                    "FromPhoneNumber",
                    "ToPhoneNumber",
                    "CallType",
                ],
                &[
                    VOICE_CALL_C,
                    "0dwKj0000000003AAA",
                    "vck-0001",
                    "2026-11-16T10:05:00.000Z",
                    "2026-11-16T10:09:00.000Z",
                    "+15551230000",
                    "+15559990000",
                    "Inbound",
                ],
            ]),
        },
        Member {
            name: "Account.csv",
            bytes: csv(&[&["Id", "Name"], &["001Kj00000AcmeAAA", "Acme"]]),
        },
    ];
    (part1, part2)
}

/// `members` as a zip (deflated, with no member times: the MS-DOS epoch).
pub fn zip(members: &[Member]) -> Vec<u8> {
    zip_dated(members, zip::DateTime::default())
}

/// The time a committed fixture export was generated: 23:00 UTC on the
/// date in its name (2026-11-09, 2026-11-16: exactly 7 days apart).
pub fn generated(name: &str) -> zip::DateTime {
    let date = name
        .trim_start_matches("transcripts-")
        .trim_end_matches(".zip");
    let mut parts = date.split('-').map(|p| p.parse::<u16>().unwrap_or(1));
    let (y, m, d) = (
        parts.next().unwrap_or(2026),
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(1),
    );
    zip::DateTime::from_date_and_time(y, m as u8, d as u8, 23, 0, 0).unwrap_or_default()
}

/// `members` as a zip (deflated), every member dated `time`.
pub fn zip_dated(members: &[Member], time: zip::DateTime) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(time);
    for m in members {
        let _ = out.start_file(m.name, opts);
        let _ = out.write_all(&m.bytes);
    }
    out.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// The committed fixture files: (path under `fixtures/`, bytes, members).
pub fn all() -> Vec<(&'static str, Vec<Member>)> {
    vec![
        ("transcripts-2026-11-09.zip", week1()),
        ("transcripts-2026-11-16.zip", week2()),
    ]
}

/// Conversation B's `Conversation` record Id, as Data Cloud names it.
pub const CONVERSATION_RECORD_B: &str = "0dwKj0000000002AAA";

fn csv_of(rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        let _ = w.write_record(r);
    }
    w.into_inner().unwrap_or_default()
}

fn strings(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

/// Conversation B as Data Cloud exports it: the Conversation Entry DMO
/// (`ssot__` prefixes, `__c` suffixes, ISO times, no sender, no related
/// records, its ConversationId the Conversation record's Id), then the
/// Conversation and Messaging Session DMOs that join it. The entries come
/// first, so they must wait for the record that names their conversation.
pub fn data_cloud_b() -> Vec<Member> {
    let mut entries = vec![strings(&[
        "ssot__Id__c",
        "ssot__ConversationId__c",
        "ssot__ConversationEntryType__c",
        "ssot__PayloadText__c",
        "ssot__ClientDateTime__c",
        "ssot__TranscriptedDateTime__c",
        "ssot__ConversationEntryStatus__c",
        "ssot__EngagementParticipantId__c",
    ])];
    for r in conversation_b() {
        entries.push(vec![
            r.id.to_owned(),
            CONVERSATION_RECORD_B.to_owned(),
            r.entry_type.to_owned(),
            r.payload.to_string(),
            iso(r.ms - 250),
            iso(r.ms),
            "Delivered".to_owned(),
            "0ptKj0000000001AAA".to_owned(),
        ]);
    }
    let conversations = vec![
        strings(&[
            "ssot__Id__c",
            "ssot__ExternalRecordId__c",
            "ssot__StartDateTime__c",
            "ssot__EndDateTime__c",
            "ssot__ConversationState__c",
        ]),
        strings(&[
            CONVERSATION_RECORD_B,
            CONV_B,
            "2026-11-09T10:15:00.000Z",
            "2026-11-09T10:40:00.000Z",
            "Closed",
        ]),
    ];
    let sessions = vec![
        strings(&[
            "std__Id__c",
            "std__ConversationId__c",
            "std__MessagingSessionStartTime__c",
            "std__MessagingSessionEndTime__c",
            "std__MessagingSessionStatus__c",
            "std__EngagementChannelType__c",
            "std__OwnerId__c",
            "std__Origin__c",
        ]),
        strings(&[
            SESSION_B,
            CONVERSATION_RECORD_B,
            "2026-11-09T10:15:00.000Z",
            "2026-11-09T10:40:00.000Z",
            "Ended",
            "WhatsApp",
            "005Kj000001YusufAA",
            "InboundInitiated",
        ]),
    ];
    vec![
        Member {
            name: "ssot__ConversationEntry__dlm.csv",
            bytes: csv_of(&entries),
        },
        Member {
            name: "ssot__Conversation__dlm.csv",
            bytes: csv_of(&conversations),
        },
        Member {
            name: "ssot__MessagingSession__dlm.csv",
            bytes: csv_of(&sessions),
        },
    ]
}

/// Conversation B in a layout no built-in profile knows (a vendor's
/// archive tool, say): renamed columns, the sender in
/// three columns, ISO times.
pub fn unfamiliar_layout_b() -> Vec<u8> {
    let mut rows = vec![strings(&[
        "MsgRef", "Thread", "Kind", "Body", "Who", "WhoId", "SentAt",
    ])];
    for r in conversation_b() {
        rows.push(vec![
            r.id.to_owned(),
            r.conv.to_owned(),
            r.entry_type.to_owned(),
            r.payload.to_string(),
            r.sender["role"].as_str().unwrap_or("").to_owned(),
            r.sender["subject"].as_str().unwrap_or("").to_owned(),
            iso(r.ms),
        ]);
    }
    csv_of(&rows)
}

/// A profile that reads [`unfamiliar_layout_b`], in TOML.
pub const UNFAMILIAR_PROFILE_TOML: &str = r#"
# Our archiving vendor's layout.
[[profile]]
name = "vendor-archive"
reads = "entries"
required = ["identifier", "conversation", "payload"]
[profile.columns]
identifier = ["MsgRef"]
conversation = ["Thread"]
entry_type = ["Kind"]
payload = ["Body"]
sender_role = ["Who"]
sender_subject = ["WhoId"]
server_timestamp = ["SentAt"]
"#;
