//! The real MoveNet models on the real photos in `tests/fixtures/`.

use posture::pose::kernels::choice::LayerChoice;
use posture::pose::kernels::ops::Kernel;
use posture::pose::{
    Engine, Joint, Keypoint, ModelSpec, OnnxEstimator, OnnxOptions, Pose, PoseEstimator,
};
use posture::source::image_file::read_image;

use crate::fixture;

fn estimate(model: ModelSpec, image: &str) -> Pose {
    estimate_with(model, Engine::Fast, image)
}

fn estimate_with(model: ModelSpec, engine: Engine, image: &str) -> Pose {
    let options = OnnxOptions {
        engine,
        ..OnnxOptions::default()
    };
    let mut est = OnnxEstimator::load(&model, &options).expect("bundled model loads");
    let img = read_image(&fixture(image)).expect("fixture decodes");
    est.estimate(img.view()).expect("inference runs").pose
}

/// The prepared graph with posture's kernels (`--engine fast`, the default), the same graph with
/// tract's own ops in their place (`--engine tract-plain`) and the original ONNX file as converted
/// (`models/`, run by tract alone) agree within 1e-4 in the network's own units (coordinates
/// normalised to the square, scores) on every photo and on video frames.
#[test]
fn fast_and_plain_engines_give_the_same_keypoints_within_1e_4_on_every_fixture() {
    use posture::source::{FrameSource, video::VideoSource};
    let photos: Vec<posture::frame::OwnedImage> = [
        "skimage_astronaut.png",
        "skimage_camera.png",
        "matplotlib_grace_hopper.jpg",
        "opencv_basketball1.png",
        "sequences/neutral_s102_side.png",
    ]
    .iter()
    .map(|f| read_image(&fixture(f)).expect("fixture decodes"))
    .collect();
    // Video frames too where ffmpeg can read them.
    let video_frames = if crate::ffmpeg_available("fast_and_plain_engines (video frames)") {
        3
    } else {
        0
    };
    let mut video = (video_frames > 0)
        .then(|| VideoSource::open(&fixture("sequences/dev_seq_side.mp4")).expect("video opens"));
    let frames: Vec<posture::frame::Frame> = (0..video_frames)
        .map(|_| {
            let mut f = posture::frame::Frame::default();
            assert!(
                video
                    .as_mut()
                    .is_some_and(|v| v.read_into(&mut f).expect("decodes")),
                "the video has 3 frames"
            );
            f
        })
        .collect();
    let mut images: Vec<posture::frame::ImageView<'_>> = photos.iter().map(|p| p.view()).collect();
    images.extend(frames.iter().map(|f| f.view().expect("a whole frame")));
    for (model, file) in [
        (ModelSpec::Lightning, "movenet_singlepose_lightning_v4.onnx"),
        (ModelSpec::Thunder, "movenet_singlepose_thunder_v4.onnx"),
    ] {
        let load = |model: &ModelSpec, engine| {
            OnnxEstimator::load(
                model,
                &OnnxOptions {
                    engine,
                    ..OnnxOptions::default()
                },
            )
            .unwrap()
        };
        let original_file = ModelSpec::Path(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(file),
        );
        // Every layer on posture's ops (by default each runs on whichever op is faster here).
        let mut fast = OnnxEstimator::load(
            &model,
            &OnnxOptions {
                layers: LayerChoice::Posture,
                ..OnnxOptions::default()
            },
        )
        .unwrap();
        assert_eq!(fast.kernels().tract_layers, 0);
        let mut plain = load(&model, Engine::TractPlain);
        let mut original = load(&original_file, Engine::Fast);
        assert_eq!(
            (fast.engine(), plain.engine()),
            (Engine::Fast, Engine::TractPlain)
        );
        for (i, img) in images.iter().enumerate() {
            fast.estimate(*img).unwrap();
            plain.estimate(*img).unwrap();
            original.estimate(*img).unwrap();
            for (other, what) in [(&plain, "tract-plain"), (&original, "the original file")] {
                for (j, (a, b)) in Joint::ALL
                    .iter()
                    .zip(fast.raw_output().iter().zip(other.raw_output()))
                {
                    for (c, (x, y)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (x - y).abs() <= 1e-4,
                            "{model} image {i} {} value {c}: fast {x} vs {what} {y}",
                            j.name()
                        );
                    }
                }
            }
        }
    }
}

/// Each kernel family this CPU runs, forced, with every layer on posture's ops and with each on
/// whichever op was faster here (the default), gives tract-plain's keypoints within 1e-4; the
/// layers are all counted, on the side they run.
#[test]
fn every_kernel_family_and_layer_choice_gives_tract_plains_keypoints() {
    let img = read_image(&fixture("skimage_astronaut.png")).expect("fixture decodes");
    let load = |options: OnnxOptions| {
        let mut est = OnnxEstimator::load(&ModelSpec::Lightning, &options).unwrap();
        est.estimate(img.view()).unwrap();
        est
    };
    let plain = load(OnnxOptions {
        engine: Engine::TractPlain,
        ..OnnxOptions::default()
    });
    assert_eq!(
        (plain.kernels().posture_layers, plain.kernels().tract_layers),
        (0, 74)
    );
    let families: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.supported()).collect();
    assert!(families.contains(&Kernel::Portable));
    for family in families {
        for layers in [LayerChoice::Posture, LayerChoice::Measured] {
            let fast = load(OnnxOptions {
                kernels: Some(family),
                layers,
                ..OnnxOptions::default()
            });
            let k = fast.kernels();
            assert_eq!(k.family, Some(family));
            assert_eq!(k.posture_layers + k.tract_layers, 74, "{k:?}");
            if layers == LayerChoice::Posture {
                assert_eq!(k.tract_layers, 0);
            }
            for (j, (a, b)) in Joint::ALL
                .iter()
                .zip(fast.raw_output().iter().zip(plain.raw_output()))
            {
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() <= 1e-4,
                        "{family:?} {layers:?} {}: {x} vs tract-plain {y}",
                        j.name()
                    );
                }
            }
        }
    }
}

#[test]
fn astronaut_keypoints_land_on_face_and_shoulders() {
    for model in [ModelSpec::Lightning, ModelSpec::Thunder] {
        let p = estimate(model.clone(), "skimage_astronaut.png");
        let k = |j| p.get(j);
        let (nose, le, re, ls, rs) = (
            k(Joint::Nose),
            k(Joint::LeftEye),
            k(Joint::RightEye),
            k(Joint::LeftShoulder),
            k(Joint::RightShoulder),
        );
        assert!(
            le.y_px < nose.y_px && re.y_px < nose.y_px,
            "{model}: eyes above the nose: {p:?}"
        );
        assert!(
            nose.y_px < (ls.y_px + rs.y_px) / 2.0,
            "{model}: nose above the shoulder line"
        );
        assert!(
            ls.score >= 0.3 && rs.score >= 0.3,
            "{model}: both shoulders seen: {ls:?} {rs:?}"
        );
        // The person faces the camera: their left shoulder is on the image's right, and the
        // shoulders sit either side of the head, well apart (the torso fills ~half the frame).
        assert!(
            ls.x_px > nose.x_px && nose.x_px > rs.x_px,
            "{model}: shoulders at the sides: {ls:?} {nose:?} {rs:?}"
        );
        assert!(
            ls.x_px - rs.x_px > 0.3 * 512.0,
            "{model}: shoulder width {}",
            ls.x_px - rs.x_px
        );
        assert!(
            le.x_px > re.x_px,
            "{model}: the left eye is on the image's right"
        );
    }
}

#[test]
fn man_leaning_over_the_tripod_has_his_head_ahead_of_his_hips() {
    for model in [ModelSpec::Lightning, ModelSpec::Thunder] {
        let p = estimate(model.clone(), "skimage_camera.png");
        let seen = |j| p.visible(j, 0.3);
        let ear = seen(Joint::RightEar)
            .or(seen(Joint::LeftEar))
            .expect("an ear is seen");
        let nose = p.get(Joint::Nose);
        let hips: Vec<Keypoint> = [Joint::LeftHip, Joint::RightHip]
            .into_iter()
            .filter_map(seen)
            .collect();
        assert!(!hips.is_empty(), "{model}: a hip is seen: {p:?}");
        let hip_x = hips.iter().map(|k| k.x_px).sum::<f32>() / hips.len() as f32;
        // He faces where his nose points (from the ear), and his head is that way of his hips.
        let facing = (nose.x_px - ear.x_px).signum();
        assert!(
            facing > 0.0,
            "{model}: he faces the image's right (nose ahead of the ear)"
        );
        let ahead = (nose.x_px - hip_x) * facing;
        assert!(ahead > 100.0, "{model}: head {ahead} px ahead of the hips");
    }
}

#[derive(serde::Deserialize)]
struct Golden {
    model_sha256: String,
    keypoints: Vec<GoldenKeypoint>,
}

#[derive(serde::Deserialize)]
struct GoldenKeypoint {
    name: String,
    x: f32,
    y: f32,
    score: f32,
}

fn golden(stem: &str) -> Golden {
    let text =
        std::fs::read_to_string(fixture(&format!("golden/{stem}.json"))).expect("golden file");
    serde_json::from_str(&text).expect("golden parses")
}

/// Keypoints match those computed independently with onnxruntime (tests/fixtures/golden/make_golden.py)
/// within 0.5 px in the original frame.
#[test]
fn keypoints_match_the_onnxruntime_golden_reference_within_half_a_pixel() {
    for (image, model, spec) in [
        ("skimage_astronaut.png", "lightning", ModelSpec::Lightning),
        ("skimage_camera.png", "lightning", ModelSpec::Lightning),
        ("skimage_astronaut.png", "thunder", ModelSpec::Thunder),
    ] {
        let stem = format!("{}.{model}", image.trim_end_matches(".png"));
        let g = golden(&stem);
        // The golden was made from the original file, which the embedded graph was prepared from.
        let original = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(format!("movenet_singlepose_{model}_v4.onnx"));
        let est = OnnxEstimator::load(&ModelSpec::Path(original.clone()), &OnnxOptions::default())
            .unwrap();
        assert_eq!(
            g.model_sha256,
            est.model_sha256(),
            "the golden was made with this model"
        );
        for (spec, engine) in [
            (ModelSpec::Path(original.clone()), Engine::Fast),
            (spec.clone(), Engine::TractPlain),
            (spec.clone(), Engine::FastFused),
            (spec.clone(), Engine::Fast),
        ] {
            let p = estimate_with(spec, engine, image);
            for (j, gk) in Joint::ALL.into_iter().zip(&g.keypoints) {
                assert_eq!(j.name(), gk.name);
                let k = p.get(j);
                let d = ((k.x_px - gk.x).powi(2) + (k.y_px - gk.y).powi(2)).sqrt();
                assert!(
                    d <= 0.5,
                    "{stem} {}: ({}, {}) vs ({}, {}): {d} px",
                    gk.name,
                    k.x_px,
                    k.y_px,
                    gk.x,
                    gk.y
                );
                assert!(
                    (k.score - gk.score).abs() < 0.01,
                    "{stem} {} score {} vs {}",
                    gk.name,
                    k.score,
                    gk.score
                );
            }
        }
    }
}

/// The letterbox fills the model input exactly (bit for bit) as the independent numpy
/// implementation of the documented formula did.
#[test]
fn letterbox_matches_the_reference_input_tensor() {
    for (image, model, size) in [
        ("skimage_astronaut.png", "lightning", 192usize),
        ("skimage_camera.png", "lightning", 192),
        ("skimage_astronaut.png", "thunder", 256),
    ] {
        let want = std::fs::read(fixture(&format!(
            "golden/{}.{model}.input.u8.raw",
            image.trim_end_matches(".png")
        )))
        .unwrap();
        let img = read_image(&fixture(image)).unwrap();
        let lb = posture::pose::Letterbox::new(img.resolution(), size as u32);
        let mut got = vec![0i32; size * size * 3];
        lb.fill_rgb_i32(img.view(), &mut got).unwrap();
        let want: Vec<i32> = want.into_iter().map(i32::from).collect();
        let n_off = got.iter().zip(&want).filter(|(g, w)| g != w).count();
        assert_eq!(
            n_off,
            0,
            "{image} {model}: {n_off} of {} values differ",
            want.len()
        );
    }
}

/// The tracking crop with the real model on the side-view render: the first frame is read whole,
/// the next ones through a crop around it (its keypoints within a few pixels of the whole frame's,
/// in frame pixels); a black frame loses the person, falls back to the whole frame at once, and
/// the run is untracked after it.
#[test]
fn the_tracking_crop_follows_a_person_and_falls_back_when_they_are_gone() {
    use posture::frame::{OwnedImage, PixelFormat};
    use posture::pose::{CropMode, TrackingEstimator, TrackingOptions};
    let est = OnnxEstimator::load(&ModelSpec::Lightning, &OnnxOptions::default())
        .expect("bundled model loads");
    let mut t = TrackingEstimator::new(
        est,
        TrackingOptions {
            mode: CropMode::Auto,
            ..TrackingOptions::default()
        },
    );
    let img = read_image(&fixture("sequences/neutral_s102_side.png")).expect("fixture decodes");
    let whole = t.estimate(img.view()).expect("inference runs").pose;
    assert_eq!(t.last_crop(), None);
    let cropped = t.estimate(img.view()).expect("inference runs").pose;
    let crop = t.last_crop().expect("the person is tracked");
    assert!(crop.inside(img.resolution()) && crop.side < img.resolution().height);
    for j in [Joint::Nose, Joint::LeftShoulder, Joint::LeftHip] {
        let (a, b) = (whole.get(j), cropped.get(j));
        let d = (a.x_px - b.x_px).hypot(a.y_px - b.y_px);
        assert!(d < 12.0, "{j:?}: whole {a:?}, cropped {b:?}");
    }
    let black = OwnedImage::new(
        img.resolution(),
        PixelFormat::Rgb8,
        vec![0; img.resolution().pixels() * 3],
    )
    .expect("sized");
    t.estimate(black.view()).expect("inference runs");
    assert_eq!(t.stats().fallbacks, 1);
    assert_eq!(t.last_crop(), None);
    t.estimate(img.view()).expect("inference runs");
    assert_eq!(t.last_crop(), None, "found again on the whole frame");
    assert_eq!(t.stats().cropped, 1);
}

/// `profile_ops` with an idle time sleeps that long before every profiled run (a profile of
/// cold runs, `bench --profile-ops --idle-ms`): two runs after 500 ms each take at least 1 s,
/// where the two inferences alone take milliseconds.
#[test]
fn profile_ops_idles_before_every_run() {
    let options = OnnxOptions {
        layers: LayerChoice::Posture,
        ..OnnxOptions::default()
    };
    let mut est = OnnxEstimator::load(&ModelSpec::Lightning, &options).unwrap();
    let img = read_image(&fixture("skimage_astronaut.png")).expect("fixture decodes");
    est.estimate(img.view()).unwrap();
    let t0 = std::time::Instant::now();
    let ops = est
        .profile_ops(2, false, std::time::Duration::from_millis(500))
        .unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_millis(1000));
    assert!(!ops.is_empty());
}
