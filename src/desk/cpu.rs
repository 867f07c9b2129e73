//! The process's CPU time (user + system, all threads) from `getrusage`, for
//! `posture bench --desk`'s "percent of one core".

use std::time::Duration;

/// CPU time this process has used so far (user + system, every thread); `None` where
/// `getrusage` is not available.
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is a valid, writable `rusage`; getrusage fills it and reports failure
        // through its return value, which is checked before the value is read.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: getrusage succeeded, so the struct is initialised (it was zeroed besides).
        let usage = unsafe { usage.assume_init() };
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        Some(tv(usage.ru_utime) + tv(usage.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// CPU time (user + system) of each of this process's live threads, by thread name, summed over
/// threads of the same name; from `/proc/self/task` (Linux). `None` where that is not readable.
pub fn thread_cpu_times() -> Option<Vec<(String, Duration)>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions; it returns -1 (checked) when the value is unknown.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks <= 0 {
            return None;
        }
        let mut by_name: Vec<(String, Duration)> = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue; // the thread ended meanwhile
            };
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
            // After the name: state, then fields 4..; utime and stime are fields 14 and 15.
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            let (Some(user), Some(system)) = (tick(11), tick(12)) else {
                continue;
            };
            let cpu = Duration::from_secs_f64((user + system) as f64 / ticks as f64);
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, d)) => *d += cpu,
                None => by_name.push((name, cpu)),
            }
        }
        by_name.sort_by_key(|b| std::cmp::Reverse(b.1));
        Some(by_name)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// CPU time over wall time, as a percentage of one core.
pub fn percent_of_one_core(cpu: Duration, wall: Duration) -> f64 {
    100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work_and_reads_as_a_percentage() {
        let before = process_cpu_time().unwrap();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(process_cpu_time().unwrap() > before);
        assert_eq!(
            percent_of_one_core(Duration::from_millis(30), Duration::from_secs(1)),
            3.0
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_busy_named_thread_shows_in_the_per_thread_cpu_times() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("cpu-test-busy".into())
            .spawn(move || {
                let mut x = 0u64;
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_millis(300) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                std::hint::black_box(x);
                tx.send(()).unwrap();
                // Stay alive until measured.
                done_rx.recv().unwrap();
            })
            .unwrap();
        rx.recv().unwrap();
        let times = thread_cpu_times().unwrap();
        done_tx.send(()).unwrap();
        t.join().unwrap();
        let busy = times.iter().find(|(n, _)| n == "cpu-test-busy").unwrap().1;
        // 300 ms of spinning, counted in 10 ms ticks (allow for a preempted spin).
        assert!(busy >= Duration::from_millis(100), "{times:?}");
    }
}
