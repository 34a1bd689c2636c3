//! The OpenAI-compatible servers the gateway benchmarks send requests to.

/// An OpenAI-compatible server under measurement: a node's gateway (with the sample's model
/// and API key) or a peer such as llama.cpp's `llama-server`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, e.g. `http://127.0.0.1:7700` (a trailing `/` is ignored).
    pub base: String,
    /// The model name requests ask for.
    pub model: String,
    /// The bearer key requests carry; `None` sends no `Authorization` header.
    pub api_key: Option<String>,
}

impl Endpoint {
    /// The URL of `path` (which starts with `/`) on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    /// A POST of `body` as JSON to `path`, with the key if there is one.
    pub(crate) fn post(
        &self,
        http: &reqwest::blocking::Client,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::blocking::RequestBuilder {
        let req = http.post(self.url(path)).json(body);
        match &self.api_key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }
}
