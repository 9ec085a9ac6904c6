//! Profiles: how the column names of a CSV file map to the fields convault
//! knows. Every CSV shape convault reads is a profile (the built-in ones are
//! `src/profiles/builtin.toml`); `ingest --profile FILE` adds an
//! organisation's own, in the same format (docs/profiles.md), so a changed
//! export can be read without a new release.
//!
//! Invariants:
//! - A profile either reads entries (its fields are [`ENTRY_FIELDS`]) or
//!   records of one named object (its fields are that object's field names,
//!   `Id` among them).
//! - Column names match case-insensitively with everything but ASCII
//!   letters and digits ignored, after one of `strip_prefixes` and one of
//!   `strip_suffixes` are removed (in any case).
//! - Given profiles are tried before the built-in ones, in the order given,
//!   and may not take a built-in profile's name: a member's recorded shape
//!   always says which profile read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::entry::{RawEntry, is_uuid};
use crate::error::{Error, Result};
use crate::export::ExportKind;

/// The built-in profiles, as shipped.
pub const BUILTIN_TOML: &str = include_str!("profiles/builtin.toml");

/// The fields an entries profile can fill.
pub const ENTRY_FIELDS: &[&str] = &[
    "identifier",
    "conversation",
    "conversation_record",
    "entry_type",
    "payload",
    "sender",
    "sender_role",
    "sender_app_type",
    "sender_subject",
    "client_timestamp",
    "server_timestamp",
    "related_records",
    "message_text",
];

/// What a profile's rows become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reads {
    /// Conversation entries (messages and events).
    Entries,
    /// Records of one object (`Conversation`, `MessagingSession`, ...).
    Records,
}

/// A profile as written in a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    pub reads: Reads,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The kind of export files this profile reads come in
    /// (`transcripts`, `data-export`): what the ledger and the cadence
    /// rule count an export as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strip_prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strip_suffixes: Vec<String>,
    pub required: Vec<String>,
    pub columns: BTreeMap<String, Vec<String>>,
}

/// A file of profiles: `[[profile]]` tables (TOML) or `{"profile": [...]}`
/// (JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    pub profile: Vec<Spec>,
}

/// The built-in profiles as written.
pub fn builtin_specs() -> Result<SpecFile> {
    toml::from_str(BUILTIN_TOML).map_err(|_| Error::Internal("the built-in profiles do not parse"))
}

/// A checked profile, ready to match headers.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub reads: Reads,
    /// For a records profile: the object its rows are.
    pub object: String,
    /// The kind of export its files mark (`transcripts`, `data-export`).
    pub export_kind: Option<ExportKind>,
    /// Lowercased file stems that prefer this profile.
    file_names: Vec<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    /// Field name and the normalised column names that fill it, in order.
    fields: Vec<(String, Vec<String>)>,
    /// Each inner list: at least one of these fields must be mapped.
    required: Vec<Vec<String>>,
    /// For each of [`ENTRY_FIELDS`], its index in `fields` (entries
    /// profiles): rows are read without comparing names.
    entry_slots: Vec<Option<usize>>,
}

/// Lowercase ASCII letters and digits of a header name, BOM dropped.
pub fn normalise(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `s` without a leading `affix` (ASCII case ignored).
fn strip_prefix_ci<'a>(s: &'a str, affix: &str) -> Option<&'a str> {
    let head = s.get(..affix.len())?;
    head.eq_ignore_ascii_case(affix).then(|| &s[affix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, affix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(affix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(affix).then(|| &s[..cut])
}

impl Profile {
    /// Checks `spec`; the reason when it cannot be used.
    #[allow(
        clippy::too_many_lines,
        reason = "one check per profile key, each naming it"
    )]
    pub fn compile(spec: Spec) -> Result<Profile, String> {
        let name = spec.name.trim().to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "profile name {:?} must be letters, digits, '-', '_' or '.'",
                spec.name
            ));
        }
        let at = format!("profile {name:?}");
        let object = match (spec.reads, spec.object) {
            (Reads::Entries, None) => String::new(),
            (Reads::Entries, Some(_)) => {
                return Err(format!(
                    "{at}: `object` is for records profiles; entries profiles have none"
                ));
            }
            (Reads::Records, Some(o)) if !o.trim().is_empty() => o.trim().to_owned(),
            (Reads::Records, _) => {
                return Err(format!(
                    "{at}: a records profile names its `object` (for example \"MessagingSession\")"
                ));
            }
        };
        let export_kind = match spec.export_kind.as_deref() {
            None => None,
            Some(k) => Some(ExportKind::parse(k).ok_or_else(|| {
                format!("{at}: export_kind {k:?} is not \"transcripts\" or \"data-export\"")
            })?),
        };
        if spec.columns.is_empty() {
            return Err(format!("{at}: `columns` maps no field"));
        }
        let mut fields = Vec::new();
        for (field, names) in spec.columns {
            if spec.reads == Reads::Entries && !ENTRY_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "{at}: {field:?} is not an entry field (known: {})",
                    ENTRY_FIELDS.join(", ")
                ));
            }
            if field.trim().is_empty() {
                return Err(format!("{at}: a field name is empty"));
            }
            let norm: Vec<String> = names.iter().map(|n| normalise(n)).collect();
            if norm.is_empty() || norm.iter().any(String::is_empty) {
                return Err(format!(
                    "{at}: field {field:?} needs column names with letters or digits"
                ));
            }
            fields.push((field, norm));
        }
        let mut required = Vec::new();
        for r in &spec.required {
            let options: Vec<String> = r.split('|').map(|s| s.trim().to_owned()).collect();
            if let Some(missing) = options
                .iter()
                .find(|o| !fields.iter().any(|(f, _)| f == *o))
            {
                return Err(format!(
                    "{at}: required field {missing:?} has no entry in `columns`"
                ));
            }
            required.push(options);
        }
        let needs = |f: &str| required.iter().any(|r| r.len() == 1 && r[0] == f);
        match spec.reads {
            Reads::Entries => {
                let conversation = required.iter().any(|r| {
                    r.iter()
                        .all(|f| f == "conversation" || f == "conversation_record")
                });
                if !needs("identifier") || !conversation {
                    return Err(format!(
                        "{at}: an entries profile must require \"identifier\" and \"conversation\" (or \"conversation_record\")"
                    ));
                }
            }
            Reads::Records => {
                if !needs("Id") {
                    return Err(format!(
                        "{at}: a records profile must require \"Id\", the record's id"
                    ));
                }
            }
        }
        let entry_slots = ENTRY_FIELDS
            .iter()
            .map(|e| fields.iter().position(|(f, _)| f == e))
            .collect();
        Ok(Profile {
            entry_slots,
            name,
            reads: spec.reads,
            object,
            export_kind,
            file_names: spec
                .file_names
                .iter()
                .map(|f| f.to_ascii_lowercase())
                .collect(),
            prefixes: spec.strip_prefixes,
            suffixes: spec.strip_suffixes,
            fields,
            required,
        })
    }

    /// `header` without a BOM, surrounding space, and this profile's
    /// prefix and suffix.
    pub fn strip<'h>(&self, header: &'h str) -> &'h str {
        let mut h = header.trim_start_matches('\u{feff}').trim();
        if let Some(rest) = self.prefixes.iter().find_map(|p| strip_prefix_ci(h, p)) {
            h = rest;
        }
        if let Some(rest) = self.suffixes.iter().find_map(|s| strip_suffix_ci(h, s)) {
            h = rest;
        }
        h
    }

    /// The normalised name of `header` under this profile's affixes.
    fn key(&self, header: &str) -> String {
        normalise(self.strip(header))
    }

    /// How this profile reads `headers`, if it has every required field.
    pub fn matches<'p>(&'p self, headers: &[String]) -> Option<Mapping<'p>> {
        let keys: Vec<String> = headers.iter().map(|h| self.key(h)).collect();
        // Per field, its columns: earlier names first, then left to right.
        let by_field: Vec<Vec<usize>> = self
            .fields
            .iter()
            .map(|(_, names)| {
                names
                    .iter()
                    .flat_map(|name| {
                        keys.iter()
                            .enumerate()
                            .filter(move |(_, k)| *k == name)
                            .map(|(ci, _)| ci)
                    })
                    .collect()
            })
            .collect();
        let mapped = |f: &str| {
            self.fields
                .iter()
                .position(|(name, _)| name == f)
                .is_some_and(|fi| !by_field[fi].is_empty())
        };
        let fits = self
            .required
            .iter()
            .all(|options| options.iter().any(|o| mapped(o)));
        let mut column_field = vec![None; headers.len()];
        for (fi, cols) in by_field.iter().enumerate() {
            for &ci in cols {
                if let Some(slot @ None) = column_field.get_mut(ci) {
                    *slot = Some(fi);
                }
            }
        }
        fits.then_some(Mapping {
            profile: self,
            by_field,
            column_field,
            width: headers.len(),
        })
    }

    fn prefers(&self, member: &str) -> bool {
        let file = member.rsplit(['/', '\\']).next().unwrap_or(member);
        let stem = file.split('.').next().unwrap_or("").to_ascii_lowercase();
        self.file_names.contains(&stem)
    }
}

/// A profile applied to one header row.
#[derive(Debug)]
pub struct Mapping<'p> {
    pub profile: &'p Profile,
    /// For each of the profile's fields, the columns that fill it, in the
    /// order they are tried.
    by_field: Vec<Vec<usize>>,
    /// For each column, the (first) field it fills.
    column_field: Vec<Option<usize>>,
    pub width: usize,
}

impl<'p> Mapping<'p> {
    /// The value of `field` in `row`: the first non-empty of the columns
    /// mapped to it (earlier names first), or an empty one if all are.
    pub fn get<'a>(&self, field: &str, row: &[&'a str]) -> Option<&'a str> {
        let fi = self
            .profile
            .fields
            .iter()
            .position(|(name, _)| name == field)?;
        self.value(fi, row)
    }

    fn value<'a>(&self, fi: usize, row: &[&'a str]) -> Option<&'a str> {
        let mut found = None;
        for &ci in self.by_field.get(fi)? {
            let v = row.get(ci).copied();
            if v.is_some_and(|v| !v.trim().is_empty()) {
                return v;
            }
            found = found.or(v);
        }
        found
    }

    /// The value of `ENTRY_FIELDS[k]` in `row`.
    fn entry_value<'a>(&self, k: usize, row: &[&'a str]) -> Option<&'a str> {
        let fi = (*self.profile.entry_slots.get(k)?)?;
        self.value(fi, row)
    }

    /// How many leading fields of a row decide its conversation
    /// ([`Mapping::direct_conversation`]).
    pub fn conversation_fields(&self) -> usize {
        [1, 2]
            .iter()
            .filter_map(|&k| {
                (*self.profile.entry_slots.get(k)?).and_then(|fi| self.by_field.get(fi))
            })
            .flatten()
            .map(|&column| column + 1)
            .max()
            .unwrap_or(0)
    }

    /// The conversation identifier a row names, from its first
    /// [`Mapping::conversation_fields`] fields (or more); `None` when it
    /// names it by a `Conversation` record's Id, resolved later.
    pub fn direct_conversation<'a>(&self, row: &[&'a str]) -> Option<&'a str> {
        match self.conversation(row) {
            (conversation, false) => Some(conversation),
            (_, true) => None,
        }
    }

    /// A row's conversation, and whether it is a record's Id.
    fn conversation<'a>(&self, row: &[&'a str]) -> (&'a str, bool) {
        // `k` indexes ENTRY_FIELDS.
        let get = |k: usize| self.entry_value(k, row);
        match get(1).filter(|c| !c.trim().is_empty()) {
            Some(c) => (c, false),
            None => match get(2) {
                Some(r) if !r.trim().is_empty() => (r, !is_uuid(r.trim())),
                _ => (get(1).unwrap_or(""), false),
            },
        }
    }

    /// The entry in `row`, for an entries profile. The conversation is the
    /// `conversation` column's; failing that, `conversation_record`'s,
    /// which is taken as the identifier when it is a UUID and otherwise
    /// marked as a `Conversation` record's Id to resolve.
    pub fn raw_entry<'a>(&self, row: &[&'a str]) -> RawEntry<'a> {
        // `k` indexes ENTRY_FIELDS.
        let get = |k: usize| self.entry_value(k, row);
        let (conversation, conversation_is_record) = self.conversation(row);
        RawEntry {
            identifier: get(0).unwrap_or(""),
            conversation,
            conversation_is_record,
            entry_type: get(3),
            payload: get(4),
            sender: get(5),
            sender_role: get(6),
            sender_app_type: get(7),
            sender_subject: get(8),
            client_timestamp: get(9),
            server_timestamp: get(10),
            related_records: get(11),
            message_text: get(12),
        }
    }

    /// The field a column fills, if any (its first, when several do).
    pub fn field_of(&self, index: usize) -> Option<&'p str> {
        let profile = self.profile;
        let fi = (*self.column_field.get(index)?)?;
        profile.fields.get(fi).map(|(name, _)| name.as_str())
    }

    /// The value of the field column `index` fills, as the profile picks
    /// it among that field's columns.
    pub fn value_of_column<'a>(&self, index: usize, row: &[&'a str]) -> Option<&'a str> {
        let fi = (*self.column_field.get(index)?)?;
        self.value(fi, row)
    }
}

/// The profiles one reading uses: the given ones, then the built-in ones.
#[derive(Debug, Clone)]
pub struct Profiles {
    given: Vec<Profile>,
    builtin: &'static [Profile],
}

impl Profiles {
    /// Only the built-in profiles.
    pub fn builtin() -> Result<Profiles> {
        Ok(Profiles {
            given: Vec::new(),
            builtin: builtins()?,
        })
    }

    /// The built-in profiles after `given`; a given profile may not take a
    /// built-in's name or another given one's.
    pub fn with(given: Vec<Profile>) -> Result<Profiles, String> {
        let builtin = builtins().map_err(|e| e.to_string())?;
        for (i, p) in given.iter().enumerate() {
            if builtin.iter().any(|b| b.name == p.name) {
                return Err(format!(
                    "profile {:?} has the name of a built-in profile: give it a name of its own",
                    p.name
                ));
            }
            if given[..i].iter().any(|q| q.name == p.name) {
                return Err(format!("two profiles are named {:?}", p.name));
            }
        }
        Ok(Profiles { given, builtin })
    }

    pub fn all(&self) -> impl Iterator<Item = &Profile> {
        self.given.iter().chain(self.builtin.iter())
    }

    /// The profile that reads a CSV member named `member` with `headers`:
    /// given profiles first; within each group, one whose `file_names`
    /// names the member wins over the first that fits.
    pub fn recognise(&self, headers: &[String], member: &str) -> Option<Mapping<'_>> {
        for group in [&self.given[..], self.builtin] {
            let fits: Vec<Mapping<'_>> = group.iter().filter_map(|p| p.matches(headers)).collect();
            let pick = fits
                .iter()
                .position(|m| m.profile.prefers(member))
                .unwrap_or(0);
            if let Some(m) = fits.into_iter().nth(pick) {
                return Some(m);
            }
        }
        None
    }

    /// The names (member shapes) of the profiles whose files mark an
    /// export as `kind`.
    pub fn shapes_of(&self, kind: ExportKind) -> Vec<String> {
        self.all()
            .filter(|p| p.export_kind == Some(kind))
            .map(|p| p.name.clone())
            .collect()
    }

    /// The built-in profile named `name`.
    pub fn builtin_named(name: &str) -> Result<&'static Profile> {
        builtins()?
            .iter()
            .find(|p| p.name == name)
            .ok_or(Error::Internal("a built-in profile is missing"))
    }
}

/// Parses a file of profiles: JSON when `path` ends in `.json`, TOML
/// otherwise. The error names what to fix.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Profile>, String> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let file: SpecFile = if json {
        serde_json::from_str(text).map_err(|e| format!("not a valid JSON profile file: {e}"))?
    } else {
        toml::from_str(text).map_err(|e| format!("not a valid TOML profile file: {e}"))?
    };
    if file.profile.is_empty() {
        return Err("the file holds no profile ([[profile]] tables)".into());
    }
    file.profile.into_iter().map(Profile::compile).collect()
}

/// Reads and checks the profile files at `paths`, in order.
pub fn load(paths: &[PathBuf]) -> Result<Vec<LoadedFile>> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Profile {
                path: path.clone(),
                reason: format!("cannot be read: {e}"),
            })?;
            let profiles = parse(path, &text).map_err(|reason| Error::Profile {
                path: path.clone(),
                reason,
            })?;
            Ok(LoadedFile {
                path: path.clone(),
                text,
                profiles,
            })
        })
        .collect()
}

/// A profile file as given: kept in the archive with the export it read.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub text: String,
    pub profiles: Vec<Profile>,
}

fn builtins() -> Result<&'static [Profile]> {
    static BUILTIN: OnceLock<Result<Vec<Profile>, String>> = OnceLock::new();
    match BUILTIN.get_or_init(|| {
        let file: SpecFile = toml::from_str(BUILTIN_TOML).map_err(|e| e.to_string())?;
        file.profile.into_iter().map(Profile::compile).collect()
    }) {
        Ok(p) => Ok(p),
        Err(_) => Err(Error::Internal("the built-in profiles do not parse")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entry_fields_are_read_by_their_documented_slots() {
        // raw_entry reads ENTRY_FIELDS by position: keep the two in step.
        let spec = Spec {
            name: "all".into(),
            reads: Reads::Entries,
            object: None,
            export_kind: None,
            file_names: vec![],
            strip_prefixes: vec![],
            strip_suffixes: vec![],
            required: vec!["identifier".into(), "conversation".into()],
            columns: ENTRY_FIELDS
                .iter()
                .map(|f| (f.to_string(), vec![format!("col {f}")]))
                .collect(),
        };
        let p = Profile::compile(spec).unwrap();
        let headers: Vec<String> = ENTRY_FIELDS.iter().map(|f| format!("col {f}")).collect();
        let m = p.matches(&headers).unwrap();
        let row: Vec<&str> = ENTRY_FIELDS.to_vec();
        let r = m.raw_entry(&row);
        assert_eq!(
            [r.identifier, r.conversation],
            ["identifier", "conversation"]
        );
        let rest = [
            r.entry_type,
            r.payload,
            r.sender,
            r.sender_role,
            r.sender_app_type,
            r.sender_subject,
            r.client_timestamp,
            r.server_timestamp,
            r.related_records,
            r.message_text,
        ];
        let want: Vec<Option<&str>> = ENTRY_FIELDS[3..].iter().map(|f| Some(*f)).collect();
        assert_eq!(rest.to_vec(), want);
        // conversation_record stands in for an empty conversation.
        let mut row = row.clone();
        row[1] = "";
        row[2] = "0dwX";
        let r = m.raw_entry(&row);
        assert_eq!((r.conversation, r.conversation_is_record), ("0dwX", true));
        row[2] = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c";
        assert!(!m.raw_entry(&row).conversation_is_record);
    }

    /// The examples in docs/profiles.md are profiles that parse.
    #[test]
    fn the_documented_examples_parse() {
        let doc = include_str!("../docs/profiles.md");
        let blocks: Vec<&str> = doc
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert!(blocks.len() >= 2);
        for b in blocks {
            let parsed = parse(Path::new("doc.toml"), b);
            assert!(parsed.is_ok(), "{b}\n{parsed:?}");
        }
    }

    #[test]
    fn the_builtin_profiles_parse_and_are_distinct() {
        let all = Profiles::builtin().unwrap();
        let names: Vec<&str> = all.all().map(|p| p.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
        assert!(names.contains(&"transcript-csv"));
        assert!(names.contains(&"data-cloud-entry"));
    }

    #[test]
    fn prefixes_and_suffixes_are_stripped() {
        let all = Profiles::builtin().unwrap();
        let headers = h(&[
            "ssot__Id__c",
            "ssot__ConversationId__c",
            "ssot__ConversationEntryType__c",
            "ssot__PayloadText__c",
            "std__ClientDateTime__c",
        ]);
        let m = all.recognise(&headers, "entries.csv").unwrap();
        assert_eq!(m.profile.name, "data-cloud-entry");
        let row = ["e1", "c1", "Message", "{}", "2026-11-16T09:14:03.000Z"];
        assert_eq!(m.get("identifier", &row), Some("e1"));
        assert_eq!(
            m.get("client_timestamp", &row),
            Some("2026-11-16T09:14:03.000Z")
        );
        assert_eq!(m.get("sender", &row), None);
    }

    #[test]
    fn earlier_names_win_and_empty_values_fall_through() {
        let all = Profiles::builtin().unwrap();
        let headers = h(&[
            "Id",
            "ExternalRecordId",
            "ConversationId",
            "ConversationEntryType",
        ]);
        let m = all.recognise(&headers, "x.csv").unwrap();
        assert_eq!(m.get("identifier", &["a", "b", "c", "t"]), Some("b"));
        assert_eq!(m.get("identifier", &["a", " ", "c", "t"]), Some("a"));
    }

    #[test]
    fn file_names_break_ties_and_given_profiles_come_first() {
        let all = Profiles::builtin().unwrap();
        let conv = h(&[
            "Id",
            "ConversationIdentifier",
            "MessagingEndUserId",
            "MessagingChannelId",
        ]);
        assert_eq!(
            all.recognise(&conv, "WE/Conversation.csv")
                .unwrap()
                .profile
                .object,
            "Conversation"
        );
        assert_eq!(
            all.recognise(&conv, "other.csv").unwrap().profile.object,
            "MessagingSession"
        );
        let given = parse(
            Path::new("p.toml"),
            r#"
[[profile]]
name = "mine"
reads = "records"
object = "Conversation"
required = ["Id"]
columns = { Id = ["Id"] }
"#,
        )
        .unwrap();
        let with = Profiles::with(given).unwrap();
        assert_eq!(
            with.recognise(&conv, "WE/Conversation.csv")
                .unwrap()
                .profile
                .name,
            "mine"
        );
    }

    #[test]
    fn bad_profiles_say_what_to_fix() {
        let cases = [
            ("name = 1", "not a valid TOML"),
            (
                "[[profile]]\nname = \"a b\"\nreads = \"entries\"\nrequired = []\ncolumns = {}",
                "must be letters",
            ),
            (
                "[[profile]]\nname = \"a\"\nreads = \"records\"\nrequired = [\"Id\"]\ncolumns = { Id = [\"Id\"] }",
                "names its `object`",
            ),
            (
                "[[profile]]\nname = \"a\"\nreads = \"entries\"\nrequired = [\"identifier\"]\ncolumns = { identifier = [\"Id\"], colour = [\"c\"] }",
                "\"colour\" is not an entry field",
            ),
            (
                "[[profile]]\nname = \"a\"\nreads = \"entries\"\nrequired = [\"identifier\", \"conversation\"]\ncolumns = { identifier = [\"Id\"] }",
                "required field \"conversation\" has no entry",
            ),
            (
                "[[profile]]\nname = \"a\"\nreads = \"entries\"\nrequired = [\"identifier\"]\ncolumns = { identifier = [\"Id\"] }",
                "must require \"identifier\" and \"conversation\"",
            ),
            (
                "[[profile]]\nname = \"a\"\nreads = \"entries\"\nrequired = [\"identifier\"]\ncolumns = { identifier = [\"__\"] }",
                "needs column names",
            ),
            (
                "[[profile]]\nname = \"a\"\nreads = \"entries\"\nrequired = []\ncolumns = {}\nextra = 1",
                "unknown field",
            ),
            ("", "missing field `profile`"),
        ];
        for (text, want) in cases {
            let err = parse(Path::new("p.toml"), text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let clash = parse(
            Path::new("p.json"),
            r#"{"profile": [{"name": "transcript-csv", "reads": "records", "object": "X",
                "required": ["Id"], "columns": {"Id": ["Id"]}}]}"#,
        )
        .unwrap();
        assert!(Profiles::with(clash).unwrap_err().contains("built-in"));
    }
}
