//! Chat prompts in ChatML, the format SmolLM2 was tuned on:
//!
//! ```text
//! <|im_start|>system\nYou are …<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n
//! ```
//!
//! The template is built here rather than by evaluating the Jinja `tokenizer.chat_template`
//! stored in the GGUF. Roles and contents are tokenized as plain text between the control
//! tokens, so a message that spells `<|im_end|>` cannot end its turn early. SmolLM2's template
//! inserts a default system message when the conversation has none; that message is read from
//! the stored template when it is a literal string.

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    tokenizer::{TokenId, Tokenizer},
};

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in the template.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    /// The role named `name` in the template (`as_str`'s inverse).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::System, Self::User, Self::Assistant].into_iter().find(|r| r.as_str() == name)
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What was written.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }
}

/// How a rendered conversation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptEnd {
    /// Right after the last message.
    LastMessage,
    /// With the assistant's turn opened (`<|im_start|>assistant\n`), ready for generation.
    AssistantTurn,
}

/// A ChatML template, with the model's default system message if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    im_start: TokenId,
    im_end: TokenId,
    default_system: Option<String>,
}

impl ChatTemplate {
    /// ChatML over `tokenizer`'s `<|im_start|>` and `<|im_end|>` control tokens; `None` when the
    /// vocabulary lacks them.
    pub fn chatml(tokenizer: &Tokenizer, default_system: Option<String>) -> Option<Self> {
        let im_start = tokenizer.token_id(IM_START)?;
        let im_end = tokenizer.token_id(IM_END)?;
        Some(Self { im_start, im_end, default_system })
    }

    /// The template for a model whose GGUF stores `stored` as `tokenizer.chat_template`.
    pub(crate) fn for_model(tokenizer: &Tokenizer, stored: Option<&str>) -> Option<Self> {
        Self::chatml(tokenizer, stored.and_then(default_system))
    }

    /// The system message used when a conversation has none.
    pub fn default_system(&self) -> Option<&str> {
        self.default_system.as_deref()
    }

    /// The prompt tokens for `messages`.
    pub fn tokens(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        end: PromptEnd,
    ) -> Result<Vec<TokenId>> {
        let mut ids = Vec::new();
        let mut turn = |role: &str, content: &str| -> Result<()> {
            ids.push(self.im_start);
            ids.extend(tokenizer.encode(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(tokenizer.encode("\n")?);
            Ok(())
        };
        if let Some(system) = self.system_to_insert(messages) {
            turn(Role::System.as_str(), system)?;
        }
        for message in messages {
            turn(message.role.as_str(), &message.content)?;
        }
        if end == PromptEnd::AssistantTurn {
            ids.push(self.im_start);
            ids.extend(tokenizer.encode("assistant\n")?);
        }
        Ok(ids)
    }

    /// The prompt for `messages` as text (for logs and tests).
    pub fn text(&self, messages: &[Message], end: PromptEnd) -> String {
        let mut out = String::new();
        let mut turn = |role: &str, content: &str| {
            out.push_str(&format!("{IM_START}{role}\n{content}{IM_END}\n"));
        };
        if let Some(system) = self.system_to_insert(messages) {
            turn(Role::System.as_str(), system);
        }
        for message in messages {
            turn(message.role.as_str(), &message.content);
        }
        if end == PromptEnd::AssistantTurn {
            out.push_str(&format!("{IM_START}assistant\n"));
        }
        out
    }

    fn system_to_insert(&self, messages: &[Message]) -> Option<&str> {
        let has_system = messages.first().is_some_and(|m| m.role == Role::System);
        if has_system { None } else { self.default_system.as_deref() }
    }
}

/// The literal default system message of a stored ChatML Jinja template, such as SmolLM2's
/// `'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, …<|im_end|>\n'`.
fn default_system(stored: &str) -> Option<String> {
    let start = format!("{IM_START}system\n");
    let rest = &stored[stored.find(&start)? + start.len()..];
    let text = &rest[..rest.find(IM_END)?];
    let literal = !text.is_empty() && !text.contains(['\'', '"', '{', '}', '+']);
    literal.then(|| text.to_owned())
}

/// Error for models without a chat template.
pub(crate) fn no_template() -> Error {
    Error::UnsupportedTokenizer { reason: "the vocabulary has no ChatML control tokens".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn reads_a_literal_default_system_message() {
        assert_eq!(
            default_system(SMOLLM2).as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        let computed = "{{'<|im_start|>system\n' + message['content'] + '<|im_end|>'}}";
        assert_eq!(default_system(computed), None);
        assert_eq!(default_system("no chatml here"), None);
    }
}
