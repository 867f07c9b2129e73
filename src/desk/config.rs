//! The desk's config file (`~/.config/posture/config.toml`, versioned) and its named profiles
//! (`--profile laptop`), each with its own camera and calibration. Every effective value knows
//! where it came from: the default, the file, a profile, or a flag.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pose::ModelSpec;

/// The config file's `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// Settings the file, a profile or a flag may give; `None` leaves the value to the next layer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Camera index.
    pub camera: Option<u32>,
    /// Pose model: `lightning`, `thunder` or a path.
    pub model: Option<String>,
    /// Baseline file.
    pub calibration: Option<PathBuf>,
    /// Judge thresholds and alert timing file.
    pub thresholds: Option<PathBuf>,
    /// Frames per second while posture is steady and good.
    pub steady_fps: Option<f64>,
    /// Frames per second once posture has been steady and good for half a minute.
    pub calm_fps: Option<f64>,
    /// Frames per second on change.
    pub active_fps: Option<f64>,
    /// Seconds between tries of a busy camera.
    pub retry_secs: Option<f64>,
    /// `desktop` (notifications, terminal fallback) or `terminal` (lines with a bell only).
    pub notifications: Option<String>,
    /// Minutes seated before a break is suggested.
    pub break_after_mins: Option<f64>,
    /// Minutes away from the seat (standing, gone, or the camera closed) that count as a break.
    pub break_length_mins: Option<f64>,
}

/// The file: a `schema_version`, the `[desk]` settings and `[profiles.NAME]` overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Must be [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The settings.
    #[serde(default)]
    pub desk: Layer,
    /// Named profiles, each overriding `desk`.
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, Layer>,
}

/// Why the config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid: where and which key.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, the key and what is wrong.
        message: String,
    },
    /// `--profile NAME` names no profile of the file.
    #[error("unknown profile `{name}`; the config file {path} has: {known}")]
    UnknownProfile {
        /// The name asked.
        name: String,
        /// The file.
        path: String,
        /// The profiles it has.
        known: String,
    },
    /// A value out of range.
    #[error("config {path}: `{key}` {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// `~/.config/posture/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("posture").join("config.toml"))
}

impl ConfigFile {
    /// Reads `text` (from `path`, for messages).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] naming the line and the key; [`ConfigError::Invalid`] for values
    /// out of range or another `schema_version`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().replace('\n', " ");
            ConfigError::Parse {
                path: path.to_owned(),
                message: match line {
                    Some(l) => format!("line {l}: {message}"),
                    None => message,
                },
            }
        })?;
        let invalid = |key: &str, problem: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            problem,
        };
        if file.schema_version != SCHEMA_VERSION {
            return Err(invalid(
                "schema_version",
                format!(
                    "is {}; this posture reads version {SCHEMA_VERSION}",
                    file.schema_version
                ),
            ));
        }
        for (name, layer) in std::iter::once(("desk", &file.desk))
            .chain(file.profiles.iter().map(|(n, l)| (n.as_str(), l)))
        {
            for (key, v, lo, hi) in [
                ("steady_fps", layer.steady_fps, 0.0, 1000.0),
                ("calm_fps", layer.calm_fps, 0.0, 1000.0),
                ("active_fps", layer.active_fps, 0.0, 1000.0),
                ("retry_secs", layer.retry_secs, 0.0, 86_400.0),
                ("break_after_mins", layer.break_after_mins, 0.0, 1440.0),
                ("break_length_mins", layer.break_length_mins, 0.0, 1440.0),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v > lo && v <= hi)
                {
                    return Err(invalid(
                        &format!("{name}.{key}"),
                        format!("must be greater than {lo} and at most {hi}, got {v}"),
                    ));
                }
            }
            if let Some(n) = &layer.notifications
                && n != "desktop"
                && n != "terminal"
            {
                return Err(invalid(
                    &format!("{name}.notifications"),
                    format!("must be \"desktop\" or \"terminal\", got \"{n}\""),
                ));
            }
        }
        Ok(file.relative_to(path.parent().unwrap_or(Path::new(""))))
    }

    /// Relative paths in the file (`calibration`, `thresholds`, a `model` that is a path) are
    /// relative to the file's folder, wherever posture is started from.
    fn relative_to(mut self, folder: &Path) -> Self {
        for layer in std::iter::once(&mut self.desk).chain(self.profiles.values_mut()) {
            for p in [&mut layer.calibration, &mut layer.thresholds]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = folder.join(&*p);
                }
            }
            if let Some(m) = &mut layer.model
                && let Ok(ModelSpec::Path(p)) = m.parse::<ModelSpec>()
                && p.is_relative()
            {
                *m = folder.join(p).to_string_lossy().into_owned();
            }
        }
        self
    }

    /// Reads the file at `path`; a missing file is an empty config.
    ///
    /// # Errors
    /// See [`ConfigFile::parse`]; a file that exists but cannot be read.
    pub fn load(path: &Path) -> Result<Option<Self>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

/// Where an effective value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built in.
    Default,
    /// The config file's `[desk]`.
    File,
    /// The profile of that name.
    Profile(String),
    /// A command-line flag.
    Flag,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File => write!(f, "file"),
            Origin::Profile(p) => write!(f, "profile {p}"),
            Origin::Flag => write!(f, "flag"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

/// The layers in force, lowest first: the file's `[desk]`, the profile, the flags.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    /// The file's settings.
    pub file: Layer,
    /// The profile's name and settings.
    pub profile: Option<(String, Layer)>,
    /// The flags given.
    pub flags: Layer,
}

impl Layers {
    /// The file (if any) with profile `profile` (if asked) and the `flags`.
    ///
    /// # Errors
    /// [`ConfigError::UnknownProfile`] when the profile is not in the file.
    pub fn new(
        file: Option<&ConfigFile>,
        file_path: &str,
        profile: Option<&str>,
        flags: Layer,
    ) -> Result<Self, ConfigError> {
        let profile = match profile {
            None => None,
            Some(name) => match file.and_then(|f| f.profiles.get(name)) {
                Some(l) => Some((name.to_owned(), l.clone())),
                None => {
                    let known: Vec<&str> = file
                        .map(|f| f.profiles.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    return Err(ConfigError::UnknownProfile {
                        name: name.to_owned(),
                        path: file_path.to_owned(),
                        known: if known.is_empty() {
                            "no profiles".to_owned()
                        } else {
                            known.join(", ")
                        },
                    });
                }
            },
        };
        Ok(Self {
            file: file.map(|f| f.desk.clone()).unwrap_or_default(),
            profile,
            flags,
        })
    }

    /// The effective value of one setting: the flag's, else the profile's, else the file's, else
    /// `default`.
    pub fn get<T: Clone>(&self, pick: impl Fn(&Layer) -> Option<T>, default: T) -> Sourced<T> {
        if let Some(v) = pick(&self.flags) {
            return Sourced {
                value: v,
                origin: Origin::Flag,
            };
        }
        if let Some((name, l)) = &self.profile
            && let Some(v) = pick(l)
        {
            return Sourced {
                value: v,
                origin: Origin::Profile(name.clone()),
            };
        }
        if let Some(v) = pick(&self.file) {
            return Sourced {
                value: v,
                origin: Origin::File,
            };
        }
        Sourced {
            value: default,
            origin: Origin::Default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
schema_version = 1
[desk]
steady_fps = 1.5
camera = 0
[profiles.docked]
camera = 2
calibration = "/tmp/docked.json"
[profiles.laptop]
"#;

    #[test]
    fn flags_beat_the_profile_which_beats_the_file_which_beats_the_default() {
        let f = ConfigFile::parse(FILE, Path::new("c.toml")).unwrap();
        let flags = Layer {
            active_fps: Some(5.0),
            ..Layer::default()
        };
        let l = Layers::new(Some(&f), "c.toml", Some("docked"), flags).unwrap();
        let camera = l.get(|l| l.camera, 0);
        assert_eq!(
            (camera.value, camera.origin),
            (2, Origin::Profile("docked".into()))
        );
        let steady = l.get(|l| l.steady_fps, 2.0);
        assert_eq!((steady.value, steady.origin), (1.5, Origin::File));
        let active = l.get(|l| l.active_fps, 10.0);
        assert_eq!((active.value, active.origin), (5.0, Origin::Flag));
        let retry = l.get(|l| l.retry_secs, 60.0);
        assert_eq!((retry.value, retry.origin), (60.0, Origin::Default));
        assert_eq!(
            Origin::Profile("docked".into()).to_string(),
            "profile docked"
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let f = ConfigFile::parse(
            "schema_version = 1\n[desk]\nthresholds = \"t.toml\"\nmodel = \"m/x.onnx\"\n[profiles.a]\ncalibration = \"cal/a.json\"\nmodel = \"thunder\"\n[profiles.b]\ncalibration = \"/abs/b.json\"\n",
            Path::new("/home/me/.config/posture/config.toml"),
        )
        .unwrap();
        let dir = Path::new("/home/me/.config/posture");
        assert_eq!(f.desk.thresholds, Some(dir.join("t.toml")));
        assert_eq!(f.desk.model.as_deref(), dir.join("m/x.onnx").to_str());
        assert_eq!(f.profiles["a"].calibration, Some(dir.join("cal/a.json")));
        assert_eq!(f.profiles["a"].model.as_deref(), Some("thunder"));
        assert_eq!(
            f.profiles["b"].calibration,
            Some(PathBuf::from("/abs/b.json"))
        );
    }

    #[test]
    fn bad_config_names_the_file_the_line_and_the_key() {
        let e = ConfigFile::parse(
            "schema_version = 1\n[desk]\nsteady_fsp = 2\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.toml") && e.contains("line 3") && e.contains("steady_fsp"),
            "{e}"
        );
        let e = ConfigFile::parse(
            "schema_version = 1\n[desk]\nsteady_fps = -2\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("desk.steady_fps") && e.contains("-2"), "{e}");
        let e = ConfigFile::parse("schema_version = 2\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("schema_version"), "{e}");
        let f = ConfigFile::parse(FILE, Path::new("c.toml")).unwrap();
        let e = Layers::new(Some(&f), "c.toml", Some("office"), Layer::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unknown profile `office`; the config file c.toml has: docked, laptop"
        );
    }
}
