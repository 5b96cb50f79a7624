//! RFC 4475 torture messages through the strict SIP reader: well-formed ones
//! (including those the application must then refuse) parse, invalid ones
//! are refused, none panics.

use voicegate::sip::{parse_message, MessageError};

use super::repo_path;

#[test]
fn every_torture_message_gets_the_verdict_rfc_4475_expects() {
    let dir = repo_path("tests/data/sip-torture");
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut wrong = Vec::new();
    let mut refused = 0;
    for line in expected.lines().skip(1) {
        let columns: Vec<&str> = line.split('\t').collect();
        let (file, verdict) = (columns[0], columns[2]);
        let bytes = std::fs::read(dir.join("rfc4475").join(file)).unwrap();
        let result = parse_message(&bytes);
        refused += usize::from(result.is_err());
        let acceptable = match verdict {
            "invalid" => result.is_err(),
            _ => result.is_ok(),
        };
        if !acceptable {
            wrong.push(format!("{file} ({verdict}): {result:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 49 wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        refused, 19,
        "the 19 invalid messages, and only they, are refused"
    );
}

#[test]
fn an_unknown_version_is_a_505_not_a_400() {
    let bytes = std::fs::read(repo_path("tests/data/sip-torture/rfc4475/badvers.dat")).unwrap();
    assert_eq!(
        parse_message(&bytes),
        Err(MessageError::Version("SIP/7.0".into()))
    );
}
