//! The template lists read from WhatsApp Manager, per inbox, with when they were read.
//! `outbound::catalog` decides when to read them again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::model::TemplateList;

#[derive(Default)]
pub struct Catalog {
    lists: Mutex<HashMap<String, Cached>>,
}

#[derive(Clone)]
pub struct Cached {
    pub read_at: Instant,
    pub list: TemplateList,
}

impl Catalog {
    pub fn get(&self, inbox_id: &str) -> Option<Cached> {
        self.lists.lock().ok()?.get(inbox_id).cloned()
    }

    pub fn put(&self, inbox_id: &str, list: TemplateList) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(
                inbox_id.to_string(),
                Cached {
                    read_at: Instant::now(),
                    list,
                },
            );
        }
    }
}
