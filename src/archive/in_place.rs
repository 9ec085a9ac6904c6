//! A prepared statement whose text parameters SQLite reads in place.
//!
//! rusqlite binds every string with `SQLITE_TRANSIENT`, so SQLite first
//! copies it into memory of its own, and then copies it again into the
//! record it writes. For the insert of an entry (its payload, text and
//! message text: about a kilobyte a row) that first copy was the largest
//! single item of a first ingest's writer thread (docs/performance-history.md,
//! "The entries insert binds in place"). [`InPlace`] binds with
//! `SQLITE_STATIC` instead, which is sound only while SQLite cannot read a
//! parameter after its owner is gone: [`InPlace::execute`] borrows every
//! value for the call, and before it returns it resets the statement and
//! clears the bindings, so no pointer outlives the borrow.
//!
//! Invariant: outside `execute`, the statement is reset and has no
//! bindings.

use std::ffi::{CStr, CString, c_char, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rusqlite::{Connection, ffi};

/// One parameter value, borrowed for one [`InPlace::execute`].
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Value::Null, Value::Text)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}

/// A statement prepared on a connection it borrows; see the module.
pub struct InPlace<'c> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: *mut ffi::sqlite3,
    parameters: usize,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> InPlace<'c> {
    /// Prepares `sql` (one statement) on `conn`.
    pub fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<InPlace<'c>> {
        let text = CString::new(sql).map_err(rusqlite::Error::NulError)?;
        // SAFETY: `handle` is the open connection `conn` borrows for 'c,
        // longer than the statement lives (it is finalized in `drop`);
        // `text` is a NUL-terminated string that outlives the call.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        // SAFETY: as above; `stmt` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                text.as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some("no statement in the SQL text".into()),
            )
        })?;
        // SAFETY: `stmt` was just prepared and is valid.
        let parameters = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) } as usize;
        Ok(InPlace {
            stmt,
            db,
            parameters,
            _conn: PhantomData,
        })
    }

    /// Binds `values` (`?1`, `?2`, ... in order; exactly as many as the
    /// statement has), runs the statement to its end and returns the
    /// number of rows it changed.
    pub fn execute(&mut self, values: &[Value<'_>]) -> rusqlite::Result<usize> {
        if values.len() != self.parameters {
            return Err(rusqlite::Error::InvalidParameterCount(
                values.len(),
                self.parameters,
            ));
        }
        let stmt = self.stmt.as_ptr();
        let result = self.bind_and_step(stmt, values);
        // SAFETY: `stmt` is valid; after the reset and the clearing no
        // binding refers to `values` any more (the module's invariant).
        // The reset's own code repeats the step's error, already taken.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }

    fn bind_and_step(
        &self,
        stmt: *mut ffi::sqlite3_stmt,
        values: &[Value<'_>],
    ) -> rusqlite::Result<usize> {
        for (i, value) in values.iter().enumerate() {
            let index = (i + 1) as c_int;
            // SAFETY: `stmt` is valid and `index` within its parameters.
            // A text is bound `SQLITE_STATIC` with its length: SQLite reads
            // it in place until `execute` resets the statement and clears
            // the bindings, while `values` is still borrowed.
            let rc = unsafe {
                match *value {
                    Value::Null => ffi::sqlite3_bind_null(stmt, index),
                    Value::Int(v) => ffi::sqlite3_bind_int64(stmt, index, v),
                    Value::Text(s) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        s.as_ptr().cast::<c_char>(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(self.db, rc));
            }
        }
        loop {
            // SAFETY: `stmt` is valid and every parameter is bound.
            match unsafe { ffi::sqlite3_step(stmt) } {
                ffi::SQLITE_ROW => continue,
                ffi::SQLITE_DONE => break,
                rc => return Err(error(self.db, rc)),
            }
        }
        // SAFETY: `db` is the open connection the statement belongs to.
        Ok(unsafe { ffi::sqlite3_changes64(self.db) } as usize)
    }
}

impl Drop for InPlace<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is valid and finalized once, here.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The connection's error for `rc`, as rusqlite reports it.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is an open connection; its message is NUL-terminated
    // and copied before any other call on the connection.
    let message = unsafe {
        let p = ffi::sqlite3_errmsg(db);
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    };
    // The extended code, as rusqlite's own errors carry it.
    // SAFETY: `db` is an open connection.
    let extended = unsafe { ffi::sqlite3_extended_errcode(db) };
    let code = if extended & 0xff == rc & 0xff {
        extended
    } else {
        rc
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c TEXT NOT NULL UNIQUE);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn texts_are_stored_as_given_and_the_values_can_go_afterwards() {
        let conn = db();
        let mut ins =
            InPlace::prepare(&conn, "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)").unwrap();
        for i in 0..3 {
            // Each value is dropped right after the call: what SQLite
            // stored must be its own copy.
            let a = format!("héllo\0{i} {}", "x".repeat(i * 5000));
            let c = format!("key {i}");
            assert_eq!(
                ins.execute(&[(&a).into(), Value::Int(i as i64), (&c).into()])
                    .unwrap(),
                1
            );
            drop((a, c));
        }
        let none: Option<String> = None;
        ins.execute(&[(&none).into(), Value::Null, "last".into()])
            .unwrap();
        drop(ins);
        let rows: Vec<(Option<String>, Option<i64>, String)> = conn
            .prepare("SELECT a, b, c FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[1].0.as_deref(),
            Some(format!("héllo\0{} {}", 1, "x".repeat(5000)).as_str())
        );
        assert_eq!((rows[1].1, rows[1].2.as_str()), (Some(1), "key 1"));
        assert_eq!(rows[3], (None, None, "last".into()));
    }

    #[test]
    fn an_error_is_rusqlites_and_leaves_the_statement_usable() {
        let conn = db();
        let mut ins =
            InPlace::prepare(&conn, "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)").unwrap();
        ins.execute(&["a".into(), Value::Int(1), "same".into()])
            .unwrap();
        let err = ins
            .execute(&["a".into(), Value::Int(2), "same".into()])
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert!(
            err.to_string().contains("UNIQUE constraint failed: t.c"),
            "{err}"
        );
        // Too few values: refused before anything is bound.
        assert!(matches!(
            ins.execute(&["a".into()]),
            Err(rusqlite::Error::InvalidParameterCount(1, 3))
        ));
        assert_eq!(
            ins.execute(&["a".into(), Value::Int(3), "other".into()])
                .unwrap(),
            1
        );
        // An upsert that does nothing changes no row.
        let mut upsert = InPlace::prepare(
            &conn,
            "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3) ON CONFLICT (c) DO NOTHING",
        )
        .unwrap();
        assert_eq!(
            upsert
                .execute(&["a".into(), Value::Int(4), "other".into()])
                .unwrap(),
            0
        );
        assert!(InPlace::prepare(&conn, "INSERT INTO nowhere VALUES (1)").is_err());
    }
}
