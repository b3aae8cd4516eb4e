use std::path::Path;
use super::Body;
#[derive(Clone)]
pub struct S3Endpoint {}
impl S3Endpoint {
    pub fn open(_root: &Path) -> std::io::Result<Self> { Ok(Self {}) }
    pub async fn handle(&self, _req: http::Request<hyper::body::Incoming>) -> http::Response<Body> {
        http::Response::builder().status(501).body(super::full_body("stand-in")).expect("static")
    }
}
