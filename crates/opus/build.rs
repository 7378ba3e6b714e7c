//! Links the system's libopus, found by pkg-config, or says what to install.

fn main() {
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.1")
        .probe("opus")
    {
        eprintln!(
            "\nswitchboard-opus: libopus (>= 1.1) was not found by pkg-config: {e}\n\
             Install it: `apt-get install libopus-dev` (Debian, Ubuntu), \
             `dnf install opus-devel` (Fedora), `brew install opus` (macOS).\n"
        );
        std::process::exit(1);
    }
}
