//! Matching a failed recipient to a tracked message: golden fixtures run
//! through `rebound::bounce::analyse`, plus hand-made reports.

use rebound::bounce::{Recipient, Report, analyse};
use rebound::matching::{
    Confidence, DEFAULT_WINDOW_SECS, Match, Method, Settings, cited_ids, match_recipient,
    normalise_subject, notice_time, parse_utc,
};
use rebound::track::{TrackSource, TrackedMessage, TrackedRecipient};

/// 2026-11-23T10:15:00Z, the Date of the postfix fixture.
const T: i64 = 1_795_428_900;

fn fixture(name: &str) -> Report {
    let path = format!(
        "{}/tests/fixtures/dsn/{name}.eml",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    analyse(&raw)
}

fn tracked(id: &str, to: &[&str], subject: Option<&str>, sent_at: i64) -> TrackedMessage {
    TrackedMessage {
        account: "acme".into(),
        inbox: "sales".into(),
        message_id: id.into(),
        recipients: to
            .iter()
            .map(|a| TrackedRecipient {
                address: (*a).into(),
                contact_id: None,
            })
            .collect(),
        subject: subject.map(str::to_string),
        sent_at,
        metadata: serde_json::json!({}),
        source: TrackSource::Api,
    }
}

/// A recipient like the postfix fixture's, for another address.
fn recipient(address: &str) -> Recipient {
    let mut r = fixture("postfix_user_unknown").recipients.remove(0);
    r.address = address.into();
    r.final_address = None;
    r
}

/// A notice citing nothing, with one failed recipient (gateway style).
fn bare_notice(address: &str, original_subject: Option<&str>) -> Report {
    let mut report = Report::not_bounce();
    report.original.subject = original_subject.map(str::to_string);
    report.recipients = vec![recipient(address)];
    report
}

fn window(report: &Report, by_recipient: &[TrackedMessage], settings: &Settings) -> Match {
    match_recipient(
        report,
        &report.recipients[0],
        T,
        &[],
        by_recipient,
        settings,
    )
}

#[test]
fn embedded_original_from_postfix_fixture() {
    let report = fixture("postfix_user_unknown");
    let (reply, embedded) = cited_ids(&report);
    assert!(reply.is_empty());
    assert_eq!(embedded, vec!["crm.20261123101455.0001@example.com"]);
    let sent = tracked(
        "crm.20261123101455.0001@example.com",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 5,
    );
    let m = match_recipient(
        &report,
        &report.recipients[0],
        T,
        std::slice::from_ref(&sent),
        &[],
        &Settings::default(),
    );
    assert_eq!(m.method, Method::EmbeddedOriginal);
    assert_eq!(m.confidence, Some(Confidence::Certain));
    assert_eq!(m.message.as_ref(), Some(&sent));
    assert!(!m.detection_limited);
    assert_eq!(m.final_address, None);
}

#[test]
fn reply_headers_win_over_embedded_and_ids_are_normalised() {
    let mut report = fixture("postfix_user_unknown");
    report.message.in_reply_to = vec![" <reply.1@crm.example> ".into()];
    report.message.references = vec!["<old@crm.example>".into(), "reply.1@crm.example".into()];
    let (reply, _) = cited_ids(&report);
    assert_eq!(reply, vec!["reply.1@crm.example", "old@crm.example"]);
    let embedded = tracked(
        "crm.20261123101455.0001@example.com",
        &["bob@example.net"],
        None,
        T - 5,
    );
    let replied = tracked("reply.1@crm.example", &["Bob@Example.NET"], None, T - 60);
    let by_id = [embedded, replied.clone()];
    let m = match_recipient(
        &report,
        &report.recipients[0],
        T,
        &by_id,
        &[],
        &Settings::default(),
    );
    assert_eq!(m.method, Method::ReplyHeaders);
    assert_eq!(m.confidence, Some(Confidence::Certain));
    assert_eq!(m.message, Some(replied));
}

#[test]
fn reply_headers_prefer_the_message_sent_to_this_recipient() {
    let mut report = bare_notice("carol@example.org", None);
    report.message.references = vec!["a@crm".into(), "b@crm".into()];
    let a = tracked("a@crm", &["carol@example.org"], None, T - 100);
    let b = tracked("b@crm", &["dave@example.org"], None, T - 50);
    let by_id = [b.clone(), a.clone()];
    let settings = Settings::default();
    let m = match_recipient(&report, &report.recipients[0], T, &by_id, &[], &settings);
    assert_eq!(m.message, Some(a));
    assert_eq!(m.final_address, None);

    // Cited messages that list neither address: the most recently cited
    // (last in References), with the failed address kept.
    let stranger = recipient("Info@Example.ORG");
    let m = match_recipient(&report, &stranger, T, &by_id, &[], &settings);
    assert_eq!(m.method, Method::ReplyHeaders);
    assert_eq!(m.message, Some(b));
    assert_eq!(m.final_address.as_deref(), Some("info@example.org"));
}

#[test]
fn alias_fixture_keeps_final_address() {
    let report = fixture("original_recipient_alias");
    let info = &report.recipients[0];
    assert_eq!(info.address, "info@example.net");
    let id = "crm.20261123101455.0010@example.com";

    // Sent to the alias: matched, Final-Recipient kept.
    let sent = tracked(
        id,
        &["info@example.net", "orders@example.net"],
        None,
        T - 10,
    );
    let m = match_recipient(
        &report,
        info,
        T,
        std::slice::from_ref(&sent),
        &[],
        &Settings::default(),
    );
    assert_eq!(m.method, Method::EmbeddedOriginal);
    assert_eq!(m.message, Some(sent));
    assert_eq!(
        m.final_address.as_deref(),
        Some("jane.doe@mail.example.net")
    );

    // Sent to a list that expanded to the alias: still that message.
    let list = tracked(id, &["team@example.net"], None, T - 10);
    let m = match_recipient(
        &report,
        info,
        T,
        std::slice::from_ref(&list),
        &[],
        &Settings::default(),
    );
    assert_eq!(m.method, Method::EmbeddedOriginal);
    assert_eq!(m.confidence, Some(Confidence::Certain));
    assert_eq!(m.message, Some(list));
    assert_eq!(
        m.final_address.as_deref(),
        Some("jane.doe@mail.example.net")
    );
}

#[test]
fn cc_list_bounce_citing_nothing_is_not_blamed_on_bob() {
    let report = bare_notice("x@list.example", Some("Proposal for Q1"));
    let bobs = tracked(
        "bob.1@crm",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 60,
    );
    let both = [bobs.clone()];
    let m = match_recipient(
        &report,
        &report.recipients[0],
        T,
        &both,
        &both,
        &Settings::default(),
    );
    assert_eq!(m.method, Method::Unmatched);
    assert_eq!(m.confidence, None);
    assert_eq!(m.message, None);
    assert!(!m.detection_limited);
}

#[test]
fn gateway_notice_matches_by_window_and_is_detection_limited() {
    let mut report = fixture("gateway_wrapped_in_mixed");
    report.gateway = Some("mimecast".into());
    assert_eq!(cited_ids(&report), (vec![], vec![]));
    let sent = tracked(
        "p@crm",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 3600,
    );
    let m = window(&report, std::slice::from_ref(&sent), &Settings::default());
    assert_eq!(m.method, Method::RecipientWindow);
    assert_eq!(m.confidence, Some(Confidence::Possible));
    assert!(m.detection_limited);
    assert_eq!(m.gateway.as_deref(), Some("mimecast"));
    assert_eq!(m.message, Some(sent.clone()));

    report.original.subject = Some("RE: proposal  for Q1".into());
    let m = window(&report, std::slice::from_ref(&sent), &Settings::default());
    assert_eq!(m.confidence, Some(Confidence::Likely));
}

#[test]
fn window_edges() {
    let settings = Settings { window_secs: 3600 };
    let report = bare_notice("bob@example.net", None);
    let at = |sent_at| tracked("m@crm", &["bob@example.net"], None, sent_at);
    let cases = [
        (T - 3600, Method::RecipientWindow),
        (T - 3601, Method::Unmatched),
        (T + 300, Method::RecipientWindow),
        (T + 301, Method::Unmatched),
    ];
    for (sent_at, method) in cases {
        let m = window(&report, &[at(sent_at)], &settings);
        assert_eq!(m.method, method, "sent at T{:+}", sent_at - T);
    }
    assert_eq!(Settings::default().window_secs, DEFAULT_WINDOW_SECS);
    assert_eq!(DEFAULT_WINDOW_SECS, 7 * 86_400);
}

#[test]
fn subject_beats_recency_and_recency_breaks_remaining_ties() {
    let report = bare_notice("bob@example.net", Some("Fwd: Your Proposal for Q1"));
    let older = tracked(
        "old@crm",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 7200,
    );
    let newer = tracked("new@crm", &["bob@example.net"], Some("Invoice 42"), T - 60);
    let m = window(
        &report,
        &[newer.clone(), older.clone()],
        &Settings::default(),
    );
    assert_eq!(m.message, Some(older));
    assert_eq!(m.confidence, Some(Confidence::Likely));

    let report = bare_notice("bob@example.net", None);
    let first = tracked("1@crm", &["bob@example.net"], Some("Hello"), T - 7200);
    let second = tracked("2@crm", &["bob@example.net"], Some("Hello"), T - 60);
    let m = window(&report, &[second.clone(), first], &Settings::default());
    assert_eq!(m.message, Some(second));
    assert_eq!(m.confidence, Some(Confidence::Possible));
}

#[test]
fn token_overlap_ranks_subjects_that_do_not_match() {
    let report = bare_notice("bob@example.net", Some("Pricing update for March"));
    let close = tracked(
        "c@crm",
        &["bob@example.net"],
        Some("Pricing for April"),
        T - 7200,
    );
    let far = tracked("f@crm", &["bob@example.net"], Some("Team lunch"), T - 60);
    let m = window(&report, &[far, close.clone()], &Settings::default());
    assert_eq!(m.message, Some(close));
    assert_eq!(m.confidence, Some(Confidence::Possible));
}

#[test]
fn multi_recipient_ndr_matches_each_recipient_separately() {
    let mut report = fixture("original_recipient_alias");
    report.original.message_id = None;
    assert_eq!(report.recipients.len(), 2);
    let to_info = tracked("i@crm", &["info@example.net"], None, T - 100);
    let to_orders = tracked("o@crm", &["orders@example.net"], None, T - 200);
    let candidates = [to_info.clone(), to_orders.clone()];
    let settings = Settings::default();
    let found: Vec<Match> = report
        .recipients
        .iter()
        .map(|r| match_recipient(&report, r, T, &[], &candidates, &settings))
        .collect();
    assert_eq!(found[0].message, Some(to_info));
    assert_eq!(
        found[0].final_address.as_deref(),
        Some("jane.doe@mail.example.net")
    );
    assert_eq!(found[1].message, Some(to_orders));
    assert!(found.iter().all(|m| m.method == Method::RecipientWindow));
}

#[test]
fn notice_time_prefers_internal_date_then_date_header() {
    let report = fixture("postfix_user_unknown");
    assert_eq!(
        notice_time(Some("2026-11-23T10:16:00Z"), &report),
        Some(T + 60)
    );
    assert_eq!(notice_time(None, &report), Some(T));
    assert_eq!(notice_time(Some("garbage"), &report), Some(T));
    assert_eq!(notice_time(None, &Report::not_bounce()), None);
    assert_eq!(notice_time(Some("bad"), &Report::not_bounce()), None);

    assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_utc("1969-12-31T23:59:59Z"), Some(-1));
    assert_eq!(parse_utc("2000-03-01T00:00:00Z"), Some(951_868_800));
    assert_eq!(parse_utc("2024-02-29T23:59:59Z"), Some(1_709_251_199));
    for bad in [
        "",
        "2026-11-23 10:15:00Z",
        "2026-11-23T10:15:00",
        "2026-11-23T10:15:00+00:00",
        "2026-11-23T10:15:00.5Z",
        "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z",
        "2026-11-23t10:15:00z",
        "2026-1a-23T10:15:00Z",
        "+026-11-23T10:15:00Z",
    ] {
        assert_eq!(parse_utc(bad), None, "{bad:?}");
    }
}

#[test]
fn subjects_normalise_and_enums_serialise_snake_case() {
    assert_eq!(
        normalise_subject("Re: AW:  Fwd: Proposal \t for Q1 "),
        "proposal for q1"
    );
    assert_eq!(normalise_subject("Undeliverable: RE: Hi"), "hi");
    assert_eq!(
        serde_json::to_value(Method::RecipientWindow).unwrap(),
        "recipient_window"
    );
    assert_eq!(
        serde_json::to_value(Method::ReplyHeaders).unwrap(),
        "reply_headers"
    );
    assert_eq!(
        serde_json::to_value(Method::EmbeddedOriginal).unwrap(),
        "embedded_original"
    );
    assert_eq!(serde_json::to_value(Confidence::Likely).unwrap(), "likely");
    let unmatched = window(
        &bare_notice("z@example.org", None),
        &[],
        &Settings::default(),
    );
    let json = serde_json::to_value(&unmatched).unwrap();
    assert_eq!(json["method"], "unmatched");
    assert!(json["confidence"].is_null());
}

#[test]
fn embedded_original_listing_the_recipient_beats_a_thread_reference_that_does_not() {
    let mut report = fixture("postfix_user_unknown");
    report.message.references = vec!["root@crm".into()];
    let root = tracked("root@crm", &["carol@example.org"], None, T - 86_400);
    let embedded = tracked(
        "crm.20261123101455.0001@example.com",
        &["bob@example.net"],
        None,
        T - 5,
    );
    let by_id = [root, embedded.clone()];
    let m = match_recipient(
        &report,
        &report.recipients[0],
        T,
        &by_id,
        &[],
        &Settings::default(),
    );
    assert_eq!(m.method, Method::EmbeddedOriginal);
    assert_eq!(m.message, Some(embedded));
    assert_eq!(m.final_address, None);
}

#[test]
fn window_trusts_only_the_address_sent_to_not_the_final_recipient() {
    let mut report = fixture("original_recipient_alias");
    report.original.message_id = None;
    let info = report.recipients[0].clone();
    assert_eq!(
        info.final_address.as_deref(),
        Some("jane.doe@mail.example.net")
    );
    let to_jane = tracked("j@crm", &["jane.doe@mail.example.net"], None, T - 100);
    let m = match_recipient(&report, &info, T, &[], &[to_jane], &Settings::default());
    assert_eq!(m.method, Method::Unmatched);
    assert_eq!(m.message, None);
    assert_eq!(
        m.final_address.as_deref(),
        Some("jane.doe@mail.example.net")
    );
}

#[test]
fn notice_subject_stands_in_for_a_missing_original_subject() {
    let mut report = bare_notice("bob@example.net", None);
    report.message.subject = Some("Undeliverable: Proposal for Q1".into());
    let sent = tracked(
        "p@crm",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 60,
    );
    let m = window(&report, std::slice::from_ref(&sent), &Settings::default());
    assert_eq!(m.confidence, Some(Confidence::Likely));

    // Exact ties are broken by Message-ID, whatever order the caller used.
    let a = tracked(
        "a@crm",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 60,
    );
    let b = tracked(
        "b@crm",
        &["bob@example.net"],
        Some("Proposal for Q1"),
        T - 60,
    );
    let one = window(&report, &[a.clone(), b.clone()], &Settings::default());
    let other = window(&report, &[b, a], &Settings::default());
    assert_eq!(one.message, other.message);
}
