use super::*;

#[test]
fn embedded_defaults_are_the_shipped_file_and_valid() {
    let config = Config::default_embedded().unwrap();
    assert_eq!(
        config.sip.udp,
        vec!["127.0.0.1:5060".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(config.sip.tcp, config.sip.udp);
    let extensions: Vec<_> = config.agents.iter().map(|a| a.extension.as_str()).collect();
    assert_eq!(extensions, ["1001", "1002", "1003", "1004"]);
    assert_eq!(config.agents[1].password, "demo-1002");
    assert_eq!(config.agents[1].languages, ["fr", "en"]);
    assert_eq!(config.trunks[0].name, "local");
    assert!(config.trunks[0].allow_from[0].contains("127.0.0.1".parse().unwrap()));
    // The serde defaults agree with the file, so a partial file means what the comments say.
    assert_eq!(config.sip, SipConfig::default());
    assert_eq!(config.api, ApiConfig::default());
}

#[test]
fn the_api_stays_on_loopback_unless_told_and_needs_long_tokens() {
    let public = DEFAULT_TOML.replace("listen = \"127.0.0.1:8080\"", "listen = \"0.0.0.0:8080\"");
    let message = Config::parse(&public, "x.toml").unwrap_err().to_string();
    assert!(message.contains("api.listen"), "{message}");
    assert!(message.contains("insecure_http"), "{message}");
    // Told, it still refuses the published demo passwords.
    let told = public.replace("insecure_http = false", "insecure_http = true");
    let message = Config::parse(&told, "x.toml").unwrap_err().to_string();
    assert!(message.contains("agents[0].password"), "{message}");
    assert!(message.contains("0.0.0.0:8080"), "{message}");
    let short = DEFAULT_TOML.replace("tokens = []", "tokens = [\"secret\"]");
    let message = Config::parse(&short, "x.toml").unwrap_err().to_string();
    assert!(message.contains("api.tokens[0]"), "{message}");
    let off = DEFAULT_TOML.replace(
        "enabled = true\nlisten = \"127.0.0.1:8080\"",
        "enabled = false\nlisten = \"0.0.0.0:8080\"",
    );
    assert!(
        Config::parse(&off, "x.toml").is_ok(),
        "a disabled API listens nowhere"
    );
}

#[test]
fn demo_passwords_refuse_a_public_bind() {
    let text = DEFAULT_TOML.replace("udp = [\"127.0.0.1:5060\"]", "udp = [\"0.0.0.0:5060\"]");
    let err = Config::parse(&text, "test").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("agents[0].password"), "{message}");
    assert!(message.contains("demo password"), "{message}");
    assert!(message.contains("0.0.0.0:5060"), "{message}");
}

#[test]
fn unknown_keys_are_named() {
    let text = format!("{DEFAULT_TOML}\n[sip2]\nfoo = 1\n");
    let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(message.contains("sip2"), "{message}");
    let text = DEFAULT_TOML.replace("min_expires = 60", "min_expire = 60");
    let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(message.contains("min_expire"), "{message}");
}

#[test]
fn invalid_values_name_their_key() {
    let cases = [
        (
            DEFAULT_TOML.replace("extension = \"1003\"", "extension = \"10a3\""),
            "agents[2].extension",
        ),
        (
            DEFAULT_TOML.replace("extension = \"1003\"", "extension = \"1001\""),
            "agents[2].extension",
        ),
        (
            DEFAULT_TOML.replace("password = \"demo-1004\"", "password = \"x\""),
            "agents[3].password",
        ),
        (
            DEFAULT_TOML.replace("min_expires = 60", "min_expires = 7200"),
            "sip.min_expires",
        ),
        (
            DEFAULT_TOML.replace("127.0.0.0/8", "127.0.0.0/88"),
            "allow_from",
        ),
    ];
    for (text, key) in cases {
        let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(message.contains(key), "{key}: {message}");
    }
}

#[test]
fn an_empty_file_is_a_valid_minimal_config() {
    let config = Config::parse("", "empty").unwrap();
    assert!(config.agents.is_empty());
    assert_eq!(config.sip, SipConfig::default());
}

#[test]
fn media_recording_dialplan_defaults_match_the_shipped_file() {
    let config = Config::default_embedded().unwrap();
    assert_eq!(config.media, MediaConfig::default());
    assert_eq!(config.recording, RecordingConfig::default());
    assert_eq!(config.dialplan, DialplanConfig::default());
    assert_eq!(config.acd, AcdSection::default());
    assert_eq!(config.store, StoreSection::default());
    let queues: Vec<_> = config.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(
        queues,
        [
            "after-sales-fr",
            "after-sales-en",
            "support-fr",
            "support-en"
        ]
    );
}

#[test]
fn media_and_queue_mistakes_name_their_key() {
    let cases = [
        (
            "rtp_port_min = 20000",
            "rtp_port_min = 20001",
            "media.rtp_port_min",
        ),
        (
            "rtp_port_max = 29999",
            "rtp_port_max = 100",
            "media.rtp_port_max",
        ),
        ("\"G722\", \"opus\"]", "\"G729\"]", "media.codecs[2]"),
        ("tones = \"FR\"", "tones = \"XX\"", "media.tones"),
        (
            "sample_rate = 8000",
            "sample_rate = 44100",
            "recording.sample_rate",
        ),
        (
            "path = \"recordings/{date}/{time}-{call_id}-{agent}.wav\"",
            "path = \"recordings/all.wav\"",
            "recording.path",
        ),
    ];
    for (from, to, key) in cases {
        let text = DEFAULT_TOML.replace(from, to);
        assert_ne!(text, DEFAULT_TOML, "{from} not in the shipped file");
        let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(message.starts_with(key), "{key}: {message}");
    }
    let text = format!("{DEFAULT_TOML}\n[[queues]]\nname = \"vip\"\nagents = [\"9999\"]\n");
    let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(message.starts_with("queues[4].agents[0]"), "{message}");
    let text = format!("{DEFAULT_TOML}\n[[queues]]\nname = \"support-fr\"\n");
    let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(message.starts_with("queues[4].name"), "{message}");
}

#[test]
fn acd_and_queue_options_name_their_key() {
    let cases = [
        (
            "strategy = \"longest-idle\"",
            "strategy = \"fastest\"",
            "queues[0].strategy",
        ),
        ("wrapup_s = 0", "wrapup_s = -1", "wrapup_s"),
        (
            "announce_every_s = 0\n",
            "announce_every_s = 5\n",
            "queues[0].announce_every_s",
        ),
        (
            "login = \"registration\"",
            "login = \"always\"",
            "acd.login",
        ),
        (
            "time_zone = \"Europe/Paris\"",
            "time_zone = \"Europe/Lutetia\"",
            "acd.time_zone",
        ),
        (
            "service_level = \"offered\"",
            "service_level = \"all\"",
            "acd.service_level",
        ),
        ("1 = \"break\"", "x = \"break\"", "acd.pause_reasons"),
    ];
    for (from, to, key) in cases {
        let text = DEFAULT_TOML.replacen(from, to, 1);
        assert_ne!(text, DEFAULT_TOML, "{from} not in the shipped file");
        let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(message.contains(key), "{key}: {message}");
    }
    let text = format!(
        "{DEFAULT_TOML}\n[[queues]]\nname = \"vip\"\nagents = [\"1001\"]\npenalties = {{ \"1002\" = 1 }}\n"
    );
    let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(message.starts_with("queues[4].penalties"), "{message}");
    let text = DEFAULT_TOML.replacen(
        "languages = [\"fr\"]",
        "languages = [\"fr\"]\nskills = { returns = 0 }",
        1,
    );
    let message = Config::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(message.starts_with("agents[0].skills.returns"), "{message}");
}

#[test]
fn mistakes_in_several_sections_are_all_reported() {
    let text = DEFAULT_TOML
        .replace("tokens = []", "tokens = [\"short\"]")
        .replace(
            "extension_ring_timeout_s = 60",
            "extension_ring_timeout_s = 0",
        )
        .replace("udp_buffer_bytes = 4194304", "udp_buffer_bytes = 1024");
    let err = Config::parse(&text, "x.toml").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, ConfigError::Many(ref p) if p.len() == 3),
        "{message}"
    );
    assert!(
        message.starts_with("x.toml") || message.contains("3 problems"),
        "{message}"
    );
    for key in [
        "api.tokens[0]",
        "dialplan.extension_ring_timeout_s",
        "sip.udp_buffer_bytes",
    ] {
        assert!(message.contains(key), "{key} missing from: {message}");
    }
}
