//! Desk mode: posture as a program that runs all day in the background (`posture desk`).
//!
//! The pure parts take time with their data and are tested without a camera or a bus:
//! [`rate`] decides how often to sample (slow while posture is steady and good, fast on
//! change), [`episode`] maps alert episodes to desktop notifications (one per episode, replaced
//! while it lasts, withdrawn on recovery), [`pause`] reads pause requests. [`control`] holds the
//! shared pause/quit state and the control socket, and [`runner`] runs the one run loop in
//! segments: a pause ends the segment and closes the source, a resume opens it again.

pub mod autostart;
pub mod breaks;
pub mod config;
pub mod control;
pub mod cpu;
pub mod episode;
pub mod locked;
pub mod pause;
pub mod rate;
pub mod runner;
pub mod scripted;
