//! Session files: round trip, crash safety, corrupt lines, versions, a full disk.

use std::time::Duration;

use posture::format::live::PostureRecord;
use posture::format::session::{
    EventLine, FrameLine, Header, Line, Session, SessionWriter, Summary,
};
use posture::science::judge::Band;

fn frame(i: u64, band: Option<Band>) -> FrameLine {
    FrameLine {
        t_secs: i as f64 / 10.0,
        seq: i,
        keypoints: vec![[i as f32, 2.0, 0.5]; 17],
        height_px: Some(480),
        posture: PostureRecord {
            person: band.is_some(),
            away: false,
            view: None,
            stance: None,
            score: band.map(|b| if b == Band::Poor { 10.0 } else { 90.0 }),
            band,
            reason: None,
            metrics: Default::default(),
        },
    }
}

fn header() -> Header {
    Header::new("lightning", "abc", None, "test source", None)
}

#[test]
fn a_session_round_trips_and_its_summary_is_computed_from_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let w = SessionWriter::create(&path, &header()).unwrap();
    // 2 s good, 3 s poor, 1 s good, at 10 fps.
    let bands: Vec<Option<Band>> = (0..61)
        .map(|i| {
            if (20..50).contains(&i) {
                Some(Band::Poor)
            } else {
                Some(Band::Good)
            }
        })
        .collect();
    let frames: Vec<FrameLine> = bands
        .iter()
        .enumerate()
        .map(|(i, b)| frame(i as u64, *b))
        .collect();
    let events = vec![EventLine {
        t_secs: 3.0,
        event: posture::event::Event::Alert {
            level: 1,
            reason: "trunk".into(),
            bad_for_secs: 10.0,
        },
    }];
    for f in &frames {
        w.write(&Line::Frame(f.clone()));
    }
    w.write(&Line::Event(events[0].clone()));
    let summary = Summary::of(&frames, &events);
    w.finish(&summary);
    let s = Session::load(&path).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.frames, frames);
    assert_eq!(s.events, events);
    assert_eq!(s.summary, summary);
    assert!(!s.summary.recomputed);
    assert!(
        (s.summary.poor_secs - 3.0).abs() < 1e-6 && (s.summary.good_secs - 3.0).abs() < 1e-6,
        "{:?}",
        s.summary
    );
    assert!((s.summary.longest_poor_secs - 3.0).abs() < 1e-6);
    assert_eq!(s.summary.alerts, 1);
}

#[test]
fn a_writer_killed_mid_session_loses_at_most_a_second_and_the_summary_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.jsonl");
    let w = SessionWriter::create(&path, &header()).unwrap();
    for i in 0..50 {
        w.write(&Line::Frame(frame(i, Some(Band::Good))));
    }
    // No flush and no finish: like a process killed now, except that the writer gets the second
    // it promises; a copy of the file taken then is what a crash would leave.
    std::thread::sleep(Duration::from_millis(1300));
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&path, &copy).unwrap();
    std::mem::forget(w);
    let s = Session::load(&copy).unwrap();
    assert_eq!(
        s.frames.len(),
        50,
        "all written more than a second ago are on disk"
    );
    assert!(s.summary.recomputed);
    assert_eq!(s.summary.frames, 50);
}

#[test]
fn a_file_cut_mid_line_still_loads_with_a_warning_for_the_cut_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.jsonl");
    let w = SessionWriter::create(&path, &header()).unwrap();
    for i in 0..20 {
        w.write(&Line::Frame(frame(i, Some(Band::Fair))));
    }
    w.flush();
    drop(w);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    let s = Session::load(&path).unwrap();
    assert_eq!(s.frames.len(), 19);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].contains("line 21"), "{:?}", s.warnings);
    assert!(s.summary.recomputed);
}

#[test]
fn a_corrupt_line_in_the_middle_is_skipped_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.jsonl");
    let w = SessionWriter::create(&path, &header()).unwrap();
    for i in 0..10 {
        w.write(&Line::Frame(frame(i, None)));
    }
    w.finish(&Summary::default());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[5] = "{\"kind\": \"frame\", garbage";
    std::fs::write(&path, lines.join("\n")).unwrap();
    let s = Session::load(&path).unwrap();
    assert_eq!(s.frames.len(), 9);
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0].contains("line 6") && s.warnings[0].contains("corrupt.jsonl"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn a_file_of_another_version_or_format_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("v2.jsonl");
    std::fs::write(
        &v2,
        "{\"kind\":\"header\",\"format\":\"posture.session\",\"version\":2}\n",
    )
    .unwrap();
    let e = Session::load(&v2).unwrap_err().to_string();
    assert!(e.contains("v2.jsonl") && e.contains("version 2"), "{e}");
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello\n").unwrap();
    let e = Session::load(&other).unwrap_err().to_string();
    assert!(
        e.contains("notes.txt") && e.contains("not a posture session"),
        "{e}"
    );
}

#[test]
fn a_full_disk_is_an_error_naming_the_file() {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        return; // Not Linux: nothing to simulate a full disk with.
    }
    let e = SessionWriter::create(full, &header())
        .err()
        .expect("writing to a full disk fails")
        .to_string();
    assert!(e.contains("/dev/full"), "{e}");
}
