//! `POST /uploads?filename=…`: the file is the body, its type the `Content-Type`.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::context::{AppError, AppState, Principal};
use crate::model::UploadInfo;

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    filename: Option<String>,
}

pub async fn receive(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadInfo>), AppError> {
    let Some(Extension(principal)) = principal else {
        return Err(AppError::Unauthorized("sign in to upload files".into()));
    };
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let info =
        crate::uploads::keep(&state, &principal, mime, params.filename.as_deref(), body).await?;
    Ok((StatusCode::CREATED, Json(info)))
}
