//! Which MoveNet model to run: the two bundled in the binary, or a file.

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::PoseError;

/// MoveNet SinglePose Lightning v4 (192x192 input), embedded in the binary.
pub static LIGHTNING_ONNX: &[u8] =
    include_bytes!("../../models/movenet_singlepose_lightning_v4.onnx");
/// MoveNet SinglePose Thunder v4 (256x256 input), embedded in the binary.
pub static THUNDER_ONNX: &[u8] = include_bytes!("../../models/movenet_singlepose_thunder_v4.onnx");
/// sha256 of [`LIGHTNING_ONNX`] (checked by a test against the file).
pub const LIGHTNING_SHA256: &str =
    "9d0308f3b9c0b89752d3900cf00cdaadcf8d68dd90b23d240346ea86a3fab7de";
/// sha256 of [`THUNDER_ONNX`] (checked by a test against the file).
pub const THUNDER_SHA256: &str = "d5a7dd7f95062da471f83de6149dc13177dbfde1fecaf0865aead08c3398c178";

/// Lightning after `models/prepare.py` (float NCHW input, posture's convolution ops), embedded.
pub static LIGHTNING_PREPARED_ONNX: &[u8] =
    include_bytes!("../../models/movenet_singlepose_lightning_v4_prepared.onnx");
/// Thunder after `models/prepare.py`, embedded.
pub static THUNDER_PREPARED_ONNX: &[u8] =
    include_bytes!("../../models/movenet_singlepose_thunder_v4_prepared.onnx");
/// sha256 of [`LIGHTNING_PREPARED_ONNX`].
pub const LIGHTNING_PREPARED_SHA256: &str =
    "efe322a60f6fe8f4720a8f4763d9bd996c0642d5671abddc4f4605a13ffe1ce1";
/// sha256 of [`THUNDER_PREPARED_ONNX`].
pub const THUNDER_PREPARED_SHA256: &str =
    "6ca86a339d32053656e4aae5288209ee1efc2fed1f26e20638398c8b12ea1e08";

/// How the bundled network runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The prepared graph (`models/prepare.py`) with posture's own convolution kernels: fastest.
    #[default]
    Fast,
    /// The original graph exactly as converted, run by tract alone (for comparison).
    TractPlain,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Fast => "fast",
            Engine::TractPlain => "tract-plain",
        })
    }
}

/// The model to load: `lightning` (default, fast), `thunder` (accurate) or a path to an ONNX file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ModelSpec {
    /// The bundled Lightning v4.
    #[default]
    Lightning,
    /// The bundled Thunder v4.
    Thunder,
    /// A MoveNet SinglePose ONNX file with output `[1, 1, 17, 3]` and either the original int32
    /// NHWC input `[1, S, S, 3]` or a prepared float NCHW input `[1, 3, S, S]`.
    Path(PathBuf),
}

impl FromStr for ModelSpec {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "lightning" => ModelSpec::Lightning,
            "thunder" => ModelSpec::Thunder,
            path => ModelSpec::Path(PathBuf::from(path)),
        })
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSpec::Lightning => f.write_str("lightning"),
            ModelSpec::Thunder => f.write_str("thunder"),
            ModelSpec::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A model's bytes with its identity.
#[derive(Debug)]
pub struct ModelBytes {
    /// `lightning`, `thunder` or the file's path.
    pub name: String,
    /// Hex sha256 of the bytes.
    pub sha256: String,
    /// The ONNX protobuf.
    pub bytes: Cow<'static, [u8]>,
}

impl ModelSpec {
    /// The model's bytes: borrowed from the binary for the bundled ones (the variant `engine`
    /// runs), read for a path (run as it is, whatever the engine).
    ///
    /// # Errors
    /// [`PoseError::ModelRead`] when the file cannot be read, [`PoseError::ModelInvalid`] when it
    /// is empty.
    pub fn bytes(&self, engine: Engine) -> Result<ModelBytes, PoseError> {
        let bundled = |sha256: &str, bytes: &'static [u8]| {
            Ok(ModelBytes {
                name: self.to_string(),
                sha256: sha256.to_owned(),
                bytes: Cow::Borrowed(bytes),
            })
        };
        match (self, engine) {
            (ModelSpec::Lightning, Engine::TractPlain) => bundled(LIGHTNING_SHA256, LIGHTNING_ONNX),
            (ModelSpec::Lightning, Engine::Fast) => {
                bundled(LIGHTNING_PREPARED_SHA256, LIGHTNING_PREPARED_ONNX)
            }
            (ModelSpec::Thunder, Engine::TractPlain) => bundled(THUNDER_SHA256, THUNDER_ONNX),
            (ModelSpec::Thunder, Engine::Fast) => {
                bundled(THUNDER_PREPARED_SHA256, THUNDER_PREPARED_ONNX)
            }
            (ModelSpec::Path(path), _) => {
                let bytes = std::fs::read(path).map_err(|source| PoseError::ModelRead {
                    path: path.clone(),
                    source,
                })?;
                if bytes.is_empty() {
                    return Err(PoseError::ModelInvalid {
                        name: self.to_string(),
                        reason: "the file is empty".into(),
                    });
                }
                Ok(ModelBytes {
                    name: self.to_string(),
                    sha256: sha256_hex(&bytes),
                    bytes: Cow::Owned(bytes),
                })
            }
        }
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_match_their_recorded_sha256() {
        assert_eq!(sha256_hex(LIGHTNING_ONNX), LIGHTNING_SHA256);
        assert_eq!(sha256_hex(THUNDER_ONNX), THUNDER_SHA256);
        assert_eq!(
            sha256_hex(LIGHTNING_PREPARED_ONNX),
            LIGHTNING_PREPARED_SHA256
        );
        assert_eq!(sha256_hex(THUNDER_PREPARED_ONNX), THUNDER_PREPARED_SHA256);
    }

    #[test]
    fn names_parse_and_anything_else_is_a_path() {
        assert_eq!(
            "lightning".parse::<ModelSpec>().unwrap(),
            ModelSpec::Lightning
        );
        assert_eq!("thunder".parse::<ModelSpec>().unwrap(), ModelSpec::Thunder);
        assert_eq!(
            "m.onnx".parse::<ModelSpec>().unwrap(),
            ModelSpec::Path("m.onnx".into())
        );
    }
}
