//! Every escalation trigger at its boundaries, through the public engine API.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::menu::parse_menu;

const MENU: &str = r#"
entry = "main"
[nodes.main]
prompt = "welcome"
options = [
  { key = "1", say = ["billing", "账单"], goto = "billing" },
  { key = "2", say = ["opening hours"], action = "flow:hours" },
]
[nodes.billing]
prompt = "billing"
options = [
  { key = "1", say = ["balance"], action = "flow:balance" },
  { key = "2", say = ["pay"], action = "transfer:payments" },
]
"#;

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

fn config() -> EngineConfig {
    EngineConfig {
        vip_callers: ["+15550100999".to_string()].into_iter().collect(),
        ..EngineConfig::default()
    }
}

fn call_with(config: EngineConfig, with_menu: bool) -> Call {
    let menu = with_menu.then(|| Arc::new(parse_menu(MENU, "test.toml".as_ref()).unwrap()));
    let mut call = Call::new(Arc::new(config), menu);
    call.handle(
        Duration::ZERO,
        Input::Started {
            caller: "+15550100123".into(),
            dialed: "800".into(),
            recent_calls: 0,
            verified: true,
        },
    );
    call
}

fn call() -> Call {
    call_with(config(), true)
}

fn actions(call: &mut Call) -> Vec<Action> {
    std::iter::from_fn(|| call.poll_action()).collect()
}

fn transfer_of(call: &mut Call) -> Option<Transfer> {
    actions(call).into_iter().find_map(|action| match action {
        Action::Transfer(transfer) => Some(transfer),
        _ => None,
    })
}

fn keyword(word: &str) -> Input {
    Input::Keyword {
        word: word.into(),
        confidence: 0.9,
    }
}

fn anger_scores(call: &mut Call, scores: &[f32]) -> Option<Transfer> {
    for (index, score) in scores.iter().enumerate() {
        call.handle(
            secs(10.0 + index as f64 * 0.5),
            Input::Anger { score: *score },
        );
    }
    transfer_of(call)
}

#[test]
fn a_call_starts_recording_and_plays_the_entry_prompt() {
    let mut call = call();
    let actions = actions(&mut call);
    assert_eq!(actions[0], Action::StartRecording);
    assert!(actions.contains(&Action::Play("welcome".into())));
}

#[test]
fn anger_at_79_or_80_never_transfers() {
    let mut call = call();
    assert_eq!(anger_scores(&mut call, &[79.0; 10]), None);
    assert_eq!(anger_scores(&mut call, &[80.0; 10]), None);
}

#[test]
fn anger_at_81_sustained_transfers_with_the_scores_as_evidence() {
    let mut call = call();
    let transfer = anger_scores(&mut call, &[81.0, 81.0, 81.0]).expect("transfer");
    assert_eq!(transfer.reason, Reason::Anger);
    assert_eq!(transfer.target, "priority");
    assert!(transfer.priority >= Priority::High);
    assert_eq!(transfer.evidence.len(), 3);
    assert_eq!(transfer.evidence[2].fact, Fact::Anger { score: 81.0 });
}

#[test]
fn one_shout_does_not_transfer_because_the_streak_must_be_unbroken() {
    let mut call = call();
    assert_eq!(
        anger_scores(&mut call, &[95.0, 95.0, 80.0, 95.0, 95.0]),
        None
    );
    assert_eq!(
        anger_scores(&mut call, &[95.0]).map(|t| t.reason),
        Some(Reason::Anger)
    );
}

#[test]
fn waiting_89_9_or_90_seconds_does_not_transfer() {
    let mut call = call();
    call.handle(secs(89.9), Input::Tick);
    assert_eq!(transfer_of(&mut call), None);
    call.handle(secs(90.0), Input::Tick);
    assert_eq!(transfer_of(&mut call), None);
}

#[test]
fn waiting_more_than_90_seconds_transfers_at_the_deadline() {
    let mut call = call_with(
        EngineConfig {
            policy: Policy {
                no_input_s: 1000.0,
                ..Policy::default()
            },
            ..config()
        },
        true,
    );
    call.handle(secs(0.5), Input::PromptDone);
    assert_eq!(call.next_deadline(), Some(secs(90.001)));
    call.handle(secs(90.1), Input::Tick);
    let transfer = transfer_of(&mut call).expect("transfer");
    assert_eq!(transfer.reason, Reason::WaitTimeout);
    assert_eq!(transfer.evidence[0].at, secs(90.001));
}

#[test]
fn completing_a_self_service_flow_restarts_the_wait() {
    let mut call = call();
    call.handle(secs(80.0), Input::Dtmf('2'));
    call.handle(secs(85.0), Input::PromptDone);
    call.handle(secs(100.0), Input::Tick);
    assert_eq!(transfer_of(&mut call), None);
    assert_eq!(call.next_deadline(), Some(secs(175.001)));
}

#[test]
fn human_word_three_times_in_a_row_goes_to_the_priority_queue() {
    let mut call = call();
    for (at, word) in [(1.0, "人工"), (2.0, "人工")] {
        call.handle(secs(at), keyword(word));
    }
    assert_eq!(transfer_of(&mut call), None);
    call.handle(secs(3.0), keyword("人工"));
    let transfer = transfer_of(&mut call).expect("transfer");
    assert_eq!(transfer.reason, Reason::HumanRequest);
    assert_eq!(transfer.target, "priority");
    assert_eq!(transfer.evidence.len(), 3);
}

#[test]
fn other_speech_between_human_words_resets_the_count() {
    let mut call = call();
    for (at, word) in [
        (1.0, "人工"),
        (2.0, "人工"),
        (3.0, "hello"),
        (4.0, "人工"),
        (5.0, "人工"),
    ] {
        call.handle(secs(at), keyword(word));
    }
    assert_eq!(transfer_of(&mut call), None);
    call.handle(secs(6.0), keyword("人工"));
    assert_eq!(
        transfer_of(&mut call).map(|t| t.reason),
        Some(Reason::HumanRequest)
    );
}

#[test]
fn two_agent_words_then_the_human_key_count_as_three_requests() {
    let mut call = call();
    call.handle(secs(1.0), keyword("agent"));
    call.handle(secs(2.0), keyword("Agent"));
    call.handle(secs(3.0), Input::Dtmf('0'));
    assert_eq!(
        transfer_of(&mut call).map(|t| t.reason),
        Some(Reason::HumanRequest)
    );
}

#[test]
fn two_agent_words_then_a_menu_key_reset_the_count() {
    let mut call = call();
    call.handle(secs(1.0), keyword("agent"));
    call.handle(secs(2.0), keyword("agent"));
    call.handle(secs(3.0), Input::Dtmf('1'));
    call.handle(secs(4.0), keyword("agent"));
    let actions = actions(&mut call);
    assert!(!actions.iter().any(|a| matches!(a, Action::Transfer(_))));
    assert!(actions.contains(&Action::Play("billing".into())));
}

#[test]
fn zero_pressed_three_times_goes_to_the_priority_queue() {
    let mut call = call();
    for at in [1.0, 2.0] {
        call.handle(secs(at), Input::Dtmf('0'));
    }
    assert_eq!(transfer_of(&mut call), None);
    call.handle(secs(3.0), Input::Dtmf('0'));
    let transfer = transfer_of(&mut call).expect("transfer");
    assert_eq!(
        (transfer.reason, transfer.target.as_str()),
        (Reason::HumanRequest, "priority")
    );
}

#[test]
fn complaint_words_go_to_the_complaint_desk_at_once() {
    for word in ["投诉", "赔偿", "complaint", "Refund"] {
        let mut call = call();
        call.handle(secs(1.0), keyword(word));
        let transfer = transfer_of(&mut call).expect(word);
        assert_eq!(transfer.reason, Reason::ComplaintKeyword);
        assert_eq!(transfer.target, "complaints");
    }
}

/// The first actions of a call from the VIP number of `config()`.
fn vip_call(verified: bool) -> Vec<Action> {
    let mut call = Call::new(Arc::new(config()), None);
    call.handle(
        Duration::ZERO,
        Input::Started {
            caller: "+15550100999".into(),
            dialed: "800".into(),
            recent_calls: 0,
            verified,
        },
    );
    actions(&mut call)
}

#[test]
fn vip_callers_skip_the_menu_to_the_experts() {
    let actions = vip_call(true);
    assert!(!actions.iter().any(|a| matches!(a, Action::Play(_))));
    let transfer = actions.into_iter().find_map(|a| match a {
        Action::Transfer(t) => Some(t),
        _ => None,
    });
    let transfer = transfer.expect("transfer");
    assert_eq!(
        (transfer.reason, transfer.target.as_str()),
        (Reason::Vip, "experts")
    );
    assert_eq!(transfer.priority, Priority::Urgent);
}

#[test]
fn a_caller_the_crm_marks_vip_mid_menu_goes_to_the_experts_once() {
    let mut call = call();
    actions(&mut call);
    let crm = Input::Vip {
        source: "crm".into(),
    };
    call.handle(secs(0.3), crm.clone());
    let transfer = transfer_of(&mut call).expect("transfer");
    assert_eq!(
        (transfer.reason, transfer.target.as_str(), transfer.priority),
        (Reason::Vip, "experts", Priority::Urgent)
    );
    assert_eq!(transfer.evidence[0].at, secs(0.3));
    call.handle(secs(0.4), crm);
    assert!(transfer_of(&mut call).is_none(), "transferred once");
}

#[test]
fn a_vip_number_nobody_vouches_for_is_an_ordinary_caller() {
    assert!(
        !vip_call(false)
            .iter()
            .any(|a| matches!(a, Action::Transfer(_))),
        "a From header is anyone's to write"
    );
}

#[test]
fn menu_walk_by_key_and_by_voice_reaches_the_action() {
    let mut call = call();
    call.handle(secs(1.0), keyword("账单"));
    call.handle(secs(2.0), Input::Dtmf('2'));
    let transfer = transfer_of(&mut call).expect("transfer");
    assert_eq!(
        (transfer.reason, transfer.target.as_str()),
        (Reason::MenuChoice, "payments")
    );
    assert_eq!(transfer.priority, Priority::Normal);
}

#[test]
fn a_node_presented_more_than_max_node_visits_is_a_hop_limit_transfer() {
    let mut call = call();
    call.handle(secs(1.0), Input::Dtmf('7'));
    let first = actions(&mut call);
    assert!(first.contains(&Action::Play(INVALID_OPTION_PROMPT.into())));
    assert!(!first.iter().any(|a| matches!(a, Action::Transfer(_))));
    call.handle(secs(2.0), Input::Dtmf('8'));
    let transfer = transfer_of(&mut call).expect("transfer");
    assert_eq!(
        (transfer.reason, transfer.target.as_str()),
        (Reason::HopLimit, "agents")
    );
}

#[test]
fn more_than_max_hops_choices_without_an_action_is_a_hop_limit_transfer() {
    let mut config = config();
    config.policy.max_node_visits = 10;
    config.policy.max_hops = 2;
    let mut call = call_with(config, true);
    call.handle(secs(1.0), Input::Dtmf('9'));
    call.handle(secs(2.0), Input::Dtmf('9'));
    assert_eq!(transfer_of(&mut call), None);
    call.handle(secs(3.0), Input::Dtmf('9'));
    assert_eq!(
        transfer_of(&mut call).map(|t| t.reason),
        Some(Reason::HopLimit)
    );
}

#[test]
fn a_silent_line_is_hung_up_after_the_re_prompts_not_transferred() {
    let mut call = call();
    let mut at = 0.0;
    for _ in 0..3 {
        at += 1.0;
        call.handle(secs(at), Input::PromptDone);
        at += 8.0;
        call.handle(secs(at), Input::Tick);
    }
    let actions = actions(&mut call);
    assert!(actions.contains(&Action::HangUp {
        reason: HangUpReason::NoInput
    }));
    assert!(!actions.iter().any(|a| matches!(a, Action::Transfer(_))));
    assert!(call.is_settled());
}

#[test]
fn inputs_after_a_transfer_change_nothing() {
    let mut call = call();
    call.handle(secs(1.0), keyword("投诉"));
    assert!(transfer_of(&mut call).is_some());
    call.handle(secs(2.0), keyword("投诉"));
    call.handle(secs(3.0), Input::Anger { score: 100.0 });
    assert!(actions(&mut call).is_empty());
    call.handle(secs(4.0), Input::HungUp);
    assert_eq!(actions(&mut call), vec![Action::StopRecording]);
}

#[test]
fn angry_repeat_callers_get_more_priority() {
    let mut call = Call::new(Arc::new(config()), None);
    call.handle(
        Duration::ZERO,
        Input::Started {
            caller: "+15550100777".into(),
            dialed: "800".into(),
            recent_calls: 3,
            verified: true,
        },
    );
    call.handle(secs(1.0), Input::Anger { score: 70.0 });
    call.handle(secs(2.0), keyword("complaint"));
    assert_eq!(
        transfer_of(&mut call).map(|t| t.priority),
        Some(Priority::Urgent)
    );
}

#[test]
fn without_a_menu_escalations_still_apply() {
    let mut call = call_with(config(), false);
    assert_eq!(
        anger_scores(&mut call, &[90.0, 90.0, 90.0]).map(|t| t.reason),
        Some(Reason::Anger)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            prop::sample::select(vec!['0', '1', '2', '7', '#']).prop_map(Input::Dtmf),
            prop::sample::select(vec!["人工", "agent", "billing", "balance", "hello", "投诉"])
                .prop_map(keyword),
            (0.0f32..=100.0).prop_map(|score| Input::Anger { score }),
            Just(Input::PromptDone),
            Just(Input::Tick),
            Just(Input::HungUp),
        ]
    }

    proptest! {
        /// Any sequence of inputs: recording starts first, at most one
        /// transfer, nothing after the call ends, deadlines never in the past.
        #[test]
        fn any_call_keeps_the_engine_contract(steps in prop::collection::vec((0u64..20_000, input()), 0..60), with_menu in any::<bool>()) {
            let mut call = call_with(config(), with_menu);
            let mut log = actions(&mut call);
            prop_assert_eq!(log.first(), Some(&Action::StartRecording));
            let mut now = Duration::ZERO;
            for (millis, input) in steps {
                now += Duration::from_millis(millis);
                call.handle(now, input);
                let new = actions(&mut call);
                if log.contains(&Action::StopRecording) {
                    prop_assert!(new.is_empty(), "acted after the call ended: {:?}", new);
                }
                log.extend(new);
                if let Some(deadline) = call.next_deadline() {
                    prop_assert!(deadline > now, "a deadline due at {:?} did not fire by {:?}", deadline, now);
                }
            }
            let transfers = log.iter().filter(|a| matches!(a, Action::Transfer(_))).count();
            prop_assert!(transfers <= 1, "{} transfers", transfers);
        }
    }
}

#[test]
fn a_spoken_digit_chooses_like_its_key_in_english_or_mandarin() {
    for (first, second) in [("one", "two"), ("一", "二")] {
        let mut call = call();
        actions(&mut call);
        call.handle(secs(2.0), keyword(first));
        call.handle(secs(4.0), keyword(second));
        let transfer = transfer_of(&mut call).expect("billing, then pay");
        assert_eq!(transfer.target, "payments");
        assert_eq!(transfer.reason, Reason::MenuChoice);
        assert!(matches!(&transfer.evidence[0].fact, Fact::Keyword { word, .. } if word == second));
    }
}

#[test]
fn zero_said_three_times_asks_for_a_person_like_the_key() {
    let mut call = call();
    for (index, word) in ["zero", "零", "zero"].into_iter().enumerate() {
        call.handle(secs(2.0 + index as f64), keyword(word));
    }
    assert_eq!(
        transfer_of(&mut call).map(|t| t.reason),
        Some(Reason::HumanRequest)
    );
}

#[test]
fn a_choice_is_awaited_only_while_a_menu_waits_for_one() {
    assert!(
        !Call::new(Arc::new(config()), None).awaits_choice(),
        "not started"
    );
    assert!(call().awaits_choice(), "at the entry node");
    assert!(
        !call_with(config(), false).awaits_choice(),
        "no menu: spoken digits have nothing to choose"
    );
    let mut served = call();
    served.handle(secs(2.0), keyword("opening hours"));
    assert!(!served.awaits_choice(), "playing a self-service flow");
    served.handle(secs(5.0), Input::PromptDone);
    assert!(served.awaits_choice(), "back at the entry node");
    let mut transferred = call();
    transferred.handle(secs(2.0), keyword("投诉"));
    assert!(!transferred.awaits_choice(), "handed over");
}
