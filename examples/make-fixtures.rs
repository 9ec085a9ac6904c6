//! Writes the bundled fixture exports to `fixtures/` (see
//! `tests/cli/support/fixture_data.rs` for what they cover).
//!
//! `cargo run --example make-fixtures`

#[path = "../tests/cli/support/fixture_data.rs"]
mod fixture_data;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::create_dir_all(&dir)?;
    for (name, members) in fixture_data::all() {
        let path = dir.join(name);
        std::fs::write(
            &path,
            fixture_data::zip_dated(&members, fixture_data::generated(name)),
        )?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
