//! Loading: the tiny model in every weight format, and hostile files.

use std::path::Path;

use alx_model::{
    Error, LoadConfig, Model, WeightFormat,
    tiny::{self, TinySpec},
};
use candle_core::quantized::{QTensor, gguf_file::Value};

use crate::support::{load_config, tiny_file};

/// Loading `path` must fail with a model-file error (or an I/O error), never panic.
fn check_rejected(path: &Path) -> Error {
    let err = Model::load(path, &LoadConfig::DEFAULT).expect_err("hostile file must not load");
    assert!(err.is_bad_model() || matches!(err, Error::Io { .. }), "unexpected class: {err:?}");
    err
}

/// Writes the default tiny model with `edit` applied to its metadata and tensors.
fn write_edited(
    dir: &Path,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<(String, QTensor)>),
) -> std::path::PathBuf {
    let spec = TinySpec::DEFAULT;
    let mut metadata = tiny::metadata(&spec);
    let mut tensors = tiny::tensors(&spec).expect("tensors");
    edit(&mut metadata, &mut tensors);
    let path = dir.join("edited.gguf");
    tiny::write_gguf(&path, &metadata, &tensors).expect("write");
    path
}

fn set(metadata: &mut Vec<(String, Value)>, key: &str, value: Value) {
    metadata.retain(|(k, _)| k != key);
    metadata.push((key.to_owned(), value));
}

#[test]
fn loads_the_tiny_model_in_every_format() {
    let file = tiny_file(&TinySpec::DEFAULT);
    for weights in
        [WeightFormat::Native, WeightFormat::Q8_0, WeightFormat::F32, WeightFormat::AsStored]
    {
        let model = Model::load(&file.path, &load_config(weights)).expect("load");
        let info = model.info();
        assert_eq!(info.name.as_deref(), Some("tiny-test"));
        assert_eq!((info.params.layers, info.params.hidden, info.params.ffn), (2, 64, 128));
        assert_eq!((info.params.heads, info.params.kv_heads, info.params.head_dim), (4, 2, 16));
        assert!(!info.params.tied_embeddings);
        assert_eq!(model.context_length(), 64);
        assert_eq!(model.tokenizer().vocab_size(), info.params.vocab_size);
        assert!(model.chat_template().is_some());
        let logits = model.logits(&[1, 40, 41, 42]).expect("logits");
        assert_eq!((logits.rows(), logits.vocab()), (4, info.params.vocab_size));
        assert!(logits.last().iter().all(|l| l.is_finite()));
    }
}

#[test]
fn quantized_formats_are_close_to_f32() {
    let file = tiny_file(&TinySpec::DEFAULT);
    let tokens = [1, 50, 60, 70, 80, 90];
    let exact = Model::load(&file.path, &load_config(WeightFormat::F32)).expect("f32");
    let a = exact.logits(&tokens).expect("f32");
    let scale = a.last().iter().fold(0f32, |m, v| m.max(v.abs()));
    // Native keeps the stored weights exactly and rounds only the activations (16 bits), so it
    // is far closer to f32 than the Q8_0 re-quantization.
    for (format, bound) in [(WeightFormat::Q8_0, 0.05), (WeightFormat::Native, 0.001)] {
        let model = Model::load(&file.path, &load_config(format)).expect("load");
        let b = model.logits(&tokens).expect("logits");
        let diff = a.last().iter().zip(b.last()).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff < bound * scale, "{format:?} differs by {diff} (scale {scale})");
    }
}

#[test]
fn loads_tied_embeddings_and_other_shapes() {
    let spec =
        TinySpec { tied_embeddings: true, layers: 3, heads: 2, kv_heads: 1, ..TinySpec::DEFAULT };
    let file = tiny_file(&spec);
    let model = Model::load(&file.path, &LoadConfig::DEFAULT).expect("load");
    assert!(model.info().params.tied_embeddings);
    assert_eq!(model.info().params.head_dim, 32);
    model.logits(&[5, 6, 7]).expect("logits");
}

#[test]
fn truncated_files_are_rejected() {
    let file = tiny_file(&TinySpec::DEFAULT);
    let bytes = std::fs::read(&file.path).expect("read");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("cut.gguf");
    let n = bytes.len();
    for cut in [0, 3, 4, 8, 16, 24, 40, 100, 1000, n / 4, n / 2, n - 64, n - 1] {
        std::fs::write(&path, &bytes[..cut]).expect("write");
        check_rejected(&path);
    }
}

#[test]
fn garbage_and_missing_files_are_rejected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("garbage.gguf");
    std::fs::write(&path, b"GGML this is not a gguf file at all").expect("write");
    assert!(matches!(check_rejected(&path), Error::Malformed { .. }));
    // A valid magic with an absurd version.
    std::fs::write(&path, [b"GGUF".as_slice(), &99u32.to_le_bytes(), &[0; 16]].concat())
        .expect("write");
    assert!(matches!(check_rejected(&path), Error::Malformed { .. }));
    assert!(matches!(check_rejected(&dir.path().join("absent.gguf")), Error::Io { .. }));
}

#[test]
fn corrupted_bytes_never_panic() {
    // Flip bytes all over the header and metadata (seeded): any outcome but a panic is fine.
    let file = tiny_file(&TinySpec::DEFAULT);
    let bytes = std::fs::read(&file.path).expect("read");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("flipped.gguf");
    let header = bytes.len().min(12_000);
    let mut state = 0x5EED_u64;
    for _ in 0..300 {
        let mut corrupt = bytes.clone();
        for _ in 0..4 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let at = (state >> 33) as usize % header;
            corrupt[at] = (state >> 13) as u8;
        }
        std::fs::write(&path, &corrupt).expect("write");
        if let Ok(model) = Model::load(&path, &LoadConfig::DEFAULT) {
            let _ = model.logits(&[1, 2, 3]);
        }
    }
}

#[test]
fn zero_alignment_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_edited(dir.path(), |m, _| set(m, "general.alignment", Value::U32(0)));
    assert!(matches!(check_rejected(&path), Error::Malformed { .. }));
}

#[test]
fn unsupported_and_inconsistent_metadata_is_rejected() {
    let dir = tempfile::tempdir().expect("dir");
    let cases: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("gpt2".to_owned())),
        ("llama.attention.head_count", Value::U32(0)),
        ("llama.attention.head_count", Value::U32(3)),
        ("llama.attention.head_count_kv", Value::U32(3)),
        ("llama.block_count", Value::String("two".to_owned())),
        ("llama.block_count", Value::U64(1 << 40)),
        ("llama.context_length", Value::I32(-5)),
        ("llama.rope.freq_base", Value::F32(f32::NAN)),
        ("llama.rope.dimension_count", Value::U32(8)),
        ("llama.expert_count", Value::U32(8)),
        ("tokenizer.ggml.model", Value::String("llama".to_owned())),
        ("tokenizer.ggml.pre", Value::String("qwen2".to_owned())),
        ("tokenizer.ggml.merges", Value::Array(vec![Value::String("Ġthe world".to_owned())])),
        ("tokenizer.ggml.merges", Value::Array(vec![Value::String("nospace".to_owned())])),
        ("tokenizer.ggml.token_type", Value::Array(vec![Value::I32(1)])),
        ("tokenizer.ggml.tokens", Value::Array(vec![])),
        ("tokenizer.ggml.eos_token_id", Value::U32(1_000_000)),
    ];
    for (key, value) in cases {
        let label = format!("{key} = {value:?}");
        let path = write_edited(dir.path(), |m, _| set(m, key, value));
        let err = check_rejected(&path);
        eprintln!("{label}: {err}");
    }
    let path = write_edited(dir.path(), |m, _| m.retain(|(k, _)| k != "llama.block_count"));
    assert!(matches!(check_rejected(&path), Error::MissingMetadata { .. }));
    let path = write_edited(dir.path(), |m, _| {
        set(m, "general.architecture", Value::String("gemma".into()))
    });
    assert!(matches!(check_rejected(&path), Error::UnsupportedArchitecture { .. }));
}

#[test]
fn missing_or_misshapen_tensors_are_rejected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_edited(dir.path(), |_, t| t.retain(|(name, _)| name != "blk.1.ffn_up.weight"));
    assert!(matches!(check_rejected(&path), Error::MissingTensor { .. }));
    let path = write_edited(dir.path(), |_, t| {
        let (_, wrong) = tiny::tensors(&TinySpec { ffn: 96, ..TinySpec::DEFAULT })
            .expect("tensors")
            .into_iter()
            .find(|(name, _)| name == "blk.0.ffn_up.weight")
            .expect("tensor");
        for (name, tensor) in t.iter_mut() {
            if name == "blk.0.ffn_up.weight" {
                *tensor = wrong;
                break;
            }
        }
    });
    assert!(matches!(check_rejected(&path), Error::TensorShape { .. }));
}

#[test]
fn threads_are_configurable() {
    let file = tiny_file(&TinySpec::DEFAULT);
    let config =
        LoadConfig { threads: std::num::NonZeroUsize::new(2).expect("2"), ..LoadConfig::DEFAULT };
    let model = Model::load(&file.path, &config).expect("load");
    assert_eq!(model.info().load.threads.get(), 2);
    model.logits(&[1, 2, 3]).expect("logits");
}

#[test]
fn a_model_can_be_shared_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<Model>();
    check::<alx_model::Tokenizer>();
    // A generation may move to another thread (a blocking task of an async server).
    fn send<T: Send>() {}
    send::<alx_model::Generation<'static>>();
}
