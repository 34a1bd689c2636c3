//! An S3-compatible server (`s3s-fs`: the S3 protocol over a directory) on an OS-chosen
//! loopback port, with signature authentication, stopped when the test's runtime ends.

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder as ConnBuilder,
};
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};

pub(crate) const ACCESS_KEY: &str = "alx-test-access";
pub(crate) const SECRET_KEY: &str = "alx-test-secret";

pub(crate) struct Server {
    pub(crate) endpoint: String,
    _root: tempfile::TempDir,
}

pub(crate) async fn start(bucket: &str) -> Server {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join(bucket)).unwrap();
    let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        while let Ok((socket, _)) = listener.accept().await {
            let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
            tokio::spawn(conn);
        }
    });
    Server { endpoint, _root: root }
}
