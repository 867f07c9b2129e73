#!/usr/bin/env bash
# Regenerates src/bindings_<arch>.rs from the kernel's linux/videodev2.h with bindgen 0.65.1 and
# its default settings, the way v4l2-sys-mit 0.3.0's build.rs generated them at every build.
# Needs libclang (Debian: libclang-dev) and the kernel headers of each target (Debian:
# linux-libc-dev for the host; linux-libc-dev-arm64-cross and libc6-dev-arm64-cross for aarch64).
#   vendor/v4l2-sys-mit/regenerate.sh            # x86_64 and aarch64
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
mkdir -p "$gen/src"
cat > "$gen/Cargo.toml" <<'TOML'
[package]
name = "v4l2gen"
version = "0.1.0"
edition = "2021"
[dependencies]
bindgen = "=0.65.1"
TOML
cat > "$gen/src/main.rs" <<'RS'
// v4l2-sys-mit's build.rs, with the output file and clang's arguments from the command line.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, clang_args) = args.split_first().expect("usage: v4l2gen OUT [CLANG_ARGS...]");
    bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(clang_args)
        .generate()
        .expect("bindgen could not generate the bindings")
        .write_to_file(out)
        .expect("cannot write the bindings");
}
RS
cargo build --release --quiet --manifest-path "$gen/Cargo.toml" --target-dir "$gen/target"
cd "$here"
"$gen/target/release/v4l2gen" src/bindings_x86_64.rs --target=x86_64-linux-gnu
"$gen/target/release/v4l2gen" src/bindings_aarch64.rs --target=aarch64-linux-gnu \
  -nostdinc -isystem /usr/aarch64-linux-gnu/include \
  -isystem "$(clang_dir=$(ls -d /usr/lib/llvm-*/lib/clang/*/include | tail -1); echo "$clang_dir")"
echo "wrote $here/src/bindings_x86_64.rs and $here/src/bindings_aarch64.rs"
