//! Image uploads: what an uploaded file is (`image`), where its bytes live (`blobs`) and
//! the signed URLs that serve them (`signed`).

pub mod blobs;
pub mod image;
pub mod signed;
