//! Moving data in and out: the contacts import's report.

use serde::{Deserialize, Serialize};

/// Why one row of an imported file was not (or would not be) applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRowError {
    /// The line of the file, counting the header as line 1.
    pub row: u64,
    pub message: String,
}

/// `import_contacts` answer: what was done, or with `dry_run` what would be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactImport {
    pub dry_run: bool,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub errors: Vec<ImportRowError>,
}
