//! `tvauth`: parse argv and hand over to the library. Nothing else lives here.

fn main() {
    let code = match tvauth::cli::parse_args(std::env::args().skip(1)).and_then(tvauth::cli::run) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tvauth: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
