//! Raw V4L2 bindings: the kernel's `linux/videodev2.h` as Rust, generated once by bindgen
//! 0.65.1 exactly as v4l2-sys-mit 0.3.0's build script does (see README.md), one file per target
//! architecture.
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
include!("bindings_x86_64.rs");

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
include!("bindings_aarch64.rs");

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!(
    "vendor/v4l2-sys-mit has pre-generated V4L2 bindings for x86_64 and aarch64 Linux only: \
     generate them for this target with vendor/v4l2-sys-mit/regenerate.sh (needs libclang), \
     or build posture without camera support: --no-default-features --features window"
);
