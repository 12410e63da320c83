//! Files an agent attaches: the upload of a picked file as an action, and what the
//! composer shows while it goes or after it was refused.

use leptos::prelude::*;

use super::sendable;
#[cfg(feature = "hydrate")]
use crate::error::ApiError;
use crate::model::UploadInfo;

/// A file the agent picked (the server renders the page, but nobody picks files there).
#[cfg(feature = "hydrate")]
pub type PickedFile = send_wrapper::SendWrapper<web_sys::File>;
/// Never made: the server has no files to pick.
#[cfg(not(feature = "hydrate"))]
#[derive(Clone)]
pub struct PickedFile;

/// The upload of a picked file, as an action: `pending()` while it goes, `input()` names
/// the file, and its value is the upload or why it was refused. `then` runs with the
/// upload once it is kept.
pub fn upload_action(
    then: impl Fn(UploadInfo) + Clone + Send + Sync + 'static,
) -> Action<PickedFile, Result<UploadInfo, String>> {
    Action::new(move |file: &PickedFile| {
        let (file, then) = (file.clone(), then.clone());
        sendable(async move {
            let info = upload_file(file).await?;
            then(info.clone());
            Ok(info)
        })
    })
}

/// The name of the file an upload action is sending, while it sends.
pub fn uploading_name(action: Action<PickedFile, Result<UploadInfo, String>>) -> Option<String> {
    #[cfg(feature = "hydrate")]
    return action.input().with(|f| f.as_ref().map(|f| f.name()));
    #[cfg(not(feature = "hydrate"))]
    return action.input().with(|_| None);
}

/// Why the last upload was refused, unless another is under way.
pub fn upload_problem(action: Action<PickedFile, Result<UploadInfo, String>>) -> Option<String> {
    if action.pending().get() {
        return None;
    }
    action
        .value()
        .with(|v| v.as_ref().and_then(|r| r.as_ref().err().cloned()))
}

#[cfg(not(feature = "hydrate"))]
async fn upload_file(_: PickedFile) -> Result<UploadInfo, String> {
    Err("files are uploaded from the browser".into())
}

/// Uploads a file the agent picked (`POST /uploads`); the answer names the upload a send
/// can then claim. Errors are the server's reason, ready to show.
#[cfg(feature = "hydrate")]
pub async fn upload_file(file: PickedFile) -> Result<UploadInfo, String> {
    let file = file.take();
    let name = String::from(js_sys::encode_uri_component(&file.name()));
    let request = gloo_net::http::Request::post(&format!("/uploads?filename={name}"))
        .header("content-type", &file.type_())
        .body(wasm_bindgen::JsValue::from(file))
        .map_err(|e| format!("the file could not be read: {e}"))?;
    let response = request
        .send()
        .await
        .map_err(|_| "the server could not be reached".to_string())?;
    let body = response.text().await.unwrap_or_default();
    if response.ok() {
        return serde_json::from_str(&body).map_err(|e| format!("unexpected answer: {e}"));
    }
    Err(serde_json::from_str::<ApiError>(&body)
        .map(|e| e.message)
        .unwrap_or_else(|_| format!("HTTP {}", response.status())))
}
