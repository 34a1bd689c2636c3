//! A tiny model written to a temporary directory.

use std::path::PathBuf;

use alx_model::{
    LoadConfig, Model, WeightFormat,
    tiny::{self, TinySpec},
};
use tempfile::TempDir;

/// A tiny GGUF file that lives as long as this value.
pub(crate) struct TinyFile {
    _dir: TempDir,
    pub(crate) path: PathBuf,
}

pub(crate) fn tiny_file(spec: &TinySpec) -> TinyFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tiny.gguf");
    tiny::write(&path, spec).expect("write tiny model");
    TinyFile { _dir: dir, path }
}

pub(crate) fn load_config(weights: WeightFormat) -> LoadConfig {
    LoadConfig { weights, ..LoadConfig::DEFAULT }
}

/// The default tiny model, loaded with `weights`.
pub(crate) fn tiny_model(weights: WeightFormat) -> Model {
    let file = tiny_file(&TinySpec::DEFAULT);
    Model::load(&file.path, &load_config(weights)).expect("load tiny model")
}

/// Greedy decoding of at most `max_tokens`, no stop, no penalty.
pub(crate) fn greedy(max_tokens: usize) -> alx_model::GenerateConfig {
    alx_model::GenerateConfig {
        max_tokens,
        sampling: alx_model::Sampling::Greedy,
        stop: vec![],
        penalties: Default::default(),
    }
}
