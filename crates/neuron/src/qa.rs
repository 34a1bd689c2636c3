//! Task accuracy: how many of the held-out split's questions a model answers correctly.
//!
//! Where the pairs come from: a held-out contribution of media type `jsonl` is read line by
//! line. A line that is a JSON object with non-empty string fields `question` and `answer` (or
//! `prompt` and `completion`, the other common spelling; the first spelling wins when a line
//! has both) is a question/answer pair. A line's text for the likelihood score is its `text`
//! field, the ingest rule for JSON lines (so the score covers what the index holds and miners
//! train on); a pair without one contributes `question\nanswer` instead, so that data uploaded
//! without the ingest check is still scored. Any other line (not JSON, not an object, fields
//! missing, empty or not strings) is skipped: the data is other accounts', and a bad line must
//! never stop a validator. Pairs with a question over 2,048 bytes or an answer over 256 bytes
//! are not asked (an answer that long does not fit in 64 generated tokens).
//!
//! Asking: the prompt is the question as the user's turn of the model's chat template when it
//! has one, else `Question: …\nAnswer:` (stopping at a following `\nQuestion:`). The model
//! answers greedily, so every validator sees the same answer, in at most the expected answer's
//! length in its own tokens plus 24 (room for "The answer is …"), capped at 64. A question
//! whose prompt and answer room do not fit the model's context counts as asked and wrong.
//!
//! Judging: the answer is correct when the normalized expected answer appears in the
//! normalized output as whole words. Normalizing lowercases, deletes punctuation, and collapses
//! whitespace (SQuAD's rule without dropping articles); whole words, so that `4` is not found
//! in `1945`.

use alx_model::{GenerateConfig, Message, Role, Sampling};

use crate::{NeuronError, score::Weights};
// The answer's room, the same whether this process or the node asks (`POST /api/evaluate`).
use alx_types::eval_api::{
    EVAL_ANSWER_TOKENS_MARGIN as ANSWER_TOKENS_MARGIN, EVAL_ANSWER_TOKENS_MAX as ANSWER_TOKENS_MAX,
};
/// Longest question asked, in bytes.
const QUESTION_BYTES_MAX: usize = 2048;
/// Longest expected answer asked, in bytes.
const ANSWER_BYTES_MAX: usize = 256;
/// The field names of a pair, in order of preference.
const PAIR_FIELDS: [(&str, &str); 2] = [("question", "answer"), ("prompt", "completion")];

/// A question with its expected answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaPair {
    /// What is asked (trimmed).
    pub question: String,
    /// What a correct answer contains (trimmed).
    pub answer: String,
}

/// Answers judged correct, of those asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Accuracy {
    /// Answers judged correct.
    pub correct: usize,
    /// Questions asked.
    pub asked: usize,
}

impl Accuracy {
    /// Correct answers per question asked (0 when none was asked).
    pub fn rate(self) -> f64 {
        if self.asked == 0 { 0.0 } else { self.correct as f64 / self.asked as f64 }
    }
}

/// What a JSONL contribution holds for evaluation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct JsonLines {
    /// Texts for the likelihood score, one per usable line.
    pub texts: Vec<String>,
    /// Pairs to ask, in line order.
    pub pairs: Vec<QaPair>,
}

/// Reads the lines of a JSONL contribution (see the module docs); never fails.
pub fn json_lines(content: &str) -> JsonLines {
    let mut out = JsonLines::default();
    for line in content.lines() {
        let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(line) else {
            continue;
        };
        let field = |name: &str| {
            let value = fields.get(name)?.as_str()?.trim();
            (!value.is_empty()).then_some(value)
        };
        let pair = PAIR_FIELDS.iter().find_map(|(q, a)| Some((field(q)?, field(a)?)));
        match (field("text"), pair) {
            (Some(text), _) => out.texts.push(text.to_owned()),
            (None, Some((question, answer))) => out.texts.push(format!("{question}\n{answer}")),
            (None, None) => {}
        }
        let Some((question, answer)) = pair else { continue };
        let askable = question.len() <= QUESTION_BYTES_MAX
            && answer.len() <= ANSWER_BYTES_MAX
            && !normalize(answer).is_empty();
        if askable {
            out.pairs.push(QaPair { question: question.to_owned(), answer: answer.to_owned() });
        }
    }
    out
}

/// Lowercase, punctuation deleted, words separated by single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let word: String =
            word.chars().filter(|c| !is_punctuation(*c)).flat_map(char::to_lowercase).collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

/// Punctuation in ASCII, Latin-1, General Punctuation, CJK and fullwidth forms. Letters,
/// digits and combining marks of every script are kept (a category test would need Unicode
/// tables this crate does not carry).
const fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '¡' | '§' | '«' | '¶' | '·' | '»' | '¿'
                | '\u{2010}'..='\u{2027}'
                | '\u{2030}'..='\u{205e}'
                | '\u{3001}'..='\u{3003}'
                | '\u{3008}'..='\u{3011}'
                | '\u{ff01}'..='\u{ff0f}'
                | '\u{ff1a}'..='\u{ff20}'
                | '\u{ff3b}'..='\u{ff40}'
                | '\u{ff5b}'..='\u{ff65}'
        )
}

/// Whether `generated` contains `expected`, both normalized, as whole words.
pub fn is_correct(expected: &str, generated: &str) -> bool {
    let expected = normalize(expected);
    !expected.is_empty() && format!(" {} ", normalize(generated)).contains(&format!(" {expected} "))
}

/// Asks `model` every pair (see the module docs).
pub fn accuracy(weights: &Weights, pairs: &[QaPair]) -> Result<Accuracy, NeuronError> {
    let mut accuracy = Accuracy { correct: 0, asked: pairs.len() };
    for pair in pairs {
        if answer(weights, pair)?.is_some_and(|text| is_correct(&pair.answer, &text)) {
            accuracy.correct += 1;
        }
    }
    Ok(accuracy)
}

/// The model's greedy answer to `pair`'s question; `None` when the prompt and the room for
/// the answer exceed its context.
fn answer(weights: &Weights, pair: &QaPair) -> Result<Option<String>, NeuronError> {
    let model = &weights.model;
    let tokenizer = model.tokenizer();
    let expected = tokenizer.encode(&pair.answer)?.len();
    let max_tokens = expected.saturating_add(ANSWER_TOKENS_MARGIN).min(ANSWER_TOKENS_MAX);
    let (prompt, stop) = if model.chat_template().is_some() {
        (model.chat_prompt(&[Message::new(Role::User, pair.question.as_str())])?, Vec::new())
    } else {
        let prompt = tokenizer.encode(&format!("Question: {}\nAnswer:", pair.question))?;
        (prompt, vec!["\nQuestion:".to_owned()])
    };
    if prompt.len().saturating_add(max_tokens) > model.context_length() {
        return Ok(None);
    }
    let config = GenerateConfig {
        max_tokens,
        sampling: Sampling::Greedy,
        stop,
        penalties: alx_model::Penalties::SERVING,
    };
    Ok(Some(model.generate_adapted(&prompt, &config, weights.adapter.clone(), |_| {})?.text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_model::{LoadConfig, Model, tiny};

    fn pair(question: &str, answer: &str) -> QaPair {
        QaPair { question: question.to_owned(), answer: answer.to_owned() }
    }

    fn check(content: &str, texts: &[&str], pairs: &[QaPair]) {
        let got = json_lines(content);
        assert_eq!(got.texts, texts, "{content}");
        assert_eq!(got.pairs, pairs, "{content}");
    }

    #[test]
    fn json_lines_yield_texts_and_pairs() {
        check(
            "{\"question\":\"Capital of France?\",\"answer\":\"Paris\"}\n\
             {\"text\":\"Paris is a city.\"}\r\n\
             \n\
             {\"prompt\":\" 2+2? \",\"completion\":\"4\",\"id\":7}\n\
             {\"text\":\"Rome.\",\"question\":\"Capital of Italy?\",\"answer\":\"Rome\"}",
            &["Capital of France?\nParis", "Paris is a city.", "2+2?\n4", "Rome."],
            &[
                pair("Capital of France?", "Paris"),
                pair("2+2?", "4"),
                pair("Capital of Italy?", "Rome"),
            ],
        );
        // Both spellings: `question`/`answer` wins; a mixed pair is no pair.
        check(
            r#"{"question":"q","answer":"a","prompt":"p","completion":"c"}"#,
            &["q\na"],
            &[pair("q", "a")],
        );
        check(r#"{"question":"q","completion":"c"}"#, &[], &[]);
    }

    #[test]
    fn bad_lines_are_skipped() {
        check(
            "not json\n\
             {\"question\":\"q\"\n\
             [\"question\",\"answer\"]\n\
             \"text\"\n\
             {\"question\":\"q\"}\n\
             {\"answer\":\"a\"}\n\
             {\"question\":1,\"answer\":\"a\"}\n\
             {\"question\":\"q\",\"answer\":null}\n\
             {\"question\":\"  \",\"answer\":\"a\"}\n\
             {\"text\":3}\n\
             {\"text\":\" \"}\n\
             {\"text\":\"kept\"}",
            &["kept"],
            &[],
        );
        // Scored as text, but not asked: an answer with no words, and overlong fields.
        let long = "x".repeat(ANSWER_BYTES_MAX + 1);
        let content = format!(
            "{{\"question\":\"q\",\"answer\":\"?!\"}}\n{{\"question\":\"q\",\"answer\":\"{long}\"}}"
        );
        check(&content, &["q\n?!", &format!("q\n{long}")], &[]);
    }

    #[test]
    fn other_content_holds_nothing() {
        check("Plain text, not JSON lines.\nQuestion: what? Answer: that.", &[], &[]);
        check("", &[], &[]);
    }

    #[test]
    fn answers_are_normalized_and_matched_as_words() {
        for (text, expect) in [
            ("  The Capital of  France is PARIS.\n", "the capital of france is paris"),
            ("Well-known, isn't it? — «Yes»!", "wellknown isnt it yes"),
            ("Ça va. Ünïcode 東京。", "ça va ünïcode 東京"),
            ("...", ""),
        ] {
            assert_eq!(normalize(text), expect, "{text}");
        }
        for (expected, generated, correct) in [
            ("Paris", "The capital of France is Paris.", true),
            ("paris!", "PARIS", true),
            ("New York", "It is new   york, of course", true),
            ("4", "The answer is 4.", true),
            ("4", "It ended in 1945.", false),
            ("Paris", "Comparison", false),
            ("Paris", "London", false),
            ("?", "anything", false),
        ] {
            assert_eq!(is_correct(expected, generated), correct, "{expected:?} in {generated:?}");
        }
    }

    fn tiny_model(context_length: usize) -> (tempfile::TempDir, Weights) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tiny.gguf");
        let spec = tiny::TinySpec { context_length, ..tiny::TinySpec::DEFAULT };
        tiny::write(&path, &spec).expect("write the tiny model");
        let model = Model::load(&path, &LoadConfig::DEFAULT).expect("load the tiny model");
        (dir, Weights::bare(model.into()))
    }

    #[test]
    fn every_pair_is_asked_and_an_overlong_one_is_wrong() {
        let pairs = [pair("What is the capital of France?", "Paris"), pair("2+2?", "4")];
        let (_dir, model) = tiny_model(256);
        let got = accuracy(&model, &pairs).expect("accuracy");
        assert_eq!(got.asked, 2);
        assert!(got.correct <= 2);
        assert_eq!(got, accuracy(&model, &pairs).expect("accuracy again"), "greedy");
        assert!(answer(&model, &pairs[0]).expect("answer").is_some());
        // The chat prompt plus 24 tokens of answer room exceed a 32-token context.
        let (_dir, small) = tiny_model(32);
        assert_eq!(answer(&small, &pairs[0]).expect("no answer"), None);
        assert_eq!(accuracy(&small, &pairs).expect("accuracy"), Accuracy { correct: 0, asked: 2 });
        assert_eq!(Accuracy { correct: 1, asked: 4 }.rate(), 0.25);
        assert_eq!(Accuracy::default().rate(), 0.0);
    }

    /// SmolLM2-135M-Instruct answers a question it knows, and a wrong expected answer is not
    /// found in that answer. The model is required: a missing GGUF fails the test.
    #[test]
    fn smollm2_answers_the_capital_of_france_slow() {
        let path = crate::testing::smollm2();
        let model = Weights::bare(Model::load(&path, &LoadConfig::DEFAULT).expect("load").into());
        let question = "What is the capital of France?";
        let right = accuracy(&model, &[pair(question, "Paris")]).expect("accuracy");
        assert_eq!(right, Accuracy { correct: 1, asked: 1 });
        let wrong = accuracy(&model, &[pair(question, "Zanzibar marmalade")]).expect("accuracy");
        assert_eq!(wrong, Accuracy { correct: 0, asked: 1 });
    }
}
