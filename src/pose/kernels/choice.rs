//! Per-layer choice between posture's op and tract's own for the `fast` engine.
//!
//! posture's kernels are not faster than tract's everywhere: its portable loops lose to tract's
//! own SSE and NEON kernels on dense layers, and what wins on one CPU may lose on another. So while
//! a model loads, each convolution layer is timed both ways on its own shape (posture's op against
//! tract's convolution of the same layer, on the same thread, interleaved, the fastest of a few
//! rounds each) and the faster one is wired into the graph. tract's side is timed without the
//! clip and residual add that posture's op fuses, so a near tie goes to tract: the choice never
//! makes a layer slower than `tract-plain` runs it.
//!
//! The timings are kept per kernel family and layer shape, in memory for the process and on disk
//! per CPU model in `$XDG_CACHE_HOME/posture/kernels-<cpu>.json` (usually `~/.cache`; debug builds
//! use `kernels-<cpu>-debug.json`), so only the first load on a machine pays for them (a fraction of a second for Lightning). The file carries
//! [`CACHE_VERSION`], posture's version and the CPU model: a file that does not match, or does not
//! parse, is ignored and replaced. It is written to a temporary file beside it and renamed over it.
//! Delete it to measure again.
//!
//! Where a kernel family has two tile layouts for its dense layers (AVX2: output columns along
//! the vectors, or output channels along them), each dense layer is also timed with both, the
//! same way and in the same file, and packed for the faster ([`prefer_second_tile`]) before it
//! is timed against tract's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::TractResult;

use super::ops::Kernel;

/// Bumped whenever a kernel changes enough to make stored timings stale.
pub const CACHE_VERSION: u32 = 4;

/// How the `fast` engine picks, per layer, between posture's op and tract's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayerChoice {
    /// Time both on the layer's shape at load (cached per CPU model) and keep the faster.
    #[default]
    Measured,
    /// posture's op for every layer, whatever its speed (for testing and measuring the kernels).
    Posture,
}

/// What one model load chose: the kernel family and how many layers run on posture's ops and on
/// tract's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelSummary {
    /// The kernel family posture's ops run (`portable`, `avx2`, `avx512`, `neon`).
    #[serde(serialize_with = "serialize_kernel")]
    pub family: Option<Kernel>,
    /// Convolution layers run by posture's ops.
    pub posture_layers: usize,
    /// Convolution layers handed to tract's own ops (tract was faster, or the engine is
    /// `tract-plain`).
    pub tract_layers: usize,
    /// Inverted-residual blocks run as one fused op (where that measured faster, or every block
    /// with the `fast-fused` engine).
    pub fused_blocks: usize,
}

fn serialize_kernel<S: serde::Serializer>(k: &Option<Kernel>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(k.name()),
        None => s.serialize_none(),
    }
}

/// The settings of the model load in progress on this thread, and what it chose so far.
struct Loading {
    family: Kernel,
    choice: LayerChoice,
    summary: KernelSummary,
}

thread_local! {
    static LOADING: RefCell<Option<Loading>> = const { RefCell::new(None) };
}

/// Runs `load` (parsing and typing a model) with posture's ops built for `family` and placed
/// as `choice` says; returns its result and the layers it placed. New timings are saved to the
/// cache file at the end (a cache that cannot be written is only a slower next load).
pub(crate) fn while_loading<R>(
    family: Kernel,
    choice: LayerChoice,
    load: impl FnOnce() -> R,
) -> (R, KernelSummary) {
    struct Restore(Option<Loading>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            LOADING.with(|l| *l.borrow_mut() = outer);
        }
    }
    let outer = LOADING.with(|l| {
        l.borrow_mut().replace(Loading {
            family,
            choice,
            summary: KernelSummary {
                family: Some(family),
                ..KernelSummary::default()
            },
        })
    });
    let restore = Restore(outer);
    let out = load();
    let summary = LOADING
        .with(|l| l.borrow().as_ref().map(|l| l.summary))
        .unwrap_or_default();
    drop(restore);
    if choice == LayerChoice::Measured {
        let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(memo) = memo.as_mut().filter(|m| m.dirty) {
            // Best effort: the timings stay in memory for this process either way.
            if memo.file.save(&memo.path).is_ok() {
                memo.dirty = false;
            }
        }
    }
    (out, summary)
}

/// The family posture's ops are built for in the model load in progress on this thread, if any
/// (outside a load, the node's own, [`Kernel::detect`]'s).
pub(crate) fn loading_family() -> Option<Kernel> {
    LOADING.with(|l| l.borrow().as_ref().map(|l| l.family))
}

/// Counts a layer wired with tract's ops (the `tract-plain` engine's, or a measured choice).
pub(crate) fn count_tract_layer() {
    LOADING.with(|l| {
        if let Some(l) = l.borrow_mut().as_mut() {
            l.summary.tract_layers += 1;
        }
    });
}

/// Whether the layer described by `shape` (its kind and geometry, without the family) should run
/// on tract's op rather than posture's: looks its timing up, or has `measure` take it (posture's
/// op, then tract's, in microseconds). Outside a load, or with [`LayerChoice::Posture`], posture's
/// op always runs. Counts the layer either way.
///
/// # Errors
/// When `measure` fails.
pub(crate) fn prefer_tract(
    shape: &str,
    measure: impl FnOnce() -> TractResult<Timing>,
) -> TractResult<bool> {
    let tract = measured(&LAYERS, shape, measure)?.is_some_and(|t| t.tract_wins());
    LOADING.with(|l| {
        if let Some(l) = l.borrow_mut().as_mut() {
            match tract {
                true => l.summary.tract_layers += 1,
                false => l.summary.posture_layers += 1,
            }
        }
    });
    Ok(tract)
}

/// Whether the inverted-residual block described by `shape` should run as one fused op: looks
/// its timing up, or has `measure` take it (the fused op as `posture_us`, its three unfused ops
/// one after the other as `tract_us`). The block is fused only where that measured at least
/// [`FUSED_MARGIN`] faster; outside a measured load, never.
///
/// # Errors
/// When `measure` fails.
pub(crate) fn prefer_fused(
    shape: &str,
    measure: impl FnOnce() -> TractResult<Timing>,
) -> TractResult<bool> {
    Ok(measured(&BLOCKS, shape, measure)?.is_some_and(|t| t.fusing_pays()))
}

/// How much faster than its three layers a block must measure to be fused. A fused block keeps
/// its weights packed again for each band size, so it costs memory and, in a live pipeline whose
/// frames arrive to cold caches, a larger working set: on the Intel AVX-512 machine, Lightning
/// with its near ties fused (two kinds of block at 0.99 of the unfused time) took 3 MB more and
/// its 5 fps pipeline inference 5.9 -> 6.1-6.2 ms, for nothing measurable warm.
pub(crate) const FUSED_MARGIN: f64 = 0.05;

/// Whether the layer described by `shape` runs faster packed for its family's second tile
/// layout than for its first (AVX2: channels along the vectors against columns along them):
/// looks the timing up, or has `measure` take it (the first layout as `posture_us`, the second
/// as `tract_us`). Only where that measured strictly faster; outside a measured load, never.
///
/// # Errors
/// When `measure` fails.
pub(crate) fn prefer_second_tile(
    shape: &str,
    measure: impl FnOnce() -> TractResult<Timing>,
) -> TractResult<bool> {
    Ok(measured(&TILES, shape, measure)?.is_some_and(|t| t.tract_us < t.posture_us))
}

/// Counts a block put in place as one fused op.
pub(crate) fn count_fused_block() {
    LOADING.with(|l| {
        if let Some(l) = l.borrow_mut().as_mut() {
            l.summary.fused_blocks += 1;
        }
    });
}

/// Which map of the cache file a timing is kept in.
struct Table(fn(&mut CacheFile) -> &mut BTreeMap<String, Timing>);
static LAYERS: Table = Table(|f| &mut f.layers);
static BLOCKS: Table = Table(|f| &mut f.blocks);
static TILES: Table = Table(|f| &mut f.tiles);

/// The timing of `shape` for the loading family, from `table` of the cache or measured by
/// `measure` (and stored); `None` outside a load that measures.
fn measured(
    table: &Table,
    shape: &str,
    measure: impl FnOnce() -> TractResult<Timing>,
) -> TractResult<Option<Timing>> {
    let settings = LOADING.with(|l| l.borrow().as_ref().map(|l| (l.family, l.choice)));
    let Some((family, LayerChoice::Measured)) = settings else {
        return Ok(None);
    };
    let key = format!("{} {shape}", family.name());
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    let memo = memo.get_or_insert_with(Memo::load);
    if let Some(t) = (table.0)(&mut memo.file).get(&key) {
        return Ok(Some(*t));
    }
    let t = measure()?;
    (table.0)(&mut memo.file).insert(key, t);
    memo.dirty = true;
    Ok(Some(t))
}

/// Whether the load in progress on this thread measures its choices (outside a load: no).
pub(crate) fn measuring() -> bool {
    LOADING.with(|l| {
        l.borrow()
            .as_ref()
            .is_some_and(|l| l.choice == LayerChoice::Measured)
    })
}

/// One layer's time on each side, in microseconds per run (the fastest round).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// posture's op.
    pub posture_us: f64,
    /// tract's convolution of the same layer (without the clip and residual posture fuses).
    pub tract_us: f64,
}

impl Timing {
    /// For a block's timing (fused as `posture_us`, unfused as `tract_us`): whether the fused
    /// op is at least [`FUSED_MARGIN`] faster.
    fn fusing_pays(&self) -> bool {
        self.posture_us <= (1.0 - FUSED_MARGIN) * self.tract_us
    }

    /// Whether tract's op runs the layer: it is strictly faster.
    pub fn tract_wins(&self) -> bool {
        self.tract_us < self.posture_us
    }
}

/// Times `posture` and `tract` (one run of a layer each) in alternation, after one warm-up run
/// each: at least 3 and at most 15 rounds, stopping after ~40 ms once 5 rounds are done (or
/// after ~0.25 s). The fastest round of each is its time: what the layer costs when nothing else
/// interrupts it.
///
/// # Errors
/// The first error of either.
pub fn time_pair(
    mut posture: impl FnMut() -> TractResult<()>,
    mut tract: impl FnMut() -> TractResult<()>,
) -> TractResult<Timing> {
    posture()?;
    tract()?;
    let (mut best_p, mut best_t) = (Duration::MAX, Duration::MAX);
    let start = Instant::now();
    for round in 0..15 {
        let time = |f: &mut dyn FnMut() -> TractResult<()>| -> TractResult<Duration> {
            let t0 = Instant::now();
            f()?;
            Ok(t0.elapsed())
        };
        // Alternate which side runs first, so neither always finds the caches the other left.
        if round % 2 == 0 {
            best_p = best_p.min(time(&mut posture)?);
            best_t = best_t.min(time(&mut tract)?);
        } else {
            best_t = best_t.min(time(&mut tract)?);
            best_p = best_p.min(time(&mut posture)?);
        }
        let spent = start.elapsed();
        let done = round + 1;
        if (done >= 5 && spent >= Duration::from_millis(40))
            || (done >= 3 && spent >= Duration::from_millis(250))
        {
            break;
        }
    }
    Ok(Timing {
        posture_us: best_p.as_secs_f64() * 1e6,
        tract_us: best_t.as_secs_f64() * 1e6,
    })
}

/// `n` reproducible values in [-2, 2) (xorshift from a fixed seed): a calibration's input.
pub(crate) fn sample_values(n: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect()
}

/// The process's timings, loaded from the cache file on first use.
struct Memo {
    path: PathBuf,
    file: CacheFile,
    // Timings measured since the file was last written.
    dirty: bool,
}

impl Memo {
    fn load() -> Self {
        let cpu = cpu_model();
        let path = cache_path(&cpu);
        Memo {
            file: CacheFile::load(&path, &cpu),
            path,
            dirty: false,
        }
    }
}

static MEMO: Mutex<Option<Memo>> = Mutex::new(None);

/// The cache file's contents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheFile {
    /// [`CACHE_VERSION`] when written.
    pub version: u32,
    /// posture's version when written.
    pub posture: String,
    /// The CPU model the timings were taken on.
    pub cpu: String,
    /// Per `"<family> <layer shape>"`, the layer's timing.
    pub layers: BTreeMap<String, Timing>,
    /// Per `"<family> <block shape>"`, an inverted-residual block's timing: `posture_us` fused,
    /// `tract_us` as its three unfused ops (see [`super::fusion`]).
    #[serde(default)]
    pub blocks: BTreeMap<String, Timing>,
    /// Per `"<family> <layer shape>"`, a dense layer's time with each of its family's two tile
    /// layouts, where it has two: `posture_us` the first (AVX2: columns along the vectors),
    /// `tract_us` the second (AVX2: output channels along the vectors).
    #[serde(default)]
    pub tiles: BTreeMap<String, Timing>,
}

impl CacheFile {
    /// No timings, for `cpu`, at this version.
    pub fn empty(cpu: &str) -> Self {
        Self {
            version: CACHE_VERSION,
            posture: env!("CARGO_PKG_VERSION").to_owned(),
            cpu: cpu.to_owned(),
            layers: BTreeMap::new(),
            blocks: BTreeMap::new(),
            tiles: BTreeMap::new(),
        }
    }

    /// The timings stored at `path` for `cpu`, or none when the file is missing, does not
    /// parse, or was written by another version or for another CPU.
    pub fn load(path: &Path, cpu: &str) -> Self {
        let empty = Self::empty(cpu);
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|f| {
                (f.version, &f.posture, &f.cpu) == (empty.version, &empty.posture, &empty.cpu)
            })
            .filter(|f| {
                f.layers
                    .values()
                    .chain(f.blocks.values())
                    .chain(f.tiles.values())
                    .all(|t| t.posture_us.is_finite() && t.tract_us.is_finite())
            })
            .unwrap_or(empty)
    }

    /// Writes the file to `path` (its folder created if needed) through a temporary file beside
    /// it, renamed over it: a reader never sees half a file.
    ///
    /// # Errors
    /// When the folder or file cannot be written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        std::io::Write::write_all(&mut tmp, b"\n")?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// This CPU's model as `/proc/cpuinfo` names it (`model name` on x86; implementer and part on
/// ARM), prefixed with the architecture; `<arch>-unknown` where it says nothing.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let model = field("model name").or_else(|| {
        let part = field("CPU part")?;
        Some(match field("CPU implementer") {
            Some(imp) => format!("{imp} {part}"),
            None => part,
        })
    });
    format!(
        "{} {}",
        std::env::consts::ARCH,
        model.as_deref().unwrap_or("unknown")
    )
}

/// `$XDG_CACHE_HOME/posture/kernels-<cpu>.json` (the user's cache folder; the working folder if
/// there is none), `<cpu>` being `cpu` in lower case with every run of other characters than
/// letters, digits and `_` as one `-`; `kernels-<cpu>-debug.json` for a debug build.
pub fn cache_path(cpu: &str) -> PathBuf {
    let mut slug = String::new();
    for ch in cpu.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    // Debug builds (posture at opt-level 2, with overflow checks) keep their own timings.
    let build = if cfg!(debug_assertions) { "-debug" } else { "" };
    dirs::cache_dir()
        .unwrap_or_default()
        .join("posture")
        .join(format!("kernels-{slug}{build}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(p: f64, t: f64) -> Timing {
        Timing {
            posture_us: p,
            tract_us: t,
        }
    }

    #[test]
    fn the_cache_file_round_trips_and_a_stale_or_corrupt_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kernels-x.json");
        let mut file = CacheFile::empty("x86_64 Some CPU");
        file.layers
            .insert("avx2 dense c16 96x96".into(), timing(10.0, 20.0));
        file.tiles
            .insert("avx2 dense c960 6x6".into(), timing(30.0, 20.0));
        file.save(&path).unwrap();
        assert_eq!(CacheFile::load(&path, "x86_64 Some CPU"), file);
        // Nothing but the file is left in its folder (the temporary file was renamed).
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kernels-x.json")]);
        // Another CPU's, another version's, a corrupt and a missing file: no timings.
        assert!(CacheFile::load(&path, "x86_64 Other CPU").layers.is_empty());
        let mut old = file.clone();
        old.version = CACHE_VERSION + 1;
        old.save(&path).unwrap();
        assert!(CacheFile::load(&path, "x86_64 Some CPU").layers.is_empty());
        std::fs::write(&path, b"{\"version\": 1, \"layers\": {").unwrap();
        let reread = CacheFile::load(&path, "x86_64 Some CPU");
        assert_eq!(reread, CacheFile::empty("x86_64 Some CPU"));
        // ... which is then replaced whole.
        file.save(&path).unwrap();
        assert_eq!(CacheFile::load(&path, "x86_64 Some CPU"), file);
        assert!(
            CacheFile::load(&dir.path().join("none.json"), "x")
                .layers
                .is_empty()
        );
    }

    #[test]
    fn the_cache_path_names_the_cpu_in_a_file_name() {
        let p = cache_path("x86_64 AMD EPYC 7B13 64-Core Processor");
        let build = if cfg!(debug_assertions) { "-debug" } else { "" };
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            format!("kernels-x86_64-amd-epyc-7b13-64-core-processor{build}.json")
        );
        assert_eq!(p.parent().unwrap().file_name().unwrap(), "posture");
        assert!(cpu_model().starts_with(std::env::consts::ARCH));
    }

    #[test]
    fn the_faster_side_wins_and_a_tie_goes_to_posture() {
        assert!(timing(20.0, 10.0).tract_wins());
        assert!(!timing(10.0, 20.0).tract_wins());
        assert!(!timing(10.0, 10.0).tract_wins());
    }

    #[test]
    fn time_pair_keeps_each_sides_fastest_round() {
        // One side sleeps 3 ms a run, the other does nothing: whatever the machine's load, the
        // sleeping side's fastest round is at least 3 ms and the other's far below.
        let (mut p_runs, mut t_runs) = (0, 0);
        let t = time_pair(
            || {
                p_runs += 1;
                std::thread::sleep(Duration::from_millis(3));
                Ok(())
            },
            || {
                t_runs += 1;
                Ok(())
            },
        )
        .unwrap();
        assert!(t.posture_us >= 3000.0, "{t:?}");
        assert!(t.tract_wins(), "{t:?}");
        assert_eq!(p_runs, t_runs);
        assert!((4..=16).contains(&p_runs), "{p_runs} runs");
        // An error stops it.
        assert!(time_pair(|| Ok(()), || Err(anyhow::anyhow!("no"))).is_err());
    }

    #[test]
    fn a_block_is_fused_only_when_clearly_faster() {
        let t = |posture_us, tract_us| Timing {
            posture_us,
            tract_us,
        };
        assert!(t(90.0, 100.0).fusing_pays());
        assert!(t(95.0, 100.0).fusing_pays());
        assert!(!t(96.0, 100.0).fusing_pays(), "a near tie stays unfused");
        assert!(!t(100.0, 100.0).fusing_pays());
        assert!(!t(120.0, 100.0).fusing_pays());
    }

    #[test]
    fn outside_a_load_posture_runs_every_layer_without_measuring() {
        let measured = prefer_tract("dense test", || panic!("not measured")).unwrap();
        assert!(!measured);
        assert_eq!(loading_family(), None);
        let ((), summary) = while_loading(Kernel::Portable, LayerChoice::Posture, || {
            assert_eq!(loading_family(), Some(Kernel::Portable));
            assert!(!prefer_tract("dense test", || panic!("not measured")).unwrap());
            assert!(!prefer_fused("block test", || panic!("not measured")).unwrap());
            assert!(!prefer_second_tile("dense test", || panic!("not measured")).unwrap());
            assert!(!measuring());
            count_tract_layer();
            count_fused_block();
        });
        assert_eq!(
            summary,
            KernelSummary {
                family: Some(Kernel::Portable),
                posture_layers: 1,
                tract_layers: 1,
                fused_blocks: 1,
            }
        );
        assert_eq!(loading_family(), None);
    }
}
