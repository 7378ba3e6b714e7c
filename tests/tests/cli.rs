//! The command line as an admin meets it.

use std::process::Command;

use switchboard_tests::{binary, free_port, tempdir::Dir, workspace};

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(binary())
        .args(args)
        .output()
        .expect("switchboard runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn version_and_help_speak_to_a_newcomer() {
    let (code, text) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("switchboard "), "{text}");
    let (code, text) = run(&["--help"]);
    assert_eq!(code, 0);
    for needle in ["serve", "config", "demo agents 1001-1004", "Examples:"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let (_, text) = run(&["serve", "--help"]);
    assert!(
        text.contains("./switchboard.toml if present, else built-in defaults"),
        "{text}"
    );
}

#[test]
fn config_check_accepts_the_shipped_file_and_names_the_bad_key() {
    let shipped = workspace().join("switchboard.toml");
    let (code, text) = run(&["config", "check", "--config", shipped.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("ok"), "{text}");
    let dir = Dir::new("cli");
    let broken = dir.path().join("broken.toml");
    let text = std::fs::read_to_string(&shipped)
        .unwrap()
        .replace("min_expires = 60", "min_expirez = 60");
    std::fs::write(&broken, text).unwrap();
    let (code, text) = run(&["config", "check", "--config", broken.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("min_expirez"), "{text}");
}

#[test]
fn serve_refuses_a_public_bind_with_demo_passwords() {
    let dir = Dir::new("cli");
    let config = dir.path().join("public.toml");
    let text = std::fs::read_to_string(workspace().join("switchboard.toml"))
        .unwrap()
        .replace(
            "udp = [\"127.0.0.1:5060\"]",
            &format!("udp = [\"0.0.0.0:{}\"]", free_port()),
        );
    std::fs::write(&config, text).unwrap();
    let (code, text) = run(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("demo password") && text.contains("not loopback"),
        "{text}"
    );
}

#[test]
fn config_show_prints_the_effective_configuration() {
    let (code, text) = run(&[
        "config",
        "show",
        "--config",
        workspace().join("switchboard.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("extension = \"1004\""), "{text}");
}
