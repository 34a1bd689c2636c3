//! Replaying greedy answers: what the model generated replays with no departure (penalties
//! included), an edited token is found at its position, and bad input is refused.

use alx_model::{GenerateConfig, Penalties, Sampling, WeightFormat};

use crate::support::{load_config, tiny_file, tiny_model};

/// The tiny model with room for 150 tokens after the prompt.
fn roomy() -> alx_model::Model {
    let spec =
        alx_model::tiny::TinySpec { context_length: 256, ..alx_model::tiny::TinySpec::DEFAULT };
    let file = tiny_file(&spec);
    alx_model::Model::load(&file.path, &load_config(WeightFormat::Q8_0)).expect("load")
}

const PROMPT: [u32; 6] = [1, 40, 50, 60, 70, 80];
const TOLERANCE: f32 = 1.0;

fn greedy(max_tokens: usize, penalties: Penalties) -> GenerateConfig {
    GenerateConfig { max_tokens, sampling: Sampling::Greedy, stop: vec![], penalties }
}

#[test]
fn a_generated_answer_replays_and_an_edited_one_departs_where_edited() {
    let model = roomy();
    for penalties in [Penalties::NONE, Penalties::SERVING] {
        // Longer than one pass of logits rows (128), so the chunked path is covered.
        let answer = model.generate(&PROMPT, &greedy(150, penalties), |_| {}).expect("generate");
        assert_eq!(answer.tokens.len(), 150);
        let replay =
            model.replay_greedy(&PROMPT, &answer.tokens, &penalties, TOLERANCE, None).unwrap();
        assert_eq!(replay.departure, None, "{penalties:?}");
        assert_eq!(replay.tokens, 150);
        assert!(replay.max_gap < 0.05, "one pass and step-by-step differ by {}", replay.max_gap);

        for at in [0, 1, 129, 149] {
            let mut edited = answer.tokens.clone();
            // The least likely token at that position is far below the best.
            let logits = model.logits(&[&PROMPT[..], &answer.tokens[..at]].concat()).unwrap();
            let worst = logits
                .last()
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| u32::try_from(i).unwrap())
                .unwrap();
            edited[at] = worst;
            let replay =
                model.replay_greedy(&PROMPT, &edited, &penalties, TOLERANCE, None).unwrap();
            let departure = replay.departure.expect("an edited token departs");
            assert_eq!((departure.position, departure.token), (at, worst));
            assert!(departure.gap > TOLERANCE);
        }
    }
}

#[test]
fn replay_refuses_what_it_cannot_run() {
    let model = tiny_model(WeightFormat::Q8_0);
    assert!(model.replay_greedy(&[], &[1], &Penalties::NONE, TOLERANCE, None).is_err());
    assert!(model.replay_greedy(&PROMPT, &[], &Penalties::NONE, TOLERANCE, None).is_err());
    let long = vec![5u32; model.context_length()];
    assert!(model.replay_greedy(&PROMPT, &long, &Penalties::NONE, TOLERANCE, None).is_err());
    // An id outside the vocabulary is a departure, never a panic.
    let replay =
        model.replay_greedy(&PROMPT, &[u32::MAX], &Penalties::NONE, TOLERANCE, None).unwrap();
    assert_eq!(replay.departure.map(|d| d.position), Some(0));
    let bad = Penalties { repetition: 7.0, ..Penalties::SERVING };
    assert!(model.replay_greedy(&PROMPT, &[1], &bad, TOLERANCE, None).is_err());
}
