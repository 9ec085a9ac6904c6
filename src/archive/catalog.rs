//! What the archive records of its stored files: each file's members, and
//! the profiles an export was read with. Read by `verify` (to read a
//! file again and compare) and by a removal (to rewrite it).

use rusqlite::Connection;

use crate::profile::{self, Profiles};

/// A member of a stored file, as recorded.
pub struct MemberRow {
    pub id: i64,
    pub name: String,
    pub bytes: Option<i64>,
    pub crc32: Option<i64>,
    pub sha256: Option<String>,
    pub status: String,
    pub shape: Option<String>,
    pub rows: i64,
}

/// The members of file `file_id`, in the order of the file (zip index).
pub fn member_rows(conn: &Connection, file_id: i64) -> rusqlite::Result<Vec<MemberRow>> {
    conn.prepare_cached(
        "SELECT id, name, bytes, crc32, sha256, status, shape, rows FROM members
         WHERE file_id = ?1 ORDER BY id",
    )?
    .query_map([file_id], |r| {
        Ok(MemberRow {
            id: r.get(0)?,
            name: r.get(1)?,
            bytes: r.get(2)?,
            crc32: r.get(3)?,
            sha256: r.get(4)?,
            status: r.get(5)?,
            shape: r.get(6)?,
            rows: r.get(7)?,
        })
    })?
    .collect()
}

/// The profiles export `export_id` was read with: the files given to it,
/// as stored, then the built-in ones.
pub fn export_profiles(conn: &Connection, export_id: i64) -> std::result::Result<Profiles, String> {
    let files: Vec<(String, String)> = conn
        .prepare(
            "SELECT p.name, p.body FROM export_profiles x JOIN profiles p ON p.id = x.profile_id
             WHERE x.export_id = ?1 ORDER BY x.position",
        )
        .and_then(|mut s| {
            s.query_map([export_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| e.to_string())?;
    let mut given = Vec::new();
    for (name, body) in files {
        let parsed = profile::parse(std::path::Path::new(&name), &body)
            .map_err(|e| format!("stored profile file {name}: {e}"))?;
        given.extend(parsed);
    }
    Profiles::with(given)
}
