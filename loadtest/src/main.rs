fn main() {
    eprintln!("tern-load: not built yet (issue 3)");
    std::process::exit(2);
}
