//! One module per command group.

pub(crate) mod bench;
pub(crate) mod bench_gateway;
pub(crate) mod bench_inference;
pub(crate) mod bench_ledger;
pub(crate) mod bench_yuma;
pub(crate) mod blob;
pub(crate) mod chat;
pub(crate) mod datanet;
pub(crate) mod datanet_data;
pub(crate) mod index;
pub(crate) mod keys;
pub(crate) mod model;
pub(crate) mod model_fetch;
pub(crate) mod node;
pub(crate) mod receipt;
pub(crate) mod sample;
pub(crate) mod subnet;
pub(crate) mod subnet_table;
pub(crate) mod up;
pub(crate) mod usage;
pub(crate) mod wallet;
pub(crate) mod weights;
pub(crate) mod yuma;
