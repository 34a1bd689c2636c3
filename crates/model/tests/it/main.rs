//! Integration tests of alx-model on a tiny generated llama GGUF (and one slow end-to-end test
//! on the real SmolLM2 file).

mod adapter;
mod generate;
mod load;
mod logits;
mod replay;
mod smollm2;
mod support;
mod tokenizer;
mod train;
