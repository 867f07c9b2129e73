//! Which MoveNet model to run: the two bundled in the binary, or a file.

use std::borrow::Cow;
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::PoseError;

/// sha256 of `models/movenet_singlepose_lightning_v4.onnx`, the original Lightning v4 file (192x192
/// input) the embedded graph was prepared from (checked by a test against the file). Not embedded:
/// pass the file with `--model` to run it as it is.
pub const LIGHTNING_SHA256: &str =
    "9d0308f3b9c0b89752d3900cf00cdaadcf8d68dd90b23d240346ea86a3fab7de";
/// sha256 of `models/movenet_singlepose_thunder_v4.onnx`, the original Thunder v4 file (256x256).
pub const THUNDER_SHA256: &str = "d5a7dd7f95062da471f83de6149dc13177dbfde1fecaf0865aead08c3398c178";

/// Lightning after `models/prepare.py` (float NCHW input, posture's convolution ops), embedded
/// zlib-compressed (the graph's bytes shrink by 40%, which keeps the binary small): both engines
/// run it. [`ModelSpec::bytes`] inflates it.
static LIGHTNING_PREPARED_ZLIB: &[u8] =
    include_bytes!("../../models/movenet_singlepose_lightning_v4_prepared.onnx.zlib");
/// Thunder after `models/prepare.py`, embedded the same way.
static THUNDER_PREPARED_ZLIB: &[u8] =
    include_bytes!("../../models/movenet_singlepose_thunder_v4_prepared.onnx.zlib");
/// sha256 of the prepared Lightning graph (`models/movenet_singlepose_lightning_v4_prepared.onnx`).
pub const LIGHTNING_PREPARED_SHA256: &str =
    "efe322a60f6fe8f4720a8f4763d9bd996c0642d5671abddc4f4605a13ffe1ce1";
/// sha256 of the prepared Thunder graph (`models/movenet_singlepose_thunder_v4_prepared.onnx`).
pub const THUNDER_PREPARED_SHA256: &str =
    "6ca86a339d32053656e4aae5288209ee1efc2fed1f26e20638398c8b12ea1e08";

/// How the bundled network runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The prepared graph's convolutions (`models/prepare.py`) run by posture's own kernels, or
    /// tract's where those measured faster on this CPU, and each MobileNetV2 inverted-residual
    /// block fused into one op where that measured at least 5 % faster than its three layers:
    /// fastest.
    #[default]
    Fast,
    /// As `Fast`, with every inverted-residual block (1x1 expand, depthwise, 1x1 project) run as
    /// one fused op that streams row bands through cache-sized scratch, whatever it measures.
    FastFused,
    /// The same graph with each of posture's convolution nodes run as the tract ops it was fused
    /// from (tract's convolution, clip and add): tract alone, for comparison.
    TractPlain,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Fast => "fast",
            Engine::FastFused => "fast-fused",
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
    /// The model's bytes: the prepared graph borrowed from the binary for the bundled ones
    /// (both engines run it), read for a path (run as it is).
    ///
    /// # Errors
    /// [`PoseError::ModelRead`] when the file cannot be read, [`PoseError::ModelInvalid`] when it
    /// is empty.
    pub fn bytes(&self) -> Result<ModelBytes, PoseError> {
        let bundled = |sha256: &str, compressed: &'static [u8]| {
            let mut bytes = Vec::new();
            flate2::read::ZlibDecoder::new(compressed)
                .read_to_end(&mut bytes)
                .map_err(|e| PoseError::ModelInvalid {
                    name: self.to_string(),
                    reason: format!("the embedded model does not inflate: {e}"),
                })?;
            Ok(ModelBytes {
                name: self.to_string(),
                sha256: sha256.to_owned(),
                bytes: Cow::Owned(bytes),
            })
        };
        match self {
            ModelSpec::Lightning => bundled(LIGHTNING_PREPARED_SHA256, LIGHTNING_PREPARED_ZLIB),
            ModelSpec::Thunder => bundled(THUNDER_PREPARED_SHA256, THUNDER_PREPARED_ZLIB),
            ModelSpec::Path(path) => {
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
    fn models_match_their_recorded_sha256() {
        let original = |name: &str| {
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("models")
                    .join(name),
            )
            .unwrap()
        };
        let lightning = original("movenet_singlepose_lightning_v4.onnx");
        assert_eq!(sha256_hex(&lightning), LIGHTNING_SHA256);
        let thunder = original("movenet_singlepose_thunder_v4.onnx");
        assert_eq!(sha256_hex(&thunder), THUNDER_SHA256);
        for (spec, sha256, file) in [
            (
                ModelSpec::Lightning,
                LIGHTNING_PREPARED_SHA256,
                "movenet_singlepose_lightning_v4_prepared.onnx",
            ),
            (
                ModelSpec::Thunder,
                THUNDER_PREPARED_SHA256,
                "movenet_singlepose_thunder_v4_prepared.onnx",
            ),
        ] {
            // The embedded (compressed) graph inflates to the prepared file, byte for byte.
            let embedded = spec.bytes().unwrap();
            assert_eq!(embedded.sha256, sha256);
            assert_eq!(sha256_hex(&embedded.bytes), sha256);
            assert_eq!(sha256_hex(&original(file)), sha256);
        }
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
