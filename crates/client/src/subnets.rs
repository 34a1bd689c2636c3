//! Subnets: the subnets, their metagraphs, epochs, weights and outstanding commits. Every
//! `id` is a subnet id (`"3"`) or name (`"move-coders"`), as the API takes it.

use crate::{Client, ClientError};
use alx_types::subnet::Uid;
use alx_types::subnet_api::{
    EvalSealJson, MetagraphJson, PendingCommitJson, SubnetEpochJson, SubnetJson, WeightsRowJson,
};

impl Client {
    /// `GET /api/subnets`: every subnet, in id order.
    pub fn subnets(&self) -> Result<Vec<SubnetJson>, ClientError> {
        self.get("/api/subnets")
    }

    /// `GET /api/subnets/{id or name}`.
    pub fn subnet(&self, id: &str) -> Result<SubnetJson, ClientError> {
        self.get(&format!("/api/subnets/{}", segment(id)))
    }

    /// `GET /api/subnets/{id or name}/metagraph`: every uid of the subnet.
    pub fn metagraph(&self, id: &str) -> Result<MetagraphJson, ClientError> {
        self.get(&format!("/api/subnets/{}/metagraph", segment(id)))
    }

    /// `GET /api/subnets/{id or name}/epochs`: the kept epochs, oldest first.
    pub fn subnet_epochs(&self, id: &str) -> Result<Vec<SubnetEpochJson>, ClientError> {
        self.get(&format!("/api/subnets/{}/epochs", segment(id)))
    }

    /// `GET /api/subnets/{id or name}/evals`: the kept evaluation seals, by number.
    pub fn subnet_evals(&self, id: &str) -> Result<Vec<EvalSealJson>, ClientError> {
        self.get(&format!("/api/subnets/{}/evals", segment(id)))
    }

    /// `GET /api/subnets/{id or name}/weights/{uid}`: the weights `uid` last revealed.
    pub fn weights_row(&self, subnet: &str, uid: Uid) -> Result<WeightsRowJson, ClientError> {
        self.get(&format!("/api/subnets/{}/weights/{uid}", segment(subnet)))
    }

    /// `GET /api/subnets/{id or name}/commits/{uid}`: `uid`'s outstanding weight commit (a
    /// 404 [`ClientError::Api`] if it has none; see [`ClientError::is_not_found`]).
    pub fn pending_commit(&self, subnet: &str, uid: Uid) -> Result<PendingCommitJson, ClientError> {
        self.get(&format!("/api/subnets/{}/commits/{uid}", segment(subnet)))
    }
}

/// `text` as one URL path segment: bytes other than RFC 3986's unreserved ones are
/// percent-encoded, so a caller's string (`a/b`, `..`, `?x`) cannot reach another endpoint.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // `.` and `..` are path navigation even when every byte is unreserved.
    match out.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnet_segments_stay_one_segment() {
        let check = |text: &str, expect: &str| assert_eq!(super::segment(text), expect);
        check("3", "3");
        check("move-coders", "move-coders");
        check("a/b", "a%2Fb");
        check("a b?c#d", "a%20b%3Fc%23d");
        check("..", "%2E%2E");
        check(".", "%2E");
        check("é", "%C3%A9");
        check("", "");
    }
}
