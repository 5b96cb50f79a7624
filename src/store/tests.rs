use std::time::{Duration, SystemTime};

use super::*;
use crate::callcore::{CallEvent, CallSummary, EndedBy, EventKind, EventSink, TransferOutcome};
use crate::engine::{Input, Priority, Reason, Transfer};

fn settings() -> RecordSettings {
    RecordSettings {
        anger_threshold: 80.0,
        review_within: Duration::from_secs(48 * 3600),
        recordings: None,
    }
}

fn at(seconds: f64, kind: EventKind) -> CallEvent {
    CallEvent {
        at: Duration::from_secs_f64(seconds),
        kind,
    }
}

fn started(caller: &str) -> CallEvent {
    at(
        0.0,
        EventKind::Heard(Input::Started {
            caller: caller.into(),
            dialed: "800".into(),
            recent_calls: 0,
            verified: false,
        }),
    )
}

fn transfer(reason: Reason, target: &str) -> TransferOutcome {
    TransferOutcome {
        at: Duration::from_secs(12),
        transfer: Transfer {
            target: target.into(),
            reason,
            priority: Priority::High,
            evidence: Vec::new(),
        },
        uri: Some(format!("sip:{target}@pbx")),
        via: Some(crate::callcore::Via::Refer),
    }
}

fn ended(caller: &str, summary: CallSummary) -> CallEvent {
    at(
        20.0,
        EventKind::Ended(Box::new(CallSummary {
            caller: caller.into(),
            dialed: "800".into(),
            started: Some(SystemTime::now()),
            duration: Duration::from_secs(20),
            ..summary
        })),
    )
}

/// A new store on each backend: what keeps it alive (its directory or its
/// server), its URL, and its sink. The same tests run on both.
fn fresh_stores(test: &str) -> Vec<(Box<dyn std::any::Any>, StoreUrl, StoreSink)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = StoreUrl::parse(&format!(
        "sqlite:{}",
        dir.path().join("var/voicegate.db").display()
    ))
    .unwrap();
    let server = super::pg_server::PgServer::start();
    let postgres = StoreUrl::parse(&server.database(test)).unwrap();
    let keep: [Box<dyn std::any::Any>; 2] = [Box::new(dir), Box::new(server)];
    keep.into_iter()
        .zip([sqlite, postgres])
        .map(|(guard, url)| {
            let sink = StoreSink::start(&url, settings(), Box::new(|| {})).unwrap();
            (guard, url, sink)
        })
        .collect()
}

fn call(sink: &StoreSink, id: &str, events: &[CallEvent]) {
    for event in events {
        sink.publish(Some(id), event);
    }
}

/// Four answered calls and one that never was: the rates by hand are
/// abandoned 1 of 4, repeat 1 of 4 (the second call of 100), forced 1 of 4
/// (anger; the menu's own transfer does not count).
fn known_calls(sink: &StoreSink) {
    let angry = CallSummary {
        transfer: Some(transfer(Reason::Anger, "priority")),
        ended_by: Some(EndedBy::Gateway),
        ..CallSummary::default()
    };
    let scores = [50.0, 85.0, 90.0, 70.0].map(|score| EventKind::Heard(Input::Anger { score }));
    let mut first = vec![started("100")];
    first.extend(
        scores
            .into_iter()
            .enumerate()
            .map(|(n, kind)| at(2.0 + n as f64 * 0.5, kind)),
    );
    first.push(ended("100", angry));
    call(sink, "a", &first);
    let served = CallSummary {
        reached: vec!["balance".into()],
        ended_by: Some(EndedBy::Caller),
        ..CallSummary::default()
    };
    call(sink, "b", &[started("100"), ended("100", served)]);
    let gone = CallSummary {
        ended_by: Some(EndedBy::Caller),
        ..CallSummary::default()
    };
    call(sink, "c", &[started("200"), ended("200", gone)]);
    let chose = CallSummary {
        transfer: Some(transfer(Reason::MenuChoice, "payments")),
        ended_by: Some(EndedBy::Gateway),
        ..CallSummary::default()
    };
    call(sink, "d", &[started("300"), ended("300", chose)]);
    let cancelled = CallSummary {
        ended_by: Some(EndedBy::Signalling("cancelled")),
        ..CallSummary::default()
    };
    call(sink, "e", &[ended("400", cancelled)]);
    sink.flush();
}

fn everything() -> ListFilter {
    ListFilter {
        since: rfc3339(SystemTime::UNIX_EPOCH),
        ..ListFilter::default()
    }
}

#[test]
fn the_three_rates_of_a_known_set_of_calls_are_the_hand_computed_ones() {
    for (_keep, url, sink) in fresh_stores("records") {
        known_calls(&sink);
        let store = Store::open(&url).unwrap();
        let calls = store.list(&everything()).unwrap();
        assert_eq!(calls.len(), 4, "the unanswered call is kept but not listed");
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let week = Duration::from_secs(7 * 86_400);
        let report = HealthReport::of(&calls, an_hour_ago, week, Thresholds::default());
        assert_eq!(report.calls, 4);
        assert_eq!(
            (report.session_break.count, report.session_break.value),
            (1, 0.25)
        );
        assert!(report.session_break.alarm(), "25 % is above 15 %");
        assert_eq!(
            (report.repeat_contact.count, report.repeat_contact.value),
            (1, 0.25)
        );
        assert!(!report.repeat_contact.alarm(), "25 % is not above 25 %");
        assert_eq!(
            (report.forced_transfer.count, report.forced_transfer.value),
            (1, 0.25)
        );
        assert!(!report.forced_transfer.alarm());
        assert_eq!(report.review_open, 1, "the anger transfer awaits QA");
        let json = report.json();
        assert_eq!(json["session_break_rate"]["threshold"], 0.15);
        assert_eq!(json["session_break_rate"]["alarm"], true);
        assert_eq!(json["forced_transfer_rate"]["value"], 0.25);
    }
}

#[test]
fn a_record_has_its_outcome_transfer_anger_time_review_and_event_log() {
    for (_keep, url, sink) in fresh_stores("records") {
        known_calls(&sink);
        let store = Store::open(&url).unwrap();
        let angry = store.get("a").unwrap().unwrap();
        assert_eq!(angry.outcome, Some(Outcome::Transferred));
        assert_eq!(angry.transfer_reason.as_deref(), Some("anger"));
        assert_eq!(angry.transfer_uri.as_deref(), Some("sip:priority@pbx"));
        assert_eq!(angry.transfer_via.as_deref(), Some("refer"));
        // 85 at 2.5 s and 90 at 3.0 s hold until the next score: 1.0 s above 80.
        assert!(
            (angry.anger_above_s - 1.0).abs() < 1e-6,
            "{}",
            angry.anger_above_s
        );
        assert_eq!(
            angry.max_anger, None,
            "the summary's own max (none given here)"
        );
        let due = humantime::parse_rfc3339(angry.review_due.as_deref().unwrap()).unwrap();
        let in_two_days = SystemTime::now() + Duration::from_secs(48 * 3600);
        assert!(in_two_days.duration_since(due).unwrap_or_default() < Duration::from_secs(60));
        let lines = store.events("a").unwrap();
        // Four scores and the call line (the start is the row itself).
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(lines[0].contains("\"event\":\"anger\""), "{}", lines[0]);
        assert!(lines[4].contains("\"event\":\"call\""), "{}", lines[4]);
        let outcomes: Vec<_> = ["b", "c", "d"]
            .iter()
            .map(|id| store.get(id).unwrap().unwrap().outcome.unwrap())
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::SelfServed,
                Outcome::Abandoned,
                Outcome::Transferred
            ]
        );
        let unanswered = store.get("e").unwrap().unwrap();
        assert_eq!(unanswered.outcome, Some(Outcome::Failed));
        assert_eq!(unanswered.ended_by.as_deref(), Some("cancelled"));
    }
}

#[test]
fn the_review_list_holds_questionable_transfers_until_qa_has_looked() {
    for (_keep, url, sink) in fresh_stores("records") {
        known_calls(&sink);
        let store = Store::open(&url).unwrap();
        let due = ListFilter {
            due_only: true,
            ..everything()
        };
        let ids = |filter: &ListFilter| -> Vec<String> {
            store
                .list(filter)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(ids(&due), ["a"]);
        let anger = ListFilter {
            reason: Some("anger".into()),
            ..everything()
        };
        assert_eq!(ids(&anger), ["a"]);
        assert!(store
            .review("a", "flagged", Some("calm caller, loud line"))
            .unwrap());
        assert!(!store.review("nope", "ok", None).unwrap());
        assert!(ids(&due).is_empty());
        let flagged = store.get("a").unwrap().unwrap();
        assert_eq!(flagged.review.as_deref(), Some("flagged"));
        assert_eq!(
            flagged.review_note.as_deref(),
            Some("calm caller, loud line")
        );
    }
}

#[test]
fn a_caller_s_recent_calls_come_from_the_store() {
    for (_keep, url, sink) in fresh_stores("records") {
        known_calls(&sink);
        let store = Store::open(&url).unwrap();
        let week = Duration::from_secs(7 * 86_400);
        let now = SystemTime::now();
        assert_eq!(
            store
                .recent_calls("100", (now, week), 10, Duration::from_secs(5))
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .recent_calls("400", (now, week), 10, Duration::from_secs(5))
                .unwrap(),
            0,
            "never answered"
        );
        assert_eq!(
            store
                .recent_calls("999", (now, week), 10, Duration::from_secs(5))
                .unwrap(),
            0
        );
        let later = now + Duration::from_secs(8 * 86_400);
        assert_eq!(
            store
                .recent_calls("100", (later, week), 10, Duration::from_secs(5))
                .unwrap(),
            0,
            "outside the window"
        );
        assert_eq!(
            store
                .recent_calls("100", (now, week), 1, Duration::from_secs(5))
                .unwrap(),
            1,
            "counted up to what the rule asks"
        );
    }
}

#[test]
fn a_newer_schema_or_a_damaged_file_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let url = StoreUrl::parse(&format!("sqlite:{}", newer.display())).unwrap();
    let error = Store::open(&url).map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("newer.db: written by a newer voicegate (schema 99"),
        "{error}"
    );
    let damaged = dir.path().join("damaged.db");
    std::fs::write(&damaged, vec![0x5a; 8192]).unwrap();
    let url = StoreUrl::parse(&format!("sqlite:{}", damaged.display())).unwrap();
    let error = Store::open(&url).map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("damaged.db: ") && error.contains("not a database"),
        "{error}"
    );
}

#[test]
fn store_urls_are_sqlite_paths_or_postgres_urls_and_passwords_stay_out_of_messages() {
    assert_eq!(
        StoreUrl::parse("sqlite:var/voicegate.db").unwrap(),
        StoreUrl::Sqlite("var/voicegate.db".into())
    );
    for bad in ["var/voicegate.db", "sqlite:", "mysql://x"] {
        let error = StoreUrl::parse(bad).unwrap_err().to_string();
        assert!(error.contains("write sqlite:PATH"), "{bad}: {error}");
    }
    let shared = StoreUrl::parse("postgres://ivr:s3cret@db.example:5432/voicegate").unwrap();
    assert_eq!(shared.place(), "postgres://ivr@db.example:5432/voicegate");
}

#[test]
fn a_newer_postgres_schema_is_refused_and_an_unreachable_server_named() {
    let server = super::pg_server::PgServer::start();
    let url = server.database("newer");
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    client
        .batch_execute("CREATE TABLE voicegate_schema (version INTEGER NOT NULL); INSERT INTO voicegate_schema VALUES (99);")
        .unwrap();
    let error = Store::open(&StoreUrl::parse(&url).unwrap())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/newer: written by a newer voicegate (schema 99"),
        "{error}"
    );
    let nobody = "postgres://voicegate:pw@127.0.0.1:1/none";
    let error = Store::open(&StoreUrl::parse(nobody).unwrap())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("postgres://voicegate@127.0.0.1:1/none: "),
        "{error}"
    );
    assert!(!error.contains("pw"), "{error}");
}

#[test]
fn a_postgres_restart_mid_call_is_counted_and_the_call_s_record_catches_up() {
    let server = super::pg_server::PgServer::start();
    let url = StoreUrl::parse(&server.database("restart")).unwrap();
    let sink = StoreSink::start(&url, settings(), Box::new(|| {})).unwrap();
    call(&sink, "up", &[started("500")]);
    sink.flush();
    server.stop();
    let angry = [90.0, 91.0, 92.0].map(|score| at(5.0, EventKind::Heard(Input::Anger { score })));
    call(&sink, "up", &angry);
    call(&sink, "begun in the outage", &[started("700")]);
    sink.flush();
    let lost = sink.failures();
    assert!(
        lost >= 1,
        "writes while the server is down fail and are counted"
    );
    server.launch();
    // Past the pause between attempts to connect again.
    std::thread::sleep(Duration::from_millis(1500));
    let summary = CallSummary {
        transfer: Some(transfer(Reason::Anger, "priority")),
        ended_by: Some(EndedBy::Gateway),
        max_anger: Some(92.0),
        ..CallSummary::default()
    };
    call(&sink, "up", &[ended("500", summary)]);
    call(
        &sink,
        "begun in the outage",
        &[ended("700", CallSummary::default())],
    );
    call(
        &sink,
        "next",
        &[started("600"), ended("600", CallSummary::default())],
    );
    sink.flush();
    assert_eq!(
        sink.failures(),
        lost,
        "nothing fails once the server is back"
    );
    let store = Store::open(&url).unwrap();
    let record = store.get("up").unwrap().expect("the call's record");
    assert_eq!(record.caller, "500");
    assert_eq!(record.transfer_reason.as_deref(), Some("anger"));
    assert_eq!(record.max_anger, Some(92.0));
    assert!(record.ended.is_some());
    let begun = store.get("begun in the outage").unwrap();
    assert_eq!(
        begun.map(|record| (record.caller, record.ended.is_some())),
        Some(("700".to_string(), true)),
        "a call whose start was lost is recorded when it ends"
    );
    assert!(
        store.get("next").unwrap().is_some(),
        "the next call is recorded whole"
    );
}
