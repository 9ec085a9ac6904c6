//! Writes the bundled fixture exports to `fixtures/` (see
//! `tools/src/fixture_data.rs` for what they cover).
//!
//! `cargo run -p convault-test-support --bin make-fixtures`

use convault_test_support::fixture_data;

fn main() -> std::io::Result<()> {
    // The repository's fixtures/, beside this crate's directory (tools/).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures");
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
