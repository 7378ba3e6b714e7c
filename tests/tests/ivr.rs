//! The live IVR end to end: callers go through the shipped after-sales dialplan on the real
//! binary, press keys the three ways phones do, reach queues whose agents ring, leave
//! voicemail or book a callback with a CRM, and reloads (control socket, SIGHUP, a watched
//! folder, a broken file) drop no call. What they share is in `ivr/support.rs`.
//!
//! Who plays whom ([`switchboard_tests::phone`]):
//! * **Callers** are SIPp for the signalling; their media is an endpoint of this test (the SDP
//!   names its port), which says the caller's voice (an 1100 Hz tone) with RFC 4733 key presses
//!   and *hears* the prompts and the music on hold. SIPp can replay a pcap but cannot tell
//!   anyone what it received, and the switch latches onto the pcap's source, so a caller whose
//!   ears matter plays its script from here; where only the keys matter, SIPp plays the pcap
//!   itself (RFC 4733 events in one test, in-band tone pairs in another).
//! * **Agents** are SIPp phones registered with digest: one that answers (media here, as in
//!   media.rs), and ones that ring until they are cancelled.
//! * **Keys** are scripted before the call, timed from the lengths of the shipped prompts: a key
//!   pressed during a prompt that cannot be interrupted (welcome, please-hold) is ignored, so
//!   each key comes [`MARGIN`] after such a prompt has ended, into a menu, whose prompt a key
//!   interrupts and which then waits 5 s more.
//! * **What a caller heard** is checked against the shipped WAVs themselves
//!   ([`heard_prompt`]): "the French main menu", not just "not silence".
//!
//! Tests that need the line open run a copy of the shipped dialplan open around the clock; one
//! runs the shipped file unchanged and asks `dialplan simulate` what the clock says. Every wait
//! is bounded and waits for an event (a SIP message, a log line, a file); a caller's `-d` is how
//! long a person stays on the line.

#[path = "ivr/support.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use support::*;
use switchboard_tests::crm::Crm;
use switchboard_tests::endpoint::{Plan, Received, RtpEndpoint};
use switchboard_tests::ivr::{self, goodbye_entry, heard_prompt, prompt_length, replace_once};
use switchboard_tests::phone::{Caller, answering_agent, ringing_agent};
use switchboard_tests::recording::{self, wait_for_wav};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{dominant_frequency, rms};
use switchboard_tests::sip_log::{self, Direction};
use switchboard_tests::{Sipp, SippResult, Switchboard, free_port, require_tool, tempdir};

#[test]
fn shipped_ivr_reaches_a_french_queue_by_phone() {
    if !require_tool("sipp") {
        return;
    }
    // The one queue of these tests that rings all its ready members at once: the first to
    // answer wins and the others are cancelled (the shipped queues pick the longest idle).
    let sb = ivr_switch(Dialplans::Copy(open_copy()), |c| {
        c.set_entry("queues", "after-sales-fr", "strategy", "\"ring-all\"")
    });
    let keys = to_queue('1', '1'); // français, then orders: after-sales-fr
    let ringing = ringing_agent(&sb, "1001", 1);
    let agent_media = RtpEndpoint::bind().expect("agent RTP socket");
    let answering = answering_agent(&sb, "1002", &agent_media);
    let agent_voice = RtpStream::pcma_tone(AGENT_HZ, 30.0, LEVEL).with_ssrc(0xA6E7_0002);
    let agent_media = agent_media.start(Plan::reply(agent_voice, Duration::from_secs(40)));
    // Four seconds of conversation once queued, then the caller hangs up.
    let (caller, heard) =
        ivr_caller(&sb, &keys.keys, keys.queued + Duration::from_secs(4)).finish();
    let answering = answering.wait_at_most(AFTER_CALLER);
    let ringing = ringing.wait_at_most(AFTER_CALLER);
    let agent_heard = agent_media.stop();
    let why = || {
        explain(
            &sb,
            &[
                ("caller", &caller),
                ("1002", &answering),
                ("1001", &ringing),
            ],
        )
    };

    // Answered by the IVR, hung up by the caller with a 200 to its BYE.
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    // Prompts, not silence: the welcome, the main menu in French (not English), please-hold,
    // in that order; then the agent's voice.
    let audio = heard.audio();
    assert!(
        rms(&audio[..audio.len().min(4 * 8000)]) > 300.0,
        "silence\n{}",
        why()
    );
    let welcome = assert_heard(&audio, "fr", "welcome", &why);
    let menu = assert_heard(&audio, "fr", "main-menu", &why);
    let please_hold = assert_heard(&audio, "fr", "please-hold", &why);
    assert!(
        welcome < menu && menu < please_hold,
        "out of order: {welcome} {menu} {please_hold}"
    );
    let english = heard_prompt(&audio, "en", "main-menu").map_or(0.0, |m| m.correlation);
    assert!(
        english < 0.6,
        "the English main menu was played ({english:.2})\n{}",
        why()
    );
    let windows = heard.audio_windows(10);
    let agent_said = windows.iter().filter(|w| share(w, AGENT_HZ) > 0.8).count();
    assert!(
        agent_said >= 10,
        "the caller heard {agent_said} × 200 ms of the agent\n{}",
        why()
    );

    // Both French agents rang at once; 1002 answered and 1001 was cancelled.
    assert!(
        ringing.ok() && answering.ok(),
        "an agent's phone failed\n{}",
        why()
    );
    assert_eq!(
        (got(&ringing, "INVITE"), got(&answering, "INVITE")),
        (1, 1),
        "{}",
        why()
    );
    assert_eq!(
        got(&ringing, "CANCEL"),
        1,
        "1001 was not cancelled\n{}",
        why()
    );
    assert_eq!(got(&answering, "BYE"), 1, "1002 was not hung up\n{}", why());
    let apart = invites_apart(&ringing, &answering);
    assert!(
        apart < Duration::from_millis(500),
        "the agents rang {apart:?} apart\n{}",
        why()
    );
    // The one who answered heard the caller.
    let packets = agent_heard.audio_packets();
    assert!(packets >= 100, "1002 heard {packets} packets\n{}", why());
    let agent_hears = dominant_frequency(&agent_heard.audio(), RATE);
    assert!(
        is_tone(agent_hears, CALLER_HZ),
        "1002 heard {agent_hears:?}\n{}",
        why()
    );
    let id = call_id(&caller);
    assert!(queued_in(&sb, &id, "after-sales-fr"), "{}", why());
    let mut offered = offered_to(&sb, &id);
    offered.sort();
    assert_eq!(offered, ["1001", "1002"], "one offer each\n{}", why());
    assert!(
        logged(&sb, &id, "call ended cause=caller-hangup"),
        "{}",
        why()
    );
    // The conversation is recorded like any other: caller left, agent right.
    let rec = wait_for_wav(
        &sb.path(&format!("rec/{id}.wav")),
        Duration::from_secs(2),
        AFTER_CALLER,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    assert_eq!(rec.channels.len(), 2, "the call's recording is not stereo");
    assert!(
        is_tone(dominant_frequency(rec.left(), RATE), CALLER_HZ),
        "recording, left"
    );
    assert!(
        is_tone(dominant_frequency(rec.right(), RATE), AGENT_HZ),
        "recording, right"
    );
}

/// Whether the shipped dialplan, fed `keys` at `at`, reaches its main menu (open) rather than
/// its closed menu: `dialplan simulate`, the interpreter the server runs.
fn simulated_open(at: SystemTime, keys: &str) -> bool {
    let journey = ivr::simulate(at, IVR, keys).unwrap_or_else(|e| panic!("simulate: {e}"));
    match (
        journey.contains("\nstep main-menu\n"),
        journey.contains("\nstep closed\n"),
    ) {
        (true, false) => true,
        (false, true) => false,
        _ => panic!("simulate reached neither the main nor the closed menu:\n{journey}"),
    }
}

#[test]
fn shipped_ivr_follows_the_clock() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Shipped, |c| c);
    // '1' for French, then '2', late enough for the closed menu and still inside the main
    // menu: returns (after-sales-fr) when open, a voicemail when closed.
    let first = prompt_length("fr", "welcome") + MARGIN;
    let second = first + prompt_length("fr", "closed") + MARGIN;
    assert!(second - first < prompt_length("fr", "main-menu") + MENU_TIMEOUT);
    let keys = [('1', first), ('2', second)];
    let greeting = prompt_length("fr", "voicemail-greeting") + BEEP;
    let hold = second + prompt_length("fr", "please-hold").max(greeting) + Duration::from_secs(3);
    let ringing = ringing_agent(&sb, "1001", 1);
    let before = simulated_open(SystemTime::now(), "1,2");
    let (caller, heard) = ivr_caller(&sb, &keys, hold).finish();
    let after = simulated_open(SystemTime::now(), "1,2");
    let rang =
        !sip_log::requests(&ringing.messages_so_far(), Direction::Received, "INVITE").is_empty();
    // Only an agent who rang has a call to finish.
    let agent = rang.then(|| ringing.wait_at_most(AFTER_CALLER));
    let why = || explain(&sb, &[("caller", &caller)]) + &format!("\nagent 1001: {agent:?}");
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    // A call across an opening or closing time may go either way; the rest must agree.
    let open = if before == after { before } else { rang };
    eprintln!(
        "the shipped line is {} now",
        if open { "open" } else { "closed" }
    );
    let audio = heard.audio();
    let id = call_id(&caller);
    let voicemail = sb.path(&format!("voicemail/after-sales-fr/{id}.wav"));
    if open {
        let agent = agent
            .as_ref()
            .unwrap_or_else(|| panic!("open, yet 1001 did not ring\n{}", why()));
        assert!(
            agent.ok() && got(agent, "CANCEL") == 1,
            "1001's phone failed\n{}",
            why()
        );
        assert!(queued_in(&sb, &id, "after-sales-fr"), "{}", why());
        assert_heard(&audio, "fr", "main-menu", &why);
        assert!(!voicemail.exists(), "a voicemail when open\n{}", why());
    } else {
        assert!(!rang, "closed, yet an agent rang\n{}", why());
        assert_heard(&audio, "fr", "closed", &why);
        assert_heard(&audio, "fr", "voicemail-greeting", &why);
        assert_voicemail(&voicemail, &why);
    }
}

#[test]
fn english_caller_reaches_support_and_unknown_number_is_404() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Copy(open_copy()), |c| c);
    let keys = to_queue('2', '3'); // English, then technical support: support-en
    // support-en picks the longest-idle of its ready members (the shipped default strategy).
    // A phone registering logs its agent in, ready, so the order of registration is the order
    // of idleness: 1003, registered before 1004, has been idle the longest, and is the one
    // offered the caller. 1004 (also English) must not ring at all, nor 1001 (French only, not
    // a member). 1004's phone listens all the same, so that an INVITE to it would show.
    let french = ringing_agent(&sb, "1001", 1);
    let longest_idle = ringing_agent(&sb, "1003", 1);
    let idle_less = ringing_agent(&sb, "1004", 1);
    // This caller's keys are RFC 4733 events in a pcap that SIPp itself plays. It hangs up 3 s
    // after joining the queue, well within the 20 s an offer rings: 1003's phone rings once,
    // until the switch cancels it, and the ACD tries nobody else.
    let hold = keys.queued + Duration::from_secs(3);
    let data = tempdir::Dir::new("ivr-data");
    let pcap = write_pcap(&data, "english.pcap", &voice(&keys.keys, hold + MARGIN));
    let caller = pcap_caller(&sb, "media_caller.xml", &pcap, hold).run();
    let rang = longest_idle.wait_at_most(AFTER_CALLER);
    let (french, idle_less) = (french.messages_so_far(), idle_less.messages_so_far());
    let why = || explain(&sb, &[("caller", &caller), ("1003", &rang)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    let id = call_id(&caller);
    assert!(queued_in(&sb, &id, "support-en"), "{}", why());
    assert!(rang.ok(), "1003's phone failed\n{}", why());
    assert_eq!(
        (got(&rang, "INVITE"), got(&rang, "CANCEL")),
        (1, 1),
        "1003 (idle the longest) did not ring once, until cancelled\n{}",
        why()
    );
    let rang_1004 = sip_log::requests(&idle_less, Direction::Received, "INVITE");
    assert!(
        rang_1004.is_empty(),
        "1004 (idle less long than 1003) rang:\n{idle_less}\n{}",
        why()
    );
    let rang_1001 = sip_log::requests(&french, Direction::Received, "INVITE");
    assert!(rang_1001.is_empty(), "1001 (French only) rang:\n{french}");
    assert_eq!(offered_to(&sb, &id), ["1003"], "{}", why());

    let unknown = Sipp::new("caller_expect_404.xml", Some(sb.sip), free_port())
        .arg(&["-s", "+33999999999"])
        .run();
    assert!(unknown.ok(), "{:?}\n{}", unknown.flow(), tail(&sb));
    assert!(
        unknown.flow().iter().any(|l| l == "SIP/2.0 404 Not Found"),
        "{:?}",
        unknown.flow()
    );
}

#[test]
fn queue_overflows_to_voicemail_when_nobody_answers() {
    if !require_tool("sipp") {
        return;
    }
    let plan = replace_once(
        &open_copy(),
        "enqueue \"after-sales-${language}\" priority=0 max-wait=300",
        "enqueue \"after-sales-${language}\" priority=0 max-wait=6",
    )
    .expect("the after-sales queue's max-wait");
    let sb = ivr_switch(Dialplans::Copy(plan), |c| c);
    // No agent is registered: the queue overflows at once, to the all-busy menu, where '2'
    // leaves a message. The caller talks for 3 s after the beep and ends it with '#'; the
    // dialplan thanks and hangs up.
    let mut keys = to_queue('1', '1');
    let busy_key = keys.queued + MARGIN;
    let recording_from = busy_key + prompt_length("fr", "voicemail-greeting") + BEEP;
    let hash_key = recording_from + Duration::from_secs(3);
    keys.keys.extend([('2', busy_key), ('#', hash_key)]);
    let voice = voice(&keys.keys, hash_key + Duration::from_secs(5));
    let caller = Caller::call(sb.sip, "ivr_caller_hung_up.xml", IVR, voice, None, &[]);
    let (caller, heard) = caller.finish();
    let why = || explain(&sb, &[("caller", &caller)]);
    assert!(
        caller.ok(),
        "the caller was not hung up by the dialplan\n{}",
        why()
    );
    let id = call_id(&caller);
    // The ACD refuses a caller nobody logged in can serve: with no phone registered, no agent
    // is logged in, so the caller goes back to the dialplan on joining, never offered to anyone.
    assert!(queued_in(&sb, &id, "after-sales-fr"), "{}", why());
    let overflow = r#"queue gave the caller back queue="after-sales-fr" reason="no-agents""#;
    assert!(logged(&sb, &id, overflow), "{}", why());
    assert!(
        !logged(&sb, &id, "offered to an agent"),
        "an agent was offered the caller\n{}",
        why()
    );
    let audio = heard.audio();
    let busy = assert_heard(&audio, "fr", "all-busy", &why);
    let greeting = assert_heard(&audio, "fr", "voicemail-greeting", &why);
    let thanks = assert_heard(&audio, "fr", "thank-you-goodbye", &why);
    assert!(
        busy < greeting && greeting < thanks,
        "prompts out of order\n{}",
        why()
    );
    assert!(
        logged(&sb, &id, "dialplan hangs up cause=voicemail"),
        "{}",
        why()
    );

    let path = sb.path(&format!("voicemail/after-sales-fr/{id}.wav"));
    let lasts = assert_voicemail(&path, &why).duration().as_secs_f64();
    assert!(
        (2.0..=4.0).contains(&lasts),
        "{lasts:.2} s of voicemail for 3 s of talk\n{}",
        why()
    );
}

/// Calls a [`goodbye_entry`]: answered, hears goodbye, hung up by the dialplan with `cause`.
fn assert_goodbye(sb: &Switchboard, number: &str, cause: &str) {
    let voice = RtpStream::pcma_tone(CALLER_HZ, 5.0, LEVEL);
    let (caller, heard) =
        Caller::call(sb.sip, "ivr_caller_hung_up.xml", number, voice, None, &[]).finish();
    let why = || explain(sb, &[(number, &caller)]);
    assert!(caller.ok(), "the call to {number} failed\n{}", why());
    assert_heard(&heard.audio(), "fr", "goodbye", &why);
    let hung_up = format!("dialplan hangs up cause={cause}");
    assert!(
        logged(sb, &call_id(&caller), &hung_up),
        "not the `{cause}` step\n{}",
        why()
    );
}

fn assert_404(sb: &Switchboard, number: &str) {
    let run = Sipp::new("caller_expect_404.xml", Some(sb.sip), free_port())
        .arg(&["-s", number])
        .run();
    assert!(
        run.ok(),
        "{number} is not 404: {:?}\n{}",
        run.flow(),
        tail(sb)
    );
}

/// Asserts a parked caller heard the music on hold from before `from` to the end of its call,
/// without a break.
fn assert_music_throughout(who: usize, heard: &Received, from: Instant, why: &dyn Fn() -> String) {
    // 200 ms at a time: the music's share of the power (1.0 for the music alone).
    let windows: Vec<(Instant, f64)> = heard
        .audio_windows_at(10)
        .iter()
        .map(|(at, pcm)| (*at, share(pcm, MOH_HZ)))
        .collect();
    let music = |w: &(Instant, f64)| w.1 > 0.8;
    // The music starts where a second of it does (speech has moments near 440 Hz too).
    let Some(first) = windows.windows(5).position(|run| run.iter().all(music)) else {
        panic!(
            "parked caller {who} never heard the music: {windows:?}\n{}",
            why()
        );
    };
    let music_from = windows[first].0;
    assert!(
        music_from < from,
        "parked caller {who}'s music started after the first reload"
    );
    // Every window since (but the last, cut by the BYE) is the music.
    let since: Vec<f64> = windows[first..windows.len() - 1]
        .iter()
        .map(|w| w.1)
        .collect();
    assert!(
        since.iter().all(|s| *s > 0.8),
        "{who}'s music broke: {since:?}\n{}",
        why()
    );
    let end = heard.packets().last().map_or(from, |p| p.at);
    let gap = heard.longest_gap(music_from, end + Duration::from_millis(1));
    assert!(
        gap < Duration::from_millis(200),
        "{who}'s audio stopped for {gap:?}\n{}",
        why()
    );
}

#[test]
fn reload_during_live_calls_drops_none() {
    if !require_tool("sipp") {
        return;
    }
    let plan = open_copy();
    let sb = ivr_switch(Dialplans::Copy(plan.clone()), |c| c);
    let file = sb.path("dialplans/after-sales.kdl");
    // Three callers wait in after-sales-fr with music while the dialplans are reloaded. Its one
    // logged-in member, 1001, never answers: the ACD offers it one caller at a time, in the
    // order they joined, and the others wait with no offer. So that this order is known, the
    // callers press their keys STAGGER apart and join STAGGER apart, and each hangs up the
    // same time after joining, so they leave in the order they joined too: 1001 rings for
    // caller 0 from its joining until it hangs up, then (the offer cancelled, which is no
    // miss) for caller 1 until it does, then for caller 2. They stay 8 s after the last one
    // has joined, time enough for the reloads; no offer rings as long as the 20 s ring
    // timeout (caller 0's, the longest, rings 2 × STAGGER + 8 s).
    const STAGGER: Duration = Duration::from_secs(2);
    const PARKED: u32 = 3;
    let agent = ringing_agent(&sb, "1001", PARKED);
    let keys = to_queue('1', '1');
    let stay = STAGGER * (PARKED - 1) + Duration::from_secs(8);
    let mut parked: Vec<Caller> = (0..PARKED)
        .map(|i| {
            let late: Vec<(char, Duration)> = keys
                .keys
                .iter()
                .map(|&(k, at)| (k, at + STAGGER * i))
                .collect();
            ivr_caller(&sb, &late, keys.queued + STAGGER * i + stay)
        })
        .collect();
    let all_queued = sb.wait_for_log(keys.queued + stay, |log| {
        let queued = log.matches(r#"caller queued queue="after-sales-fr""#);
        queued.count() == PARKED as usize
    });
    assert!(
        all_queued.is_some(),
        "the 3 callers did not reach the queue\n{}",
        tail(&sb)
    );
    assert_404(&sb, "+33180000001");

    // A new entry, by `switchboard reload`: the new number is routed by the new set.
    let first_reload = Instant::now();
    let with_new = format!("{plan}{}", goodbye_entry("+33180000001", "new-number"));
    std::fs::write(&file, &with_new).expect("edit the dialplan");
    let ran = sb.reload();
    assert_eq!(ran.code, Some(0), "reload failed: {ran:?}\n{}", tail(&sb));
    assert!(
        ran.stdout.starts_with("ok") && ran.stdout.contains("2 entries"),
        "{ran:?}"
    );
    assert_goodbye(&sb, "+33180000001", "new-number");

    // A syntax error: refused with where it is, and the running set stays.
    let broken = format!("{with_new}\nstep \"broken\" {{\n    play \"goodbye\"\n");
    std::fs::write(&file, broken).expect("break the dialplan");
    let ran = sb.reload();
    assert_eq!(ran.code, Some(1), "a broken dialplan was accepted: {ran:?}");
    let after_name = ran.stdout.split("after-sales.kdl:").nth(1).unwrap_or("");
    let line_col: Vec<bool> = after_name
        .split(':')
        .take(2)
        .map(|n| n.parse::<u32>().is_ok())
        .collect();
    assert_eq!(line_col, [true, true], "no file:line:col in {ran:?}");
    let refused = sb.wait_for_log(Duration::from_secs(2), |l| {
        l.contains("the running dialplans stay")
    });
    assert!(
        refused.is_some(),
        "no log line about the refused reload\n{}",
        tail(&sb)
    );
    assert_goodbye(&sb, "+33180000001", "new-number");

    // SIGHUP reloads too.
    let with_two = format!(
        "{with_new}{}",
        goodbye_entry("+33180000002", "after-sighup")
    );
    std::fs::write(&file, with_two).expect("edit the dialplan");
    sb.sighup();
    let hup = sb.wait_for_log(Duration::from_secs(5), |log| {
        log.lines()
            .any(|l| l.contains("dialplans reloaded") && l.contains("SIGHUP"))
    });
    assert!(hup.is_some(), "SIGHUP did not reload\n{}", tail(&sb));
    assert_goodbye(&sb, "+33180000002", "after-sighup");
    let reloads_done = Instant::now();

    // The parked callers were up through all of it, and end their calls themselves.
    for (i, caller) in parked.iter_mut().enumerate() {
        assert!(
            !caller.sipp.has_exited(),
            "parked caller {i} left before the reloads were done"
        );
    }
    let parked: Vec<(SippResult, Received)> = parked.into_iter().map(Caller::finish).collect();
    let agent = agent.wait_at_most(AFTER_CALLER);
    let ids: Vec<String> = parked.iter().map(|(caller, _)| call_id(caller)).collect();
    for (i, (caller, heard)) in parked.iter().enumerate() {
        let why = || explain(&sb, &[("parked caller", caller), ("1001", &agent)]);
        assert!(
            caller.ok(),
            "parked caller {i}'s call failed (a BYE from the switch?)\n{}",
            why()
        );
        assert_eq!(
            got(caller, "BYE"),
            0,
            "the switch hung up parked caller {i}\n{}",
            why()
        );
        assert_music_throughout(i, heard, first_reload, &why);
        assert!(
            heard.packets().last().is_some_and(|p| p.at > reloads_done),
            "{}",
            why()
        );
        assert_eq!(offered_to(&sb, &ids[i]), ["1001"], "caller {i}\n{}", why());
    }
    let why = || format!("1001: {:?}\n{}\n{}", agent.flow(), agent.errors, tail(&sb));
    assert!(agent.ok(), "1001's phone failed\n{}", why());
    // 1001 rang for one caller at a time, each until it hung up...
    assert_eq!(
        rings(&agent),
        ["INVITE", "CANCEL"].repeat(ids.len()),
        "{}",
        why()
    );
    // ...in the order they joined: each offered once the one before had hung up.
    let mut order = Vec::new();
    for id in &ids {
        order.push(log_line(&sb, id, "caller queued"));
    }
    for id in &ids {
        order.push(log_line(&sb, id, "offered to an agent"));
        order.push(log_line(&sb, id, "call ended cause=caller-hangup"));
    }
    let joined = &order[..ids.len()];
    let served = &order[ids.len()..];
    assert!(
        order.iter().all(Option::is_some) && joined.is_sorted() && served.is_sorted(),
        "joined {joined:?}, then offered and hung up {served:?} (log lines)\n{}",
        why()
    );
}

#[test]
fn sip_info_and_inband_digits_drive_the_menu() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Copy(open_copy()), |c| c);
    // One agent for two callers: the ACD offers it one caller at a time, and the other waits
    // (with music) until that offer ends. So that what happens is known in advance, the
    // callers do not reach the queue together: the in-band caller presses its keys STAGGER
    // later, and joins STAGGER after the INFO caller, whose offer is ringing by then. The
    // INFO caller hangs up STAGGER + 2 s after joining, so the in-band caller has waited 2 s;
    // that ends the offer (cancelled: no miss, no rest), and 1003 is offered the in-band
    // caller at once. The in-band caller hangs up 4 s later, which ends the second offer.
    // Each offer rings 5 s or less, far from the 20 s ring timeout: no miss, no other offer.
    const STAGGER: Duration = Duration::from_secs(3);
    let agent = ringing_agent(&sb, "1003", 2);
    let keys = to_queue('2', '1'); // English, orders: after-sales-en
    let hold = keys.queued + STAGGER + Duration::from_secs(2);
    let [(k1, at1), (k2, at2)] = [keys.keys[0], keys.keys[1]];
    // One caller presses with SIP INFO (its voice carries no key)...
    let (first_ms, then_ms) = (
        at1.as_millis().to_string(),
        (at2 - at1).as_millis().to_string(),
    );
    let (digit1, digit2) = (k1.to_string(), k2.to_string());
    let info_keys = [
        "-key", "first_ms", &first_ms, "-key", "digit1", &digit1, "-key", "then_ms", &then_ms,
        "-key", "digit2", &digit2,
    ];
    let voice = RtpStream::pcma_tone(CALLER_HZ, (hold + MARGIN).as_secs_f64(), LEVEL);
    // Its -d runs after its last key.
    let info = Caller::call(
        sb.sip,
        "ivr_caller_info.xml",
        IVR,
        voice,
        Some(hold - at2),
        &info_keys,
    );
    // ...the other has no RFC 4733 at all: tone pairs in the audio of a pcap SIPp plays. The
    // language key comes STAGGER later into the language menu (which waits 5 s after its
    // prompt), and the second the same MARGIN after it.
    let late: Vec<(char, Duration)> = keys.keys.iter().map(|&(k, at)| (k, at + STAGGER)).collect();
    let late_hold = keys.queued + STAGGER + Duration::from_secs(6);
    let data = tempdir::Dir::new("ivr-data");
    let pcap = write_pcap(
        &data,
        "inband.pcap",
        &RtpStream::pcma_inband_keys(
            &late,
            KEY_LENGTH + KEY_LENGTH / 5,
            late_hold + MARGIN,
            LEVEL,
        )
        .expect("keys fit the call"),
    );
    let inband = pcap_caller(&sb, "ivr_caller_inband.xml", &pcap, late_hold).spawn();
    let (info, heard) = info.finish();
    let inband = inband.wait();
    let agent = agent.wait_at_most(AFTER_CALLER);
    let why = || {
        explain(
            &sb,
            &[("INFO", &info), ("in-band", &inband), ("1003", &agent)],
        )
    };
    assert!(info.ok() && inband.ok(), "a call failed\n{}", why());
    let infos = sip_log::requests(&info.messages, Direction::Sent, "INFO");
    let dtmf_relay =
        |m: &sip_log::LoggedMessage| m.header("Content-Type") == Some("application/dtmf-relay");
    assert!(
        infos.len() == 2 && infos.iter().all(dtmf_relay),
        "{}",
        why()
    );
    let (info_id, inband_id) = (call_id(&info), call_id(&inband));
    for (who, id) in [("INFO", &info_id), ("in-band", &inband_id)] {
        assert!(
            queued_in(&sb, id, "after-sales-en"),
            "the {who} caller\n{}",
            why()
        );
        assert_eq!(offered_to(&sb, id), ["1003"], "the {who} caller\n{}", why());
    }
    assert_heard(&heard.audio(), "en", "main-menu", &why);

    // One caller at a time: 1003 rang for the INFO caller until it hung up, and only then for
    // the in-band caller, who had joined in the meantime.
    assert!(agent.ok(), "1003's phone failed\n{}", why());
    assert_eq!(
        rings(&agent),
        ["INVITE", "CANCEL", "INVITE", "CANCEL"],
        "1003 did not ring for one caller, then the other\n{}",
        why()
    );
    let order = [
        log_line(&sb, &info_id, "offered to an agent"),
        log_line(&sb, &inband_id, "caller queued"),
        log_line(&sb, &info_id, "call ended cause=caller-hangup"),
        log_line(&sb, &inband_id, "offered to an agent"),
    ];
    assert!(
        order.iter().all(Option::is_some) && order.is_sorted(),
        "INFO offered, in-band queued, INFO hung up, in-band offered: lines {order:?}\n{}",
        why()
    );
}

#[test]
fn a_call_id_chosen_by_the_caller_cannot_take_the_voicemail_out_of_its_folder() {
    if !require_tool("sipp") {
        return;
    }
    // Straight to the shipped voicemail step, which records to
    // voicemail/after-sales-fr/${call_id}.wav; the caller's Call-ID climbs out of it.
    let plan = format!(
        "{}\nentry \"+33180000009\" start=\"voicemail\"\n",
        open_copy()
    );
    let sb = ivr_switch(Dialplans::Copy(plan), |c| c);
    let hold = prompt_length("fr", "voicemail-greeting") + BEEP + Duration::from_secs(3);
    let voice = voice(&[], hold + MARGIN);
    let climbing = ["-cid_str", "../../../escape-%u-%p@%s"];
    let caller = Caller::call(
        sb.sip,
        "ivr_caller.xml",
        "+33180000009",
        voice,
        Some(hold),
        &climbing,
    );
    let (caller, _) = caller.finish();
    let why = || explain(&sb, &[("caller", &caller)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    let id = call_id(&caller);
    assert!(id.starts_with("../../../escape-"), "SIPp sent Call-ID {id}");
    let name = id.trim_start_matches("../");
    // The file was created when the recording started, during the call.
    let voicemail_dir = sb.path("voicemail");
    let strays: Vec<PathBuf> = recording::wav_files_under(sb.dir.path())
        .into_iter()
        .filter(|p| !p.starts_with(&voicemail_dir) && !p.starts_with(sb.path("moh")))
        .collect();
    assert!(
        strays.is_empty(),
        "voicemail written outside its folder: {strays:?}\n{}",
        why()
    );
    // Its `..` are dropped: it is in the mailbox, under the rest of the caller's Call-ID.
    let inside = sb.path(&format!("voicemail/after-sales-fr/{name}.wav"));
    assert_voicemail(&inside, &why);
}

#[test]
fn a_changed_file_is_reloaded_when_the_folder_is_watched() {
    if !require_tool("sipp") {
        return;
    }
    let plan = open_copy();
    let sb = ivr_switch(Dialplans::Copy(plan.clone()), |c| {
        c.set("dialplan", "watch", "true")
    });
    assert_404(&sb, "+33180000003");
    let with_new = format!("{plan}{}", goodbye_entry("+33180000003", "watched"));
    std::fs::write(sb.path("dialplans/after-sales.kdl"), with_new).expect("edit the dialplan");
    // The folder is looked at every 2 s.
    let reloaded = sb.wait_for_log(Duration::from_secs(10), |log| {
        log.lines()
            .any(|l| l.contains("dialplans reloaded") && l.contains("file change"))
    });
    assert!(
        reloaded.is_some(),
        "the change was not picked up\n{}",
        tail(&sb)
    );
    assert_goodbye(&sb, "+33180000003", "watched");
}

/// An entry that looks the caller up in the CRM, then goes to the shipped callback step.
const CALLBACK_ENTRY: &str = r#"
entry "+33180000008" start="crm-callback"
step "crm-callback" {
    answer
    http "GET" "http://CRM/customers?phone=${caller_id}" timeout="1500ms" {
        set "customer" "$.name"
        set "customer_id" "$.id"
    }
    log "customer ${customer_id} is ${customer}"
    goto "callback"
}
"#;

#[test]
fn a_callback_number_is_read_said_back_and_booked_with_the_crm() {
    if !require_tool("sipp") {
        return;
    }
    let crm = Crm::start(r#"{"name":"Dupont","id":"C-42"}"#, Duration::from_secs(40))
        .expect("CRM server");
    let plan = format!("{}{CALLBACK_ENTRY}", open_copy())
        .replace("127.0.0.1:8089", &crm.addr().to_string())
        .replace("http://CRM/", &format!("http://{}/", crm.addr()));
    let sb = ivr_switch(Dialplans::Copy(plan), |c| c);
    // The number is typed over the prompt that asks for it; it is said back digit by digit
    // (short fragments), then '1' confirms.
    let number = "0612345678";
    let typed: Vec<(char, Duration)> = number
        .chars()
        .zip(0u32..)
        .map(|(d, i)| (d, Duration::from_millis(1000 + 250 * u64::from(i))))
        .collect();
    let read_done = typed.last().map_or(Duration::ZERO, |k| k.1) + KEY_LENGTH;
    let said: Duration = number
        .chars()
        .map(|d| prompt_length("fr", &format!("say/{d}")))
        .sum();
    let said_back = prompt_length("fr", "you-entered") + said;
    let confirm = read_done.max(prompt_length("fr", "enter-callback-number")) + said_back + MARGIN;
    let mut keys = typed;
    keys.push(('1', confirm));
    let length = confirm + prompt_length("fr", "callback-confirmed") + Duration::from_secs(4);
    let voice = voice(&keys, length);
    let (caller, heard) = Caller::call(
        sb.sip,
        "ivr_caller_hung_up.xml",
        "+33180000008",
        voice,
        None,
        &[],
    )
    .finish();
    let why = || explain(&sb, &[("caller", &caller)]) + &format!("\nCRM: {:?}", crm.requests());
    assert!(
        caller.ok(),
        "the caller was not hung up by the dialplan\n{}",
        why()
    );
    let id = call_id(&caller);
    assert!(logged(&sb, &id, "customer C-42 is Dupont"), "{}", why());
    assert!(
        logged(&sb, &id, "dialplan hangs up cause=callback"),
        "{}",
        why()
    );

    // What the caller heard: asked, told back the ten digits, asked to confirm, confirmed.
    let audio = heard.audio();
    let entered = assert_heard(&audio, "fr", "you-entered", &why);
    let confirm_menu = assert_heard(&audio, "fr", "confirm-number", &why);
    assert_heard(&audio, "fr", "callback-confirmed", &why);
    let gap = Duration::from_secs_f64(
        f64::from(u32::try_from(confirm_menu.saturating_sub(entered)).unwrap_or(u32::MAX))
            / f64::from(RATE),
    );
    let off = gap.abs_diff(said_back);
    assert!(
        off < Duration::from_millis(300),
        "said back in {gap:?}, not {said_back:?}"
    );

    // What the CRM was told: the lookup, then the booking.
    let requests = crm.requests();
    let [lookup, booking] = requests.as_slice() else {
        panic!("the CRM got {requests:?}\n{}", why());
    };
    assert_eq!(lookup.method, "GET");
    assert!(
        lookup.target.starts_with("/customers?phone=") && lookup.target.ends_with("33612345678")
    );
    assert_eq!(
        (booking.method.as_str(), booking.target.as_str()),
        ("POST", "/callbacks")
    );
    assert_eq!(booking.content_type.as_deref(), Some("application/json"));
    let expected = format!(r#"{{"number":"{number}","language":"fr","caller":"+33612345678"}}"#);
    assert_eq!(booking.body, expected, "{}", why());
}
