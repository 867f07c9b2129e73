//! Exercises from declarative definitions, validated rep by rep: a deterministic state machine
//! over timed metric values (no clock of its own), shared by live runs, video analysis and replay.
//!
//! A definition (TOML, see `exercises/` and the README) is a list of phases. Each phase has
//! conditions on named metrics, a hold time and a grace time. The engine waits for the first
//! phase's conditions, then times the hold: dips shorter than the grace are forgiven and the
//! timer keeps running through them (hold time = last good sample − first good sample); a
//! longer dip breaks the phase. Completing the last phase counts a rep. A broken counted phase
//! rejects the attempt with the reason and the count at which it broke; the person leaving the
//! frame pauses the timers.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::science::geometry::{angle_at, deg, midpoint};
use crate::science::metrics::Metric;

/// What an exercise condition can be on: the posture score, a posture [`Metric`], or a joint
/// angle. Written in files by its JSON-style name (`trunk_flexion_deg`, `score`, `knee_angle_deg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantity {
    /// The posture score, 0..100.
    Score,
    /// A posture metric.
    Posture(Metric),
    /// Hip–knee–ankle angle on the better-seen side (180 = straight).
    KneeAngleDeg,
    /// Shoulder–hip–knee angle.
    HipAngleDeg,
    /// Shoulder–elbow–wrist angle.
    ElbowAngleDeg,
    /// Hip–shoulder–elbow angle.
    ShoulderAngleDeg,
    /// The hip-centre → knee-centre line from vertical, positive toward the person's left.
    KneeTiltDeg,
}

impl Quantity {
    /// Every quantity a condition can name.
    pub fn all() -> Vec<Quantity> {
        let mut all = vec![Quantity::Score];
        all.extend(Metric::ALL.map(Quantity::Posture));
        all.extend([
            Quantity::KneeAngleDeg,
            Quantity::HipAngleDeg,
            Quantity::ElbowAngleDeg,
            Quantity::ShoulderAngleDeg,
            Quantity::KneeTiltDeg,
        ]);
        all
    }

    /// Its name in files.
    pub fn name(self) -> &'static str {
        match self {
            Quantity::Score => "score",
            Quantity::Posture(m) => m.name(),
            Quantity::KneeAngleDeg => "knee_angle_deg",
            Quantity::HipAngleDeg => "hip_angle_deg",
            Quantity::ElbowAngleDeg => "elbow_angle_deg",
            Quantity::ShoulderAngleDeg => "shoulder_angle_deg",
            Quantity::KneeTiltDeg => "knee_tilt_deg",
        }
    }

    /// The quantity named `name`.
    pub fn from_name(name: &str) -> Option<Quantity> {
        Quantity::all().into_iter().find(|q| q.name() == name)
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Quantity::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Quantity::all().into_iter().map(Quantity::name).collect();
            serde::de::Error::custom(format!(
                "`metric`: unknown metric `{name}`; known metrics: {}",
                known.join(", ")
            ))
        })
    }
}

fn finite_bound<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    let v = f32::deserialize(d)?;
    if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(serde::de::Error::custom(format!(
            "`min`/`max` must be a finite number, got {v}"
        )))
    }
}

fn secs<'de, D: serde::Deserializer<'de>>(d: D, field: &str) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{field}` must be a number of seconds from 0 to 86400, got {v}"
        )))
    }
}

fn hold_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    secs(d, "hold_secs")
}

fn grace_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    secs(d, "grace_secs")
}

fn reps_at_least_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if (1..=10_000).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "`reps` must be from 1 to 10000, got {v}"
        )))
    }
}

/// A condition as written, checked into a [`Condition`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    metric: Quantity,
    #[serde(default, deserialize_with = "finite_bound")]
    min: Option<f32>,
    #[serde(default, deserialize_with = "finite_bound")]
    max: Option<f32>,
    #[serde(default)]
    broken: Option<String>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(c: RawCondition) -> Result<Self, String> {
        match (c.min, c.max) {
            (None, None) => Err(format!("condition on `{}` needs `min` or `max`", c.metric)),
            (Some(lo), Some(hi)) if lo > hi => Err(format!(
                "condition on `{}`: `min` ({lo}) is greater than `max` ({hi}), so it can never hold",
                c.metric
            )),
            _ => Ok(Condition {
                metric: c.metric,
                min: c.min,
                max: c.max,
                broken: c.broken,
            }),
        }
    }
}

/// A condition on one metric; the metric must be measured for the condition to hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCondition")]
pub struct Condition {
    /// What the condition is on.
    pub metric: Quantity,
    /// Lowest value allowed.
    pub min: Option<f32>,
    /// Highest value allowed.
    pub max: Option<f32>,
    /// What to say when this condition breaks a hold, e.g. "trunk leaned forward".
    pub broken: Option<String>,
}

/// One phase of an exercise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Short name, e.g. `hold`, `relax`.
    pub name: String,
    /// What to tell the user, e.g. "Sit tall".
    pub prompt: String,
    /// How long the conditions must hold (0: reaching them is enough). Required.
    #[serde(deserialize_with = "hold_secs")]
    pub hold_secs: f64,
    /// Dips shorter than this are forgiven.
    #[serde(default, deserialize_with = "grace_secs")]
    pub grace_secs: f64,
    /// Whether this is the counted hold ("count of ten"): its count is shown, a break rejects
    /// the attempt, and its scores describe the rep.
    #[serde(default)]
    pub counted: bool,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

/// An exercise definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Name used on the command line, e.g. `sit-tall`.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Reps asked for by default (1 or more).
    #[serde(default = "default_reps", deserialize_with = "reps_at_least_one")]
    pub reps: u32,
    /// The phases of one rep, in order.
    pub phases: Vec<Phase>,
}

fn default_reps() -> u32 {
    5
}

/// A definition file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExerciseError {
    /// Unreadable file.
    #[error("cannot read exercise file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a valid definition.
    #[error("exercise file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The parser's message with line and field.
        reason: String,
    },
    /// No such built-in exercise or file.
    #[error(
        "no exercise named {0}; built in: sit-tall, stand-tall, wall-slides, leg-lifts, knee-tilts (or give a .toml file)"
    )]
    Unknown(String),
}

/// A TOML error as `line L: `field`: what`, on one line.
fn toml_reason(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    // The key written before the value the error points at, on the same line.
    let before = &text[line_start..start];
    let field = before.rfind('=').and_then(|eq| {
        let key = before[..eq].trim_end();
        let key_start = key
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |i| i + 1);
        let key = &key[key_start..];
        (!key.is_empty() && !message.contains(&format!("`{key}`"))).then(|| key.to_owned())
    });
    match field {
        Some(f) => format!("line {line_no}: `{f}`: {message}"),
        None => format!("line {line_no}: {message}"),
    }
}

/// The line of the `i`-th `[[phases]]` header, when the phases are written as tables.
fn phase_line(text: &str, i: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[phases]]"))
        .nth(i)
        .map(|(n, _)| n + 1)
}

/// The built-in definitions, from `exercises/`.
pub const BUILT_IN: [(&str, &str); 5] = [
    ("sit-tall", include_str!("../../exercises/sit-tall.toml")),
    (
        "stand-tall",
        include_str!("../../exercises/stand-tall.toml"),
    ),
    (
        "wall-slides",
        include_str!("../../exercises/wall-slides.toml"),
    ),
    ("leg-lifts", include_str!("../../exercises/leg-lifts.toml")),
    (
        "knee-tilts",
        include_str!("../../exercises/knee-tilts.toml"),
    ),
];

impl Definition {
    /// Parses a definition; `path` names it in errors.
    ///
    /// # Errors
    /// [`ExerciseError::Invalid`] with the line and the field.
    pub fn parse(text: &str, path: &str) -> Result<Self, ExerciseError> {
        let invalid = |reason: String| ExerciseError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let d: Definition = toml::from_str(text).map_err(|e| invalid(toml_reason(text, &e)))?;
        if d.phases.is_empty() {
            return Err(invalid(
                "`phases` is empty: give at least one [[phases]]".into(),
            ));
        }
        for (i, p) in d.phases.iter().enumerate() {
            let at = phase_line(text, i).map_or(String::new(), |l| format!("line {l}: "));
            if p.conditions.is_empty() {
                return Err(invalid(format!(
                    "{at}`conditions`: phase `{}` has no conditions",
                    p.name
                )));
            }
            if p.counted && p.hold_secs <= 0.0 {
                return Err(invalid(format!(
                    "{at}`hold_secs`: the counted phase `{}` needs a hold longer than 0 s",
                    p.name
                )));
            }
        }
        Ok(d)
    }

    /// A built-in exercise by name, or a definition file by path.
    ///
    /// # Errors
    /// [`ExerciseError`] naming the file or the unknown name.
    pub fn find(name_or_path: &str) -> Result<Self, ExerciseError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(text, &format!("exercises/{name}.toml"));
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| ExerciseError::Read {
                path: name_or_path.to_owned(),
                source,
            })?;
            return Self::parse(&text, name_or_path);
        }
        Err(ExerciseError::Unknown(name_or_path.to_owned()))
    }

    /// Sets the counted phase's hold time.
    pub fn with_hold_secs(mut self, secs: f64) -> Self {
        for p in self.phases.iter_mut().filter(|p| p.counted) {
            p.hold_secs = secs;
        }
        self
    }
}

/// One rep's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepRecord {
    /// The counted hold's duration.
    pub hold_secs: f64,
    /// Mean score during the hold.
    pub mean_score: Option<f32>,
    /// Lowest score during the hold.
    pub min_score: Option<f32>,
}

#[derive(Clone, Debug)]
struct Hold {
    start: f64,
    last_good: f64,
    dip_since: Option<(f64, String)>,
    paused_for: f64,
    count: u32,
    scores: (f64, u32, f32),
}

/// The exercise state machine.
#[derive(Clone, Debug)]
pub struct Engine {
    def: Definition,
    phase: usize,
    hold: Option<Hold>,
    counted_hold: Option<RepRecord>,
    reps: Vec<RepRecord>,
    rejected: u32,
    away_since: Option<f64>,
    announced: bool,
}

fn check(c: &Condition, values: &dyn Fn(Quantity) -> Option<f32>) -> bool {
    match values(c.metric) {
        Some(v) => c.min.is_none_or(|m| v >= m) && c.max.is_none_or(|m| v <= m),
        None => false,
    }
}

impl Engine {
    /// Starts at the first phase.
    pub fn new(def: Definition) -> Self {
        Self {
            def,
            phase: 0,
            hold: None,
            counted_hold: None,
            reps: Vec::new(),
            rejected: 0,
            away_since: None,
            announced: false,
        }
    }

    /// The definition.
    pub fn definition(&self) -> &Definition {
        &self.def
    }

    /// Reps completed so far.
    pub fn reps(&self) -> &[RepRecord] {
        &self.reps
    }

    /// Attempts rejected so far.
    pub fn rejected(&self) -> u32 {
        self.rejected
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.def.phases[self.phase]
    }

    /// The count of the counted hold in progress, if any.
    pub fn count(&self) -> Option<u32> {
        self.hold
            .as_ref()
            .filter(|_| self.phase().counted)
            .map(|h| h.count)
    }

    /// The phase being held when a hold is in progress: its name, the seconds held so far and
    /// the seconds it needs (what to tell the user when the source ends mid-hold).
    pub fn hold_in_progress(&self) -> Option<(&str, f64, f64)> {
        let h = self.hold.as_ref()?;
        let p = self.phase();
        Some((
            p.name.as_str(),
            (h.last_good - h.start - h.paused_for).max(0.0),
            p.hold_secs,
        ))
    }

    /// The counted phase's hold time, seconds.
    pub fn counted_hold_secs(&self) -> Option<f64> {
        self.def
            .phases
            .iter()
            .find(|p| p.counted)
            .map(|p| p.hold_secs)
    }

    /// Feeds one sample at `t_secs`: whether a person is seen, the metric values, and a note
    /// (the judge's reason) added to the reason when a `score` condition breaks a hold.
    pub fn update(
        &mut self,
        t_secs: f64,
        person: bool,
        values: &dyn Fn(Quantity) -> Option<f32>,
        note: Option<&str>,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        if !self.announced {
            self.announced = true;
            events.push(self.prompt());
        }
        if !person {
            if self.away_since.is_none() {
                self.away_since = Some(t_secs);
                events.push(Event::Paused);
            }
            return events;
        }
        if let Some(since) = self.away_since.take() {
            if let Some(h) = &mut self.hold {
                h.paused_for += t_secs - since;
                // The dip clock does not run while away either.
                if let Some((d, _)) = &mut h.dip_since {
                    *d += t_secs - since;
                }
                h.last_good += t_secs - since;
            }
            events.push(Event::Resumed);
        }
        let phase = self.def.phases[self.phase].clone();
        let failed = phase.conditions.iter().find(|c| !check(c, values));
        match (&mut self.hold, failed) {
            (None, None) => {
                self.hold = Some(Hold {
                    start: t_secs,
                    last_good: t_secs,
                    dip_since: None,
                    paused_for: 0.0,
                    count: 0,
                    scores: (0.0, 0, f32::INFINITY),
                });
            }
            (None, Some(_)) => {}
            (Some(h), None) => {
                // A dip ends: it was forgiven only if it lasted no longer than the grace
                // (dip length = first bad sample to the next good one).
                if h.dip_since
                    .as_ref()
                    .is_none_or(|(since, _)| t_secs - since <= phase.grace_secs + 1e-9)
                {
                    h.dip_since = None;
                    h.last_good = t_secs;
                }
            }
            (Some(h), Some(c)) => {
                if h.dip_since.is_none() {
                    let mut why = c
                        .broken
                        .clone()
                        .unwrap_or_else(|| format!("{} out of range", c.metric));
                    if let Some(n) = note.filter(|_| c.metric == Quantity::Score) {
                        why = format!("{why} ({n})");
                    }
                    h.dip_since = Some((t_secs, why));
                }
            }
        }
        let Some(h) = &mut self.hold else {
            return events;
        };
        if phase.counted
            && let Some(score) = values(Quantity::Score)
            && h.dip_since.is_none()
        {
            h.scores.0 += f64::from(score);
            h.scores.1 += 1;
            h.scores.2 = h.scores.2.min(score);
        }
        // A dip longer than the grace breaks the phase.
        if let Some((since, why)) = &h.dip_since
            && t_secs - since > phase.grace_secs + 1e-9
        {
            let held = h.last_good - h.start - h.paused_for;
            if phase.counted {
                let at = h.count.max(1);
                self.rejected += 1;
                events.push(Event::Rejected {
                    reason: format!("{why} at {at}"),
                    held_secs: held.max(0.0),
                });
                self.phase = 0;
                self.counted_hold = None;
                self.hold = None;
                events.push(self.prompt());
            } else {
                self.hold = None;
            }
            return events;
        }
        let held = h.last_good - h.start - h.paused_for;
        if phase.counted {
            let count =
                ((held + 1e-9).floor() as u32 + 1).min(phase.hold_secs.ceil().max(1.0) as u32);
            if count > h.count {
                h.count = count;
                events.push(Event::Count { count });
            }
        }
        if h.dip_since.is_none() && held + 1e-6 >= phase.hold_secs {
            if phase.counted {
                let (sum, n, min) = h.scores;
                self.counted_hold = Some(RepRecord {
                    hold_secs: held,
                    mean_score: (n > 0).then(|| (sum / f64::from(n)) as f32),
                    min_score: (n > 0).then_some(min),
                });
            }
            self.hold = None;
            self.phase += 1;
            if self.phase == self.def.phases.len() {
                self.phase = 0;
                let rec = self.counted_hold.take().unwrap_or(RepRecord {
                    hold_secs: held,
                    mean_score: None,
                    min_score: None,
                });
                self.reps.push(rec.clone());
                events.push(Event::Rep {
                    number: self.reps.len() as u32,
                    hold_secs: rec.hold_secs,
                    mean_score: rec.mean_score,
                    min_score: rec.min_score,
                });
            }
            events.push(self.prompt());
        }
        events
    }

    /// Feeds one analysed frame: its metric values (see [`values`]), whether a person is seen,
    /// and the judge's reason as the note.
    pub fn feed(
        &mut self,
        a: &crate::science::analysis::Analysis,
        pose: &crate::pose::Pose,
        threshold: f32,
    ) -> Vec<Event> {
        let values = values(a, pose, threshold);
        self.update(
            a.t_secs,
            a.person,
            &|q| values.get(&q).copied(),
            a.judgement.reason(),
        )
    }

    fn prompt(&self) -> Event {
        let p = self.phase();
        Event::Prompt {
            phase: p.name.clone(),
            prompt: p.prompt.clone(),
        }
    }
}

/// The values exercise conditions can use, from one frame's analysis and pose: every posture
/// metric, the score, and joint angles on the better-seen side (degrees; 180 = straight).
pub fn values(
    a: &crate::science::analysis::Analysis,
    pose: &crate::pose::Pose,
    threshold: f32,
) -> BTreeMap<Quantity, f32> {
    use crate::pose::Joint as J;
    let mut out = BTreeMap::new();
    for (metric, m) in a.metrics.all() {
        if let Some(m) = m {
            out.insert(Quantity::Posture(metric), m.value);
        }
    }
    if let Some(s) = a.judgement.score() {
        out.insert(Quantity::Score, s);
    }
    let p = |j: J| pose.visible(j, threshold).map(|k| (k.x_px, k.y_px));
    let side_score = |js: [J; 4]| js.iter().map(|&j| pose.get(j).score).sum::<f32>();
    let left = side_score([J::LeftShoulder, J::LeftHip, J::LeftKnee, J::LeftAnkle])
        >= side_score([J::RightShoulder, J::RightHip, J::RightKnee, J::RightAnkle]);
    let [sh, el, wr, hip, kn, an] = if left {
        [
            J::LeftShoulder,
            J::LeftElbow,
            J::LeftWrist,
            J::LeftHip,
            J::LeftKnee,
            J::LeftAnkle,
        ]
    } else {
        [
            J::RightShoulder,
            J::RightElbow,
            J::RightWrist,
            J::RightHip,
            J::RightKnee,
            J::RightAnkle,
        ]
    };
    for (q, [a, b, c]) in [
        (Quantity::KneeAngleDeg, [hip, kn, an]),
        (Quantity::HipAngleDeg, [sh, hip, kn]),
        (Quantity::ElbowAngleDeg, [sh, el, wr]),
        (Quantity::ShoulderAngleDeg, [hip, sh, el]),
    ] {
        if let (Some(a), Some(b), Some(c)) = (p(a), p(b), p(c))
            && let Some(v) = angle_at(a, b, c)
        {
            out.insert(q, v);
        }
    }
    if let (Some(lh), Some(rh), Some(lk), Some(rk)) = (
        p(J::LeftHip),
        p(J::RightHip),
        p(J::LeftKnee),
        p(J::RightKnee),
    ) {
        let (hm, km) = (midpoint(lh, rh), midpoint(lk, rk));
        let toward_left = (lh.0 - rh.0).signum();
        let (dx, dy) = ((km.0 - hm.0) * toward_left, (hm.1 - km.1).abs());
        if dx != 0.0 || dy != 0.0 {
            out.insert(Quantity::KneeTiltDeg, deg(dx, dy));
        }
    }
    out
}
