//! The ACD end to end: callers go through the shipped after-sales dialplan (open around the
//! clock) into its queues on the real binary, agents' SIPp phones register, ring, answer or
//! dial feature codes, and every outcome is read back where an operator would read it: what
//! each side *heard*, the `cdr` view of the store (`docs/cdr.md`), the call's recording, and
//! `switchboard agents --json` / `switchboard queues --json`.
//!
//! Who plays whom is as in ivr.rs (whose support module this reuses): callers are SIPp with
//! their media in this process, saying an 1100 Hz tone and pressing keys with RFC 4733; agents
//! are SIPp phones registered with digest, answering with their media here (a 600 Hz tone) or
//! ringing until they are cancelled. Every wait is bounded and waits for an event: a SIP
//! message, an agent's state in the JSON, a committed `cdr` row, a recording on disk.

#[path = "acd/phones.rs"]
mod phones;
#[path = "ivr/support.rs"]
#[allow(dead_code, reason = "shared with ivr.rs; the ACD tests use part of it")]
mod support;

use std::time::{Duration, Instant};

use phones::*;
use support::*;
use switchboard_tests::acd::{
    CdrRow, acd_view, agent, agent_state, queue_count, queues_view, seconds_between,
    wait_for_agent, wait_for_cdr, wait_for_view,
};
use switchboard_tests::ivr::{Keys, heard_prompt};
use switchboard_tests::phone::{register, ringing_agent};
use switchboard_tests::recording::wait_for_wav;
use switchboard_tests::signal::dominant_frequency;
use switchboard_tests::{free_port, require_tool};

/// After-call work of `support-en` in these tests (shipped: 10 s): long enough to see the agent
/// in it, short enough for the test.
const WRAPUP: Duration = Duration::from_secs(4);
/// How far a duration the switch measured may be from the same one measured on the SIPp
/// phones' clocks: the switch stamps a 200 or a BYE when it reads it, milliseconds after SIPp
/// logged sending it, except when two cores are busy with parallel tests (hundreds of ms).
const CLOCKS: f64 = 0.5;

#[test]
fn english_support_by_phone_goes_to_the_longest_idle_agent_and_is_recorded() {
    if !require_tool("sipp") {
        return;
    }
    let sb = acd_switch(|c| c.set_entry("queues", "support-en", "wrapup_s", &secs(WRAPUP)));
    // 1003 registers first: of the two ready English agents it has been idle the longest.
    let (first, first_media) = talking_agent(&sb, "1003");
    let (second, second_media) = talking_agent(&sb, "1004");
    let before = queues_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    let keys = to_queue('2', '3'); // English, then technical support: support-en
    let talk = Duration::from_secs(6);
    let (caller, heard) = ivr_caller(&sb, &keys.keys, keys.queued + talk).finish();
    let hung_up = Instant::now();
    // Right after the call the agent is in its after-call work.
    let wrap_up = wait_for_agent(&sb, "1003", "wrap-up", None, WRAPUP / 2);
    let first = first.wait_at_most(AFTER_CALLER);
    let first_heard = first_media.stop();
    let second_log = second.messages_so_far();
    drop((second, second_media));
    let why = || explain(&sb, &[("caller", &caller), ("1003", &first)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    assert!(first.ok(), "1003's phone failed\n{}", why());
    assert_eq!(got(&first, "BYE"), 1, "1003 was not hung up\n{}", why());
    assert_eq!(
        received(&second_log, "INVITE"),
        0,
        "1004 rang though 1003 was idle longer:\n{second_log}\n{}",
        why()
    );
    wrap_up.unwrap_or_else(|e| panic!("{e}\n{}", why()));

    // Both ways: the caller heard the agent, the agent heard the caller.
    let agent_said = heard
        .audio_windows(10)
        .iter()
        .filter(|w| share(w, AGENT_HZ) > 0.8)
        .count();
    assert!(
        agent_said >= 15,
        "the caller heard {agent_said} × 200 ms of the agent\n{}",
        why()
    );
    let agent_hears = dominant_frequency(&first_heard.audio(), RATE);
    assert!(
        first_heard.audio_packets() >= 150 && is_tone(agent_hears, CALLER_HZ),
        "1003 heard {agent_hears:?} in {} packets\n{}",
        first_heard.audio_packets(),
        why()
    );

    // The record: what was scripted, as both phones timed it.
    let id = call_id(&caller);
    let row = finished_row(&sb, &id);
    let rowdump = || format!("{row:#?}\n{}", why());
    assert_eq!(row.queue.as_deref(), Some("support-en"), "{}", rowdump());
    assert_eq!(row.agent.as_deref(), Some("1003"), "{}", rowdump());
    assert_eq!(
        row.disposition.as_deref(),
        Some("answered"),
        "{}",
        rowdump()
    );
    assert_eq!(row.hangup_side.as_deref(), Some("caller"), "{}", rowdump());
    assert_eq!(row.language.as_deref(), Some("en"), "{}", rowdump());
    let path = row.ivr_path.clone().unwrap_or_default();
    assert!(
        path.contains("language[2]") && path.contains("main-menu[3]") && path.contains("support"),
        "ivr_path {path:?}\n{}",
        rowdump()
    );
    // The agent rang (SIPp rings 100 ms before answering) and answered at once: the caller
    // waited that ring and the offer's set-up, no more.
    let ring = sent_at(&first.messages, 200)
        .since(&received_at(&first.messages, "INVITE"))
        .as_secs_f64();
    let wait = row.wait_s.unwrap_or(-1.0);
    assert!(
        wait >= ring - CLOCKS && wait > 0.0 && wait < ring + 2.0,
        "wait_s {wait} for a ready agent that rang {ring:.3} s\n{}",
        rowdump()
    );
    // Talk runs from the agent's 200 to the caller's BYE; the script put the BYE `talk` after
    // the queue, less what joining, the offer and the ring took (at most a second or two).
    let talked = sent_at(&caller.messages, "BYE")
        .since(&sent_at(&first.messages, 200))
        .as_secs_f64();
    let talk_s = row.talk_s.unwrap_or(-1.0);
    assert!(
        (talk_s - talked).abs() <= CLOCKS,
        "talk_s {talk_s}, the phones say {talked:.3}\n{}",
        rowdump()
    );
    assert!(
        talk_s > talk.as_secs_f64() - 2.0 && talk_s <= talk.as_secs_f64() + CLOCKS,
        "talk_s {talk_s} for {talk:?} scripted\n{}",
        rowdump()
    );
    // The recording is named for the call and the agent: caller left, agent right.
    let recording = row.recording.clone().unwrap_or_default();
    assert!(
        recording.contains(&id) && recording.contains("1003"),
        "recording {recording:?} names neither the call {id} nor the agent\n{}",
        rowdump()
    );
    let rec = wait_for_wav(
        std::path::Path::new(&recording),
        Duration::from_secs(4),
        AFTER_CALLER,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", rowdump()));
    assert_eq!(rec.channels.len(), 2, "the recording is not stereo");
    let (left, right) = (
        dominant_frequency(rec.left(), RATE),
        dominant_frequency(rec.right(), RATE),
    );
    assert!(
        is_tone(left, CALLER_HZ) && is_tone(right, AGENT_HZ),
        "recording: left {left:?}, right {right:?}\n{}",
        rowdump()
    );

    // After the wrap-up the agent is ready again, and not before; the row gets the wrap-up.
    wait_for_agent(&sb, "1003", "ready", None, WRAPUP + AFTER_CALLER)
        .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    let ready_after = hung_up.elapsed();
    assert!(
        ready_after + Duration::from_secs(1) >= WRAPUP,
        "ready {ready_after:?} after the call, before its {WRAPUP:?} of wrap-up"
    );
    let row = wait_for_cdr(&sb, &id, AFTER_CALLER, |r| r.wrapup_s.is_some())
        .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    let wrapup_s = row.wrapup_s.unwrap_or(0.0);
    assert!(
        (wrapup_s - WRAPUP.as_secs_f64()).abs() <= CLOCKS,
        "wrapup_s {wrapup_s} for {WRAPUP:?}\n{}",
        why()
    );
    let after = queues_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    for field in ["offered_today", "answered_today"] {
        assert_eq!(
            queue_count(&after, "support-en", field),
            queue_count(&before, "support-en", field) + 1,
            "support-en {field}: before {before:#}\nafter {after:#}"
        );
    }
}

#[test]
fn second_caller_hears_its_position_and_gets_the_agent_after_the_wrap_up() {
    if !require_tool("sipp") {
        return;
    }
    let wrapup = Duration::from_secs(3);
    let sb = acd_switch(|c| {
        c.set_entry("queues", "support-en", "wrapup_s", &secs(wrapup))
            .set_entry("queues", "support-en", "announce_every_s", "10")
            .set_entry("queues", "support-en", "announce_first_s", "3")
    });
    // 1003 alone, one call at a time: its phone answers A; a second run on the same port
    // answers B (each call has its own media here, as a softphone's new call would).
    let port = free_port();
    register(&sb, "1003", port);
    wait_for_agent(&sb, "1003", "ready", None, AFTER_CALLER).unwrap_or_else(|e| panic!("{e}"));
    let media_a = agent_media();
    let phone_a = media_phone(port, &media_a);
    let media_a = media_a.start(agent_voice());
    // B's keys come LAG after A's: the same menus, so B joins the queue LAG after A.
    const LAG: Duration = Duration::from_secs(2);
    let keys_a = to_queue('2', '3');
    let keys_b = Keys {
        keys: keys_a.keys.iter().map(|&(k, at)| (k, at + LAG)).collect(),
        queued: keys_a.queued + LAG,
    };
    // A talks past B's first announcement (B joined + 3 s, 1.5 s for its position); B stays
    // for A's end, the wrap-up and then talks for a few seconds.
    let talk_a = Duration::from_secs(8);
    let caller_a = ivr_caller(&sb, &keys_a.keys, keys_a.queued + talk_a);
    let hold_b = keys_b.queued + (talk_a - LAG) + wrapup + Duration::from_secs(6);
    let caller_b = ivr_caller(&sb, &keys_b.keys, hold_b);
    let (caller_a, _) = caller_a.finish();
    let phone_a = phone_a.wait_at_most(AFTER_CALLER);
    drop(media_a);
    // The phone's next call: B, once A's wrap-up is over.
    let media_b = agent_media();
    let phone_b = media_phone(port, &media_b);
    let media_b = media_b.start(agent_voice());
    let (caller_b, heard_b) = caller_b.finish();
    let phone_b = phone_b.wait_at_most(AFTER_CALLER);
    let b_agent_heard = media_b.stop();
    let why = || {
        explain(
            &sb,
            &[
                ("caller A", &caller_a),
                ("caller B", &caller_b),
                ("1003 (A)", &phone_a),
                ("1003 (B)", &phone_b),
            ],
        )
    };
    for (who, run) in [
        ("caller A", &caller_a),
        ("caller B", &caller_b),
        ("1003's call with A", &phone_a),
        ("1003's call with B", &phone_b),
    ] {
        assert!(run.ok(), "{who} failed\n{}", why());
    }
    // B waited: "You are caller number one", in English, before it got the agent.
    let audio = heard_b.audio();
    let position = assert_heard(&audio, "en", "queue-position", &why);
    let one = heard_whole_prompt(&audio, position..position + 3 * 8000, 1, "en", "say/1");
    assert!(
        one.is_some_and(|m| m.correlation >= HEARD),
        "B did not hear \"one\" after its position: {one:?}\n{}",
        why()
    );
    let french = heard_prompt(&audio, "fr", "queue-position").map_or(0.0, |m| m.correlation);
    assert!(
        french < 0.6,
        "B heard the French announcement ({french:.2})\n{}",
        why()
    );
    assert!(
        heard_b
            .audio_windows(10)
            .iter()
            .filter(|w| share(w, AGENT_HZ) > 0.8)
            .count()
            >= 10,
        "B did not hear the agent\n{}",
        why()
    );
    assert!(
        is_tone(dominant_frequency(&b_agent_heard.audio(), RATE), CALLER_HZ),
        "1003 did not hear B\n{}",
        why()
    );

    // The order: A answered, A ended, the wrap-up, then B answered by the same agent.
    let a = finished_row(&sb, &call_id(&caller_a));
    let b = finished_row(&sb, &call_id(&caller_b));
    let rows = || format!("A {a:#?}\nB {b:#?}\n{}", why());
    for row in [&a, &b] {
        assert_eq!(
            (row.disposition.as_deref(), row.agent.as_deref()),
            (Some("answered"), Some("1003")),
            "{}",
            rows()
        );
    }
    let time = |t: &Option<String>| t.clone().unwrap_or_else(|| panic!("{}", rows()));
    let gap = seconds_between(&time(&a.ended_at), &time(&b.answered_at));
    assert!(
        gap >= wrapup.as_secs_f64() - 0.05 && gap < wrapup.as_secs_f64() + 3.0,
        "B answered {gap:.3} s after A ended (wrap-up {wrapup:?})\n{}",
        rows()
    );
    // On the phone's own clock, too: B's INVITE came a wrap-up after A's BYE.
    let apart = received_at(&phone_b.messages, "INVITE")
        .since(&received_at(&phone_a.messages, "BYE"))
        .as_secs_f64();
    assert!(
        apart + CLOCKS >= wrapup.as_secs_f64(),
        "1003 rang for B {apart:.3} s after A's call ended\n{}",
        rows()
    );
    let b_wait = b.wait_s.unwrap_or(0.0);
    assert!(
        b_wait > gap && b_wait > wrapup.as_secs_f64(),
        "B's wait_s {b_wait}\n{}",
        rows()
    );
    let view = queues_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            queue_count(&view, "support-en", "offered_today"),
            queue_count(&view, "support-en", "answered_today")
        ),
        (2, 2),
        "{view:#}"
    );
}

#[test]
fn with_no_agent_logged_in_the_caller_overflows_to_the_all_busy_menu() {
    if !require_tool("sipp") {
        return;
    }
    let sb = acd_switch(|c| c);
    let view = acd_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    for id in ["1003", "1004"] {
        assert_eq!(
            agent_state(&view, id).map(|s| s.0).as_deref(),
            Some("logged-out"),
            "{view:#}"
        );
    }
    let keys = to_queue('2', '3');
    // The caller hangs up 3 s into the all-busy menu (its prompt lasts 6.8 s).
    let (caller, heard) =
        ivr_caller(&sb, &keys.keys, keys.queued + Duration::from_secs(3)).finish();
    let why = || explain(&sb, &[("caller", &caller)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    let id = call_id(&caller);
    let overflow = r#"queue gave the caller back queue="support-en" reason="no-agents""#;
    assert!(logged(&sb, &id, overflow), "{}", why());
    assert_heard(&heard.audio(), "en", "all-busy", &why);
    let row = finished_row(&sb, &id);
    let rowdump = || format!("{row:#?}\n{}", why());
    assert_eq!(row.queue.as_deref(), Some("support-en"), "{}", rowdump());
    assert_eq!(
        row.disposition.as_deref(),
        Some("overflow"),
        "{}",
        rowdump()
    );
    assert_eq!(row.hangup_side.as_deref(), Some("caller"), "{}", rowdump());
    assert_eq!(row.agent, None, "{}", rowdump());
    assert!(
        row.wait_s.is_some_and(|w| (0.0..1.0).contains(&w)),
        "given back on joining, yet wait_s is {:?}\n{}",
        row.wait_s,
        rowdump()
    );
    assert!(
        row.ivr_path
            .as_deref()
            .is_some_and(|p| p.contains("support") && p.contains("all-busy")),
        "{}",
        rowdump()
    );
    let view = queues_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            queue_count(&view, "support-en", "offered_today"),
            queue_count(&view, "support-en", "overflowed_today"),
            queue_count(&view, "support-en", "answered_today"),
        ),
        (1, 1, 0),
        "{view:#}"
    );
}

#[test]
fn a_caller_who_hangs_up_in_the_queue_abandons_and_the_agent_is_cancelled() {
    if !require_tool("sipp") {
        return;
    }
    // The agent rings for longer than the caller waits (the shipped 20 s).
    let sb = acd_switch(|c| c);
    let ringing = ringing_agent(&sb, "1003", 1);
    wait_for_agent(&sb, "1003", "ready", None, AFTER_CALLER).unwrap_or_else(|e| panic!("{e}"));
    let short = queue_count(
        &queues_view(&sb).unwrap_or_else(|e| panic!("{e}")),
        "support-en",
        "short_abandoned_today",
    );
    // Above the shipped short_abandon_s (5 s): a real abandon.
    let patience = Duration::from_secs(8);
    let keys = to_queue('2', '3');
    let (caller, _) = ivr_caller(&sb, &keys.keys, keys.queued + patience).finish();
    let ringing = ringing.wait_at_most(AFTER_CALLER);
    let why = || explain(&sb, &[("caller", &caller), ("1003", &ringing)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    assert!(ringing.ok(), "1003's phone failed\n{}", why());
    assert_eq!(
        (got(&ringing, "INVITE"), got(&ringing, "CANCEL")),
        (1, 1),
        "1003 was not rung then cancelled\n{}",
        why()
    );
    let row = finished_row(&sb, &call_id(&caller));
    let rowdump = || format!("{row:#?}\n{}", why());
    assert_eq!(
        row.disposition.as_deref(),
        Some("abandoned"),
        "{}",
        rowdump()
    );
    assert_eq!(row.hangup_side.as_deref(), Some("caller"), "{}", rowdump());
    assert_eq!(
        (row.agent.as_deref(), row.talk_s),
        (None, None),
        "{}",
        rowdump()
    );
    // The caller joined just before 1003 rang and left with its BYE: the phones time the wait
    // from below; the script says about `patience`.
    let rang = sent_at(&caller.messages, "BYE")
        .since(&received_at(&ringing.messages, "INVITE"))
        .as_secs_f64();
    let wait = row.wait_s.unwrap_or(-1.0);
    assert!(
        wait + CLOCKS >= rang && wait < rang + 1.0,
        "wait_s {wait}; 1003 rang {rang:.3} s before the caller hung up\n{}",
        rowdump()
    );
    assert!(
        (wait - patience.as_secs_f64()).abs() < 2.0,
        "wait_s {wait} for {patience:?} scripted\n{}",
        rowdump()
    );
    let view = queues_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            queue_count(&view, "support-en", "offered_today"),
            queue_count(&view, "support-en", "abandoned_today"),
            queue_count(&view, "support-en", "short_abandoned_today"),
        ),
        (1, 1, short),
        "{view:#}"
    );
    // A cancelled offer is not the agent's miss: 1003 is ready, with nothing missed.
    let view = wait_for_agent(&sb, "1003", "ready", None, AFTER_CALLER)
        .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    let missed = agent(&view, "1003").and_then(|a| a.get("misses_in_row")?.as_u64());
    assert_eq!(missed, Some(0), "{view:#}");
}

#[test]
fn an_agent_who_does_not_answer_is_passed_over_then_paused() {
    if !require_tool("sipp") {
        return;
    }
    let ring_timeout = Duration::from_secs(3);
    let sb = acd_switch(|c| {
        c.set_entry(
            "queues",
            "support-en",
            "ring_timeout_s",
            &secs(ring_timeout),
        )
        .set("acd", "max_missed_offers", "1")
    });
    // 1003 registers first (the longest idle) and lets its phone ring; 1004 answers.
    let ringing = ringing_agent(&sb, "1003", 1);
    wait_for_agent(&sb, "1003", "ready", None, AFTER_CALLER).unwrap_or_else(|e| panic!("{e}"));
    let (answering, media) = talking_agent(&sb, "1004");
    let keys = to_queue('2', '3');
    let hold = keys.queued + ring_timeout + Duration::from_secs(5);
    let (caller, heard) = ivr_caller(&sb, &keys.keys, hold).finish();
    let ringing = ringing.wait_at_most(AFTER_CALLER);
    let answering = answering.wait_at_most(AFTER_CALLER);
    drop(media);
    let why = || {
        explain(
            &sb,
            &[
                ("caller", &caller),
                ("1003", &ringing),
                ("1004", &answering),
            ],
        )
    };
    for (who, run) in [
        ("caller", &caller),
        ("1003", &ringing),
        ("1004", &answering),
    ] {
        assert!(run.ok(), "{who} failed\n{}", why());
    }
    assert_eq!(
        (got(&ringing, "INVITE"), got(&ringing, "CANCEL")),
        (1, 1),
        "{}",
        why()
    );
    // 1004 rang once 1003's ring timeout was over, not alongside it.
    let after = received_at(&answering.messages, "INVITE")
        .since(&received_at(&ringing.messages, "INVITE"))
        .as_secs_f64();
    assert!(
        after + CLOCKS >= ring_timeout.as_secs_f64() && after < ring_timeout.as_secs_f64() + 2.0,
        "1004 rang {after:.3} s after 1003 (ring timeout {ring_timeout:?})\n{}",
        why()
    );
    assert!(
        heard
            .audio_windows(10)
            .iter()
            .filter(|w| share(w, AGENT_HZ) > 0.8)
            .count()
            >= 10,
        "the caller did not hear 1004\n{}",
        why()
    );
    let row = finished_row(&sb, &call_id(&caller));
    assert_eq!(
        (row.disposition.as_deref(), row.agent.as_deref()),
        (Some("answered"), Some("1004")),
        "{row:#?}\n{}",
        why()
    );
    // One missed offer was the limit: 1003 is paused for it.
    let view = wait_for_agent(&sb, "1003", "paused", Some("no-answer"), AFTER_CALLER)
        .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    let missed = agent(&view, "1003").and_then(|a| a.get("missed_today")?.as_u64());
    assert_eq!(missed, Some(1), "{view:#}");
}

#[test]
fn feature_codes_pause_ready_log_out_and_log_in() {
    if !require_tool("sipp") {
        return;
    }
    let sb = acd_switch(|c| c);
    let port = free_port();
    register(&sb, "1003", port);
    wait_for_agent(&sb, "1003", "ready", None, AFTER_CALLER).unwrap_or_else(|e| panic!("{e}"));
    // What each code must do, and the confirmation it must play (call/machine/feature.rs:
    // the code asked names the prompt).
    let mut wrong_prompts = Vec::new();
    for (code, state, reason, prompts) in [
        ("*47", "paused", Some("paused"), &["agent-paused"][..]),
        ("*472", "paused", Some("lunch"), &["agent-paused"]),
        ("*48", "ready", None, &["agent-ready"]),
        ("*46", "logged-out", None, &["agent-logged-out"]),
        ("*45", "ready", None, &["agent-logged-in"]),
    ] {
        let (run, heard) = feature_code(&sb, "1003", port, code);
        let why = || explain(&sb, &[(code, &run)]);
        assert!(run.ok(), "{code} failed\n{}", why());
        // Challenged, answered, then hung up by the switch.
        let flow = run.flow();
        assert!(
            flow.iter().any(|l| l.starts_with("SIP/2.0 407"))
                && flow.iter().any(|l| l.starts_with("SIP/2.0 200")),
            "{code}: {flow:?}\n{}",
            why()
        );
        assert_eq!(got(&run, "BYE"), 1, "{code}: no BYE\n{}", why());
        let view = wait_for_agent(&sb, "1003", state, reason, AFTER_CALLER)
            .unwrap_or_else(|e| panic!("after {code}: {e}\n{}", why()));
        let (_, now) = agent_state(&view, "1003").unwrap_or_default();
        assert_eq!(now.as_deref(), reason, "after {code}: {view:#}");
        // The prompts are checked once every state is: a wrong word is reported with all the
        // others, after the states have been shown right.
        let (best, score) = best_prompt(&heard.audio(), "en", &FEATURE_PROMPTS);
        if !prompts.contains(&best) || score < HEARD {
            wrong_prompts.push(format!(
                "{code}: heard {best} ({score:.3}), not {prompts:?}; the switch said: {}",
                feature_result(&sb, &call_id(&run))
            ));
        }
    }
    assert!(
        wrong_prompts.is_empty(),
        "every state was right, but not every confirmation:\n{}\n{}",
        wrong_prompts.join("\n"),
        tail(&sb)
    );
}

#[test]
fn restart_after_sigterm_keeps_logins_and_pauses() {
    restart_keeps_logins_and_pauses(Stop::Term);
}

#[test]
fn restart_after_sigkill_keeps_logins_and_pauses() {
    restart_keeps_logins_and_pauses(Stop::Kill);
}

/// 1003 paused for a break and 1004 ready, then the switch stops (`how`) and starts again on
/// the same directory: both are restored, their phones not yet back.
fn restart_keeps_logins_and_pauses(how: Stop) {
    if !require_tool("sipp") {
        return;
    }
    let mut sb = acd_switch(|c| c);
    let port = free_port();
    register(&sb, "1003", port);
    register(&sb, "1004", free_port());
    wait_for_agent(&sb, "1004", "ready", None, AFTER_CALLER).unwrap_or_else(|e| panic!("{e}"));
    let (run, _) = feature_code(&sb, "1003", port, "*471");
    assert!(run.ok(), "*471 failed\n{}", explain(&sb, &[("*471", &run)]));
    wait_for_agent(&sb, "1003", "paused", Some("break"), AFTER_CALLER)
        .unwrap_or_else(|e| panic!("{e}"));
    how.stop(&mut sb);
    sb.restart();
    let view = acd_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    let restored = |id: &str| {
        let row = agent(&view, id).unwrap_or_else(|| panic!("no {id}: {view:#}"));
        (
            row.get("state").and_then(|v| v.as_str()).map(str::to_owned),
            row.get("reason")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            row.get("reachable").and_then(serde_json::Value::as_bool),
        )
    };
    let log = || sb.log_tail(60);
    assert_eq!(
        restored("1003"),
        (Some("paused".into()), Some("break".into()), Some(false)),
        "after {how:?}: {view:#}\n{}",
        log()
    );
    assert_eq!(
        restored("1004"),
        (Some("ready".into()), None, Some(false)),
        "after {how:?}: {view:#}\n{}",
        log()
    );
    // The phone registering again makes 1003 reachable; it does not end its break.
    register(&sb, "1003", port);
    let view = wait_for_view(&sb, AFTER_CALLER, |v| {
        agent(v, "1003").and_then(|a| a.get("reachable")?.as_bool()) == Some(true)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(
        agent_state(&view, "1003"),
        Some(("paused".into(), Some("break".into()))),
        "{view:#}"
    );
}

#[test]
fn a_call_in_progress_when_the_switch_is_killed_is_interrupted() {
    if !require_tool("sipp") {
        return;
    }
    let mut sb = acd_switch(|c| c);
    let (agent_phone, agent_media) = talking_agent(&sb, "1003");
    let keys = to_queue('2', '3');
    let caller = ivr_caller(&sb, &keys.keys, keys.queued + Duration::from_secs(25));
    // Talking: the agent's phone is on the call and the caller hears it.
    let talking = wait_for_agent(&sb, "1003", "on-call", None, keys.queued + AFTER_CALLER);
    let hears = caller.phone.wait_for(Duration::from_secs(5), |r| {
        r.audio_windows(10)
            .iter()
            .filter(|w| share(w, AGENT_HZ) > 0.8)
            .count()
            >= 5
    });
    let id = switchboard_tests::sip_log::call_id(&caller.sipp.messages_so_far())
        .unwrap_or_else(|| panic!("the caller sent no INVITE\n{}", tail(&sb)));
    talking.unwrap_or_else(|e| panic!("{e}\n{}", tail(&sb)));
    assert!(hears, "the caller never heard the agent\n{}", tail(&sb));
    sb.kill_hard();
    // The phones have nobody to talk to any more.
    drop((caller, agent_phone, agent_media));
    sb.restart();
    let row = wait_for_cdr(&sb, &id, AFTER_CALLER, |r| r.disposition.is_some())
        .unwrap_or_else(|e| panic!("{e}\n{}", sb.log_tail(60)));
    let rowdump = || format!("{row:#?}\n{}", sb.log_tail(60));
    assert_eq!(
        (
            row.disposition.as_deref(),
            row.hangup_side.as_deref(),
            row.hangup_cause.as_deref()
        ),
        (Some("interrupted"), Some("switch"), Some("interrupted")),
        "{}",
        rowdump()
    );
    let (answered, ended) = (
        row.answered_at
            .clone()
            .unwrap_or_else(|| panic!("{}", rowdump())),
        row.ended_at
            .clone()
            .unwrap_or_else(|| panic!("{}", rowdump())),
    );
    assert!(
        seconds_between(&answered, &ended) >= 0.0,
        "ended before it was answered\n{}",
        rowdump()
    );
    assert_eq!(
        (row.queue.as_deref(), row.agent.as_deref()),
        (Some("support-en"), Some("1003")),
        "{}",
        rowdump()
    );
    // What the call had learnt before the crash is in its row: the IVR path, the language,
    // the recording it was writing.
    assert_eq!(row.language.as_deref(), Some("en"), "{}", rowdump());
    assert!(
        row.ivr_path
            .as_deref()
            .is_some_and(|p| p.contains("support")),
        "{}",
        rowdump()
    );
    assert!(
        row.recording
            .as_deref()
            .is_some_and(|r| r.contains(&id) && r.contains("1003")),
        "the interrupted call's row names no recording\n{}",
        rowdump()
    );
    // Its legs were written as they started: the caller's and the agent's, both closed at
    // the restart as interrupted.
    let legs = switchboard_tests::acd::legs(&sb.store_path(), &id)
        .unwrap_or_else(|e| panic!("{e}\n{}", rowdump()));
    let roles: Vec<&str> = legs.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(roles, ["caller", "agent"], "{legs:?}\n{}", rowdump());
    assert!(
        legs.iter()
            .all(|l| l.2 && l.3.as_deref() == Some("interrupted")),
        "{legs:?}\n{}",
        rowdump()
    );
    // The recording survives the crash: playable, with the conversation so far (its header
    // is rewritten every second, so at least the talk before the last second is there).
    let recording = sb.path(&format!("rec/{id}-1003.wav"));
    let rec = wait_for_wav(&recording, Duration::from_millis(500), AFTER_CALLER)
        .unwrap_or_else(|e| panic!("{e}\n{}", rowdump()));
    let (left, right) = (
        dominant_frequency(rec.left(), RATE),
        dominant_frequency(rec.right(), RATE),
    );
    assert!(
        is_tone(left, CALLER_HZ) && is_tone(right, AGENT_HZ),
        "the interrupted call's recording: left {left:?}, right {right:?}\n{}",
        rowdump()
    );
    // The answer is counted for the day still, and the agent is not left on a dead call.
    let view = queues_view(&sb).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        queue_count(&view, "support-en", "answered_today"),
        1,
        "{view:#}"
    );
    let (state, _) = agent_state(&view, "1003").unwrap_or_default();
    assert_ne!(state, "on-call", "{view:#}\n{}", sb.log_tail(60));
}

/// What ended the switch before a restart.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM: `systemctl stop`.
    Term,
    /// SIGKILL: a crash, the OOM killer.
    Kill,
}

impl Stop {
    fn stop(self, sb: &mut switchboard_tests::Switchboard) {
        match self {
            Stop::Term => {
                let status = sb.terminate(Duration::from_secs(15));
                assert!(status.success(), "SIGTERM: {status}\n{}", sb.log_tail(40));
            }
            Stop::Kill => sb.kill_hard(),
        }
    }
}

/// The finished `cdr` row of the call `id` (it is committed when the call ends).
fn finished_row(sb: &switchboard_tests::Switchboard, id: &str) -> CdrRow {
    wait_for_cdr(sb, id, AFTER_CALLER, |r| r.disposition.is_some())
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(sb)))
}

/// `d` in whole seconds, as TOML.
fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}
