//! The kinds of failure `verify` reports: one type, serialised as the
//! kebab-case names docs/commands.md lists (a test holds the two to each
//! other).

use serde::Serialize;

/// What kind of check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    ObjectMissing,
    ObjectSize,
    ObjectChanged,
    ObjectUnrecorded,
    ObjectNotAFile,
    MemberMissing,
    MemberAdded,
    MemberRenamed,
    MemberChanged,
    MemberUnreadable,
    EntryHash,
    EntryType,
    EntryText,
    EntryVersions,
    ExportCounts,
    ExportOrder,
    VersionOrder,
    Sightings,
    RelatedIndex,
    RowHash,
    EntryOrphan,
    ConversationEmpty,
    SightingOrphan,
    FileOrphan,
    MemberOrphan,
    IndexMissing,
    IndexExtra,
    IndexContent,
    SqliteIntegrity,
    LedgerChanged,
    LedgerBrokenLink,
    LedgerMissing,
    LedgerReordered,
    LedgerTruncated,
    LedgerDiverged,
    LedgerExport,
    ExportMissing,
    RemovalRecord,
    CertificateMissing,
    CertificateChanged,
    CertificateTextMissing,
    CertificateTextChanged,
    RederiveUnreadable,
    RederiveMember,
    RederiveMissing,
    RederiveExtra,
    RederiveSightings,
    RederiveRowHash,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: &'static [FailureKind] = &[
        FailureKind::ObjectMissing,
        FailureKind::ObjectSize,
        FailureKind::ObjectChanged,
        FailureKind::ObjectUnrecorded,
        FailureKind::ObjectNotAFile,
        FailureKind::MemberMissing,
        FailureKind::MemberAdded,
        FailureKind::MemberRenamed,
        FailureKind::MemberChanged,
        FailureKind::MemberUnreadable,
        FailureKind::EntryHash,
        FailureKind::EntryType,
        FailureKind::EntryText,
        FailureKind::EntryVersions,
        FailureKind::ExportCounts,
        FailureKind::ExportOrder,
        FailureKind::VersionOrder,
        FailureKind::Sightings,
        FailureKind::RelatedIndex,
        FailureKind::RowHash,
        FailureKind::EntryOrphan,
        FailureKind::ConversationEmpty,
        FailureKind::SightingOrphan,
        FailureKind::FileOrphan,
        FailureKind::MemberOrphan,
        FailureKind::IndexMissing,
        FailureKind::IndexExtra,
        FailureKind::IndexContent,
        FailureKind::SqliteIntegrity,
        FailureKind::LedgerChanged,
        FailureKind::LedgerBrokenLink,
        FailureKind::LedgerMissing,
        FailureKind::LedgerReordered,
        FailureKind::LedgerTruncated,
        FailureKind::LedgerDiverged,
        FailureKind::LedgerExport,
        FailureKind::ExportMissing,
        FailureKind::RemovalRecord,
        FailureKind::CertificateMissing,
        FailureKind::CertificateChanged,
        FailureKind::CertificateTextMissing,
        FailureKind::CertificateTextChanged,
        FailureKind::RederiveUnreadable,
        FailureKind::RederiveMember,
        FailureKind::RederiveMissing,
        FailureKind::RederiveExtra,
        FailureKind::RederiveSightings,
        FailureKind::RederiveRowHash,
    ];

    /// Its name, as reports and the ledger give it.
    pub fn as_str(self) -> &'static str {
        use FailureKind::*;
        match self {
            ObjectMissing => "object-missing",
            ObjectSize => "object-size",
            ObjectChanged => "object-changed",
            ObjectUnrecorded => "object-unrecorded",
            ObjectNotAFile => "object-not-a-file",
            MemberMissing => "member-missing",
            MemberAdded => "member-added",
            MemberRenamed => "member-renamed",
            MemberChanged => "member-changed",
            MemberUnreadable => "member-unreadable",
            EntryHash => "entry-hash",
            EntryType => "entry-type",
            EntryText => "entry-text",
            EntryVersions => "entry-versions",
            ExportCounts => "export-counts",
            ExportOrder => "export-order",
            VersionOrder => "version-order",
            Sightings => "sightings",
            RelatedIndex => "related-index",
            RowHash => "row-hash",
            EntryOrphan => "entry-orphan",
            ConversationEmpty => "conversation-empty",
            SightingOrphan => "sighting-orphan",
            FileOrphan => "file-orphan",
            MemberOrphan => "member-orphan",
            IndexMissing => "index-missing",
            IndexExtra => "index-extra",
            IndexContent => "index-content",
            SqliteIntegrity => "sqlite-integrity",
            LedgerChanged => "ledger-changed",
            LedgerBrokenLink => "ledger-broken-link",
            LedgerMissing => "ledger-missing",
            LedgerReordered => "ledger-reordered",
            LedgerTruncated => "ledger-truncated",
            LedgerDiverged => "ledger-diverged",
            LedgerExport => "ledger-export",
            ExportMissing => "export-missing",
            RemovalRecord => "removal-record",
            CertificateMissing => "certificate-missing",
            CertificateChanged => "certificate-changed",
            CertificateTextMissing => "certificate-text-missing",
            CertificateTextChanged => "certificate-text-changed",
            RederiveUnreadable => "rederive-unreadable",
            RederiveMember => "rederive-member",
            RederiveMissing => "rederive-missing",
            RederiveExtra => "rederive-extra",
            RederiveSightings => "rederive-sightings",
            RederiveRowHash => "rederive-row-hash",
        }
    }

    /// The kind of a ledger chain failure (`ledger::verify::Failure::kind`).
    pub fn of_ledger(kind: &str) -> FailureKind {
        match kind {
            "broken-link" => FailureKind::LedgerBrokenLink,
            "missing" => FailureKind::LedgerMissing,
            "reordered" => FailureKind::LedgerReordered,
            "truncated" => FailureKind::LedgerTruncated,
            "diverged" => FailureKind::LedgerDiverged,
            // `changed`, and anything a later ledger check adds: the
            // record is not what was written.
            _ => FailureKind::LedgerChanged,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::FailureKind;

    #[test]
    fn names_are_the_serialised_ones_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for k in FailureKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
            assert!(seen.insert(k.as_str()), "{k} twice");
        }
    }

    /// docs/commands.md's table of failure kinds names every kind.
    #[test]
    fn docs_list_every_kind() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/commands.md"),
        )
        .unwrap();
        let missing: Vec<&str> = FailureKind::ALL
            .iter()
            .map(|k| k.as_str())
            .filter(|name| !docs.contains(&format!("`{name}`")))
            .collect();
        assert!(missing.is_empty(), "docs/commands.md lacks {missing:?}");
    }
}
