//! Rebuilds the crate when a migration changes. `embed_migrations!` reads `migrations/*/`
//! at compile time, but cargo does not know that, so an edited `up.sql` would otherwise
//! be left out of the binary until some Rust file changed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
