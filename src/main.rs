fn main() {
    eprintln!("tvauth: under construction");
    std::process::exit(2);
}
