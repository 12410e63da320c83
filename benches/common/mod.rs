//! What the store benchmarks share: their arguments and the store they fill.

// Each benchmark uses the part it needs.
#![allow(dead_code)]

use std::sync::Arc;

use switchboard::store::DynStore;

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// MongoDB at `--mongo URL`, else SQLite in `--db PATH` or a file in `dir`; and its name.
pub async fn open_store(dir: &std::path::Path) -> (DynStore, String) {
    match arg("--mongo") {
        Some(url) => (
            Arc::new(
                switchboard::store::mongo::MongoStore::connect(&url)
                    .await
                    .expect("MongoDB"),
            ),
            "MongoDB".into(),
        ),
        None => {
            let path = arg("--db").map_or_else(|| dir.join("bench.db"), Into::into);
            let options = switchboard::store::sqlite::SqliteOptions::new(path);
            (
                Arc::new(switchboard::store::sqlite::SqliteStore::open(options).expect("SQLite")),
                "SQLite".into(),
            )
        }
    }
}
