//! A tiny llama GGUF with random weights and a small byte-level BPE vocabulary, written on
//! demand: for tests here and in the crates above (which must not import candle), and for
//! trying the runtime without a real model. It produces fluent nonsense, deterministically.
//!
//! The vocabulary is GPT-2's 256 byte characters (so any text encodes), a few dozen English
//! merges, and the ChatML control tokens, with SmolLM2's ids (`<|endoftext|>` 0,
//! `<|im_start|>` 1 = BOS, `<|im_end|>` 2 = EOS) and `pre = "smollm"`. Matrices are stored as
//! Q4_1, like SmolLM2, so loading exercises the re-quantization. The rows of the control
//! tokens in the embedding and output projection are zero, so their logits are exactly 0 and
//! decoding practically never ends early.

use std::{io::Write, path::Path};

use candle_core::{
    Device, Tensor,
    quantized::{
        GgmlDType, QTensor,
        gguf_file::{self, Value},
    },
};

use crate::error::{Error, Result};

/// Shape and seed of a tiny model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TinySpec {
    /// Transformer blocks.
    pub layers: usize,
    /// Width (a multiple of 32 and of `heads`).
    pub hidden: usize,
    /// Feed-forward width (a multiple of 32).
    pub ffn: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Context length written in the metadata.
    pub context_length: usize,
    /// Seed of the weights.
    pub seed: u64,
    /// Use the token embedding as the output projection (as SmolLM2 does). The default is a
    /// separate `output.weight`: with tied random weights every token predicts itself.
    pub tied_embeddings: bool,
}

impl TinySpec {
    /// 2 layers, width 64, 4 heads over 2 key/value heads, context 64.
    pub const DEFAULT: Self = Self {
        layers: 2,
        hidden: 64,
        ffn: 128,
        heads: 4,
        kv_heads: 2,
        context_length: 64,
        seed: 1,
        tied_embeddings: false,
    };
}

/// Control tokens, at ids 0, 1, 2.
pub const CONTROL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Merges, in rank order, in GPT-2's byte-character spelling (`Ġ` is a space, `Ċ` a newline).
const MERGES: [&str; 30] = [
    "Ġ t",
    "h e",
    "Ġt he",
    "i n",
    "Ġ a",
    "e r",
    "o n",
    "Ġ s",
    "r e",
    "Ġ w",
    "o r",
    "Ġw or",
    "l d",
    "Ġwor ld",
    "s y",
    "sy s",
    "t e",
    "sys te",
    "syste m",
    "u s",
    "us er",
    "a s",
    "as s",
    "ass i",
    "s t",
    "assi st",
    "a n",
    "assist an",
    "assistan t",
    "Ġ h",
];

/// The metadata of the model of `spec`, in writing order.
pub fn metadata(spec: &TinySpec) -> Vec<(String, Value)> {
    let (tokens, types) = vocabulary();
    let u32v = |v: usize| Value::U32(u32::try_from(v).unwrap_or(u32::MAX));
    let strings = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    let entries = [
        ("general.architecture", Value::String("llama".to_owned())),
        ("general.name", Value::String("tiny-test".to_owned())),
        ("llama.block_count", u32v(spec.layers)),
        ("llama.context_length", u32v(spec.context_length)),
        ("llama.embedding_length", u32v(spec.hidden)),
        ("llama.feed_forward_length", u32v(spec.ffn)),
        ("llama.attention.head_count", u32v(spec.heads)),
        ("llama.attention.head_count_kv", u32v(spec.kv_heads)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.dimension_count", u32v(spec.hidden / spec.heads)),
        ("tokenizer.ggml.model", Value::String("gpt2".to_owned())),
        ("tokenizer.ggml.pre", Value::String("smollm".to_owned())),
        ("tokenizer.ggml.tokens", strings(tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.merges", strings(MERGES.iter().map(|m| (*m).to_owned()).collect())),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
    ];
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The tensors of the model of `spec`, by GGUF name.
pub fn tensors(spec: &TinySpec) -> Result<Vec<(String, QTensor)>> {
    let vocab = vocabulary().0.len();
    let (h, f) = (spec.hidden, spec.ffn);
    let head_dim = h / spec.heads;
    let kv = spec.kv_heads * head_dim;
    let mut rng = Rng(spec.seed);
    let mut out = Vec::new();
    let mut embedding = rng.matrix(vocab, h, 1.0);
    embedding[..CONTROL_TOKENS.len() * h].fill(0.0);
    out.push(("token_embd.weight".to_owned(), quantize(embedding, &[vocab, h], GgmlDType::Q8_0)?));
    if !spec.tied_embeddings {
        let mut output = rng.matrix(vocab, h, 1.0);
        output[..CONTROL_TOKENS.len() * h].fill(0.0);
        out.push(("output.weight".to_owned(), quantize(output, &[vocab, h], GgmlDType::Q4_1)?));
    }
    out.push(("output_norm.weight".to_owned(), quantize(rng.norm(h), &[h], GgmlDType::F32)?));
    for i in 0..spec.layers {
        let name = |t: &str| format!("blk.{i}.{t}.weight");
        let shapes = [
            ("attn_q", h, h),
            ("attn_k", kv, h),
            ("attn_v", kv, h),
            ("attn_output", h, h),
            ("ffn_gate", f, h),
            ("ffn_up", f, h),
            ("ffn_down", h, f),
        ];
        out.push((name("attn_norm"), quantize(rng.norm(h), &[h], GgmlDType::F32)?));
        out.push((name("ffn_norm"), quantize(rng.norm(h), &[h], GgmlDType::F32)?));
        for (t, rows, cols) in shapes {
            let scale = 1.0 / (cols as f32).sqrt();
            let m = rng.matrix(rows, cols, scale);
            out.push((name(t), quantize(m, &[rows, cols], GgmlDType::Q4_1)?));
        }
    }
    Ok(out)
}

/// Writes a GGUF file from metadata and tensors (candle's writer, GGUF v2).
pub fn write_gguf(
    path: &Path,
    metadata: &[(String, Value)],
    tensors: &[(String, QTensor)],
) -> Result<()> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let mut file = std::fs::File::create(path).map_err(io)?;
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut file, &metadata, &tensors)?;
    file.flush().map_err(io)
}

/// Writes the model of `spec` to `path`.
pub fn write(path: &Path, spec: &TinySpec) -> Result<()> {
    write_gguf(path, &metadata(spec), &tensors(spec)?)
}

/// Token texts and GGUF token types (3 = control, 1 = normal).
fn vocabulary() -> (Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = CONTROL_TOKENS.iter().map(|t| (*t).to_owned()).collect();
    let mut types = vec![3; CONTROL_TOKENS.len()];
    tokens.extend(byte_chars().into_iter().map(String::from));
    tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    types.resize(tokens.len(), 1);
    (tokens, types)
}

/// GPT-2's character for each byte, in byte order.
fn byte_chars() -> Vec<char> {
    let mut next = 0x100;
    (0..=0xFF_u32)
        .map(|b| {
            let code = if matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF) {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

fn quantize(values: Vec<f32>, shape: &[usize], dtype: GgmlDType) -> Result<QTensor> {
    let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?;
    Ok(QTensor::quantize(&tensor, dtype)?)
}

/// SplitMix64 for weights (independent of the sampler's copy: weights must never change).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Uniform in [-1, 1).
        (z >> 40) as f32 / (1_u64 << 23) as f32 - 1.0
    }

    fn matrix(&mut self, rows: usize, cols: usize, scale: f32) -> Vec<f32> {
        (0..rows * cols).map(|_| self.next() * scale).collect()
    }

    fn norm(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| 1.0 + 0.1 * self.next()).collect()
    }
}
