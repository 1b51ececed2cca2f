fn main() {
    println!("jitsi-meet-tokens {}", env!("CARGO_PKG_VERSION"));
}
