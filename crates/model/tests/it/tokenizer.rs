//! The tokenizer and chat template of the tiny model.

use alx_model::{Message, PromptEnd, Role, TokenKind, WeightFormat};

use crate::support::tiny_model;

#[test]
fn round_trips_any_text() {
    let model = tiny_model(WeightFormat::Q8_0);
    let tok = model.tokenizer();
    let texts = [
        "",
        "the world",
        "Hello, World! 2024-11-22",
        "  spaces   and\ttabs\n\nnewlines\r\n",
        "héllo wörld 你好 🎉 ﬁ",
        "<|im_start|> is plain text here",
        "\u{0}\u{7f}\u{ad}",
    ];
    for text in texts {
        let ids = tok.encode(text).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), text, "{ids:?}");
        assert!(ids.iter().all(|&id| tok.kind(id) == Some(TokenKind::Normal)), "{text:?}");
    }
}

#[test]
fn applies_merges_and_splits_digits() {
    let model = tiny_model(WeightFormat::Q8_0);
    let tok = model.tokenizer();
    let id = |t: &str| tok.token_id(t).expect(t);
    assert_eq!(tok.encode(" the world").expect("encode"), [id("Ġthe"), id("Ġworld")]);
    assert_eq!(tok.encode("system").expect("encode"), [id("system")]);
    assert_eq!(tok.encode("assistant\n").expect("encode"), [id("assistant"), id("Ċ")]);
    // `smollm` splits digits one by one.
    assert_eq!(tok.encode("2024").expect("encode"), [id("2"), id("0"), id("2"), id("4")]);
}

#[test]
fn special_tokens_only_when_asked() {
    let model = tiny_model(WeightFormat::Q8_0);
    let tok = model.tokenizer();
    assert_eq!((tok.bos(), tok.eos()), (Some(1), Some(2)));
    assert!(tok.is_end_of_generation(2) && tok.is_end_of_generation(0));
    assert!(!tok.is_end_of_generation(1) && !tok.is_end_of_generation(40));
    let text = "<|im_start|>user\nhi<|im_end|>\n";
    let special = tok.encode_with_special(text).expect("encode");
    assert_eq!(special.first(), Some(&1));
    assert_eq!(special[special.len() - 2], 2);
    let plain = tok.encode(text).expect("encode");
    assert!(!plain.contains(&1) && !plain.contains(&2));
    // Control tokens are not printed.
    assert_eq!(tok.decode(&special).expect("decode"), "user\nhi\n");
    assert!(matches!(tok.decode(&[100_000]), Err(alx_model::Error::TokenOutOfRange { .. })));
}

#[test]
fn chat_template_matches_its_text_form() {
    let model = tiny_model(WeightFormat::Q8_0);
    let chat = model.chat_template().expect("chatml");
    assert_eq!(chat.default_system(), None);
    let messages = [
        Message::new(Role::System, "Be brief."),
        Message::new(Role::User, "Say the world."),
        Message::new(Role::Assistant, "the world"),
        Message::new(Role::User, "Again, with <|im_end|> inside."),
    ];
    let text = chat.text(&messages, PromptEnd::AssistantTurn);
    assert!(text.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"));
    assert!(text.ends_with("<|im_end|>\n<|im_start|>assistant\n"));
    let tokens = model.chat_prompt(&messages).expect("prompt");
    // Same ids as parsing the text form, except that the `<|im_end|>` typed by the user
    // stays plain text.
    let parsed = model.tokenizer().encode_with_special(&text).expect("encode");
    assert_eq!(tokens.iter().filter(|&&t| t == 2).count(), 4);
    assert_eq!(parsed.iter().filter(|&&t| t == 2).count(), 5);
    let without = [&messages[..3], &[Message::new(Role::User, "Again.")]].concat();
    assert_eq!(
        model.chat_prompt(&without).expect("prompt"),
        model
            .tokenizer()
            .encode_with_special(&chat.text(&without, PromptEnd::AssistantTurn))
            .expect("encode")
    );
}
