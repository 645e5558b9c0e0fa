//! Latency percentiles and the report every scenario prints: a table for people, one JSON
//! object (`--json`) for scripts and `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Highest latency recorded as itself (10 minutes); longer ones saturate there.
const HIGHEST_MICROS: u64 = 600_000_000;

/// Latencies in microseconds with 3 significant digits. An HdrHistogram keeps memory constant
/// however many samples a long run takes (a sorted Vec of 30 M deliveries would not).
#[derive(Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self { hist: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("valid histogram bounds") }
    }
}

impl Latency {
    pub fn record(&mut self, elapsed: Duration) {
        self.record_micros(elapsed.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn record_micros(&mut self, micros: u64) {
        self.hist.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latency) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// `{count, p50_ms, p90_ms, p99_ms, max_ms, mean_ms}`; the percentiles are null when empty.
    pub fn summary(&self) -> Value {
        let ms = |micros: u64| micros as f64 / 1000.0;
        if self.hist.is_empty() {
            return json!({"count": 0, "p50_ms": null, "p90_ms": null, "p99_ms": null, "max_ms": null, "mean_ms": null});
        }
        json!({
            "count": self.hist.len(),
            "p50_ms": ms(self.hist.value_at_quantile(0.50)),
            "p90_ms": ms(self.hist.value_at_quantile(0.90)),
            "p99_ms": ms(self.hist.value_at_quantile(0.99)),
            "max_ms": ms(self.hist.max()),
            "mean_ms": self.hist.mean().round() / 1000.0,
        })
    }
}

/// One histogram shared by many tasks. Each task records into a [`LatencyBatch`] and merges
/// now and then, so thousands of subscribers neither contend on the lock nor each hold a
/// histogram of their own.
#[derive(Default)]
pub struct SharedLatency {
    inner: Mutex<Latency>,
}

impl SharedLatency {
    pub fn snapshot(&self) -> Latency {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// One sample, straight into the histogram: for a few requests a second, where a batch
    /// would only delay them.
    pub fn record(&self, elapsed: Duration) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).record(elapsed);
    }

    fn absorb(&self, samples: &[u64]) {
        let mut hist = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for &micros in samples {
            hist.record_micros(micros);
        }
    }
}

/// A task's local buffer of samples for a [`SharedLatency`]; flushed when full and on drop.
pub struct LatencyBatch<'a> {
    shared: &'a SharedLatency,
    samples: Vec<u64>,
}

const BATCH: usize = 256;

impl<'a> LatencyBatch<'a> {
    pub fn new(shared: &'a SharedLatency) -> Self {
        Self { shared, samples: Vec::with_capacity(BATCH) }
    }

    pub fn record(&mut self, elapsed: Duration) {
        self.record_micros(elapsed.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn record_micros(&mut self, micros: u64) {
        self.samples.push(micros);
        if self.samples.len() >= BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if !self.samples.is_empty() {
            self.shared.absorb(&self.samples);
            self.samples.clear();
        }
    }
}

impl Drop for LatencyBatch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Counts by a short label (error kinds, close codes), for the report.
#[derive(Debug, Default, Clone)]
pub struct Tally(BTreeMap<String, u64>);

impl Tally {
    pub fn add(&mut self, label: impl Into<String>, n: u64) {
        *self.0.entry(label.into()).or_default() += n;
    }

    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            self.add(k.clone(), *v);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn get(&self, label: &str) -> u64 {
        self.0.get(label).copied().unwrap_or(0)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    }
}

/// A scenario's result: ordered rows, the checks that failed, and notes for the reader.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    /// One line: what ran against what.
    pub title: String,
    rows: Vec<(String, Value)>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str, title: impl Into<String>) -> Self {
        Self { scenario, title: title.into(), rows: vec![], failures: vec![], notes: vec![] }
    }

    pub fn add(&mut self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.rows.push((key.to_owned(), value));
    }

    pub fn latency(&mut self, key: &str, latency: &Latency) {
        self.add(key, latency.summary());
    }

    /// A correctness counter: anything but zero fails the run.
    pub fn expect_zero(&mut self, key: &str, value: u64) {
        self.add(key, value);
        if value != 0 {
            self.failures.push(format!("{key} = {value}, expected 0"));
        }
    }

    pub fn expect(&mut self, holds: bool, failure: impl Into<String>) {
        if !holds {
            self.failures.push(failure.into());
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.rows.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A row as an integer (missing or non-integer rows panic: for tests).
    pub fn u64(&self, key: &str) -> u64 {
        self.get(key).and_then(Value::as_u64).unwrap_or_else(|| panic!("report row {key} is not an integer: {self}"))
    }

    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("scenario".into(), json!(self.scenario));
        object.insert("title".into(), json!(self.title));
        object.insert("ok".into(), json!(self.ok()));
        object.insert("failures".into(), json!(self.failures));
        object.insert("notes".into(), json!(self.notes));
        for (k, v) in &self.rows {
            object.insert(k.clone(), v.clone());
        }
        Value::Object(object)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0).max(6);
        let mut out = format!("{}: {}\n", self.scenario, self.title);
        for (key, value) in &self.rows {
            let _ = writeln!(out, "  {key:<width$}  {}", render(value));
        }
        let verdict = if self.ok() { "OK".to_owned() } else { format!("FAILED ({})", self.failures.join("; ")) };
        let _ = writeln!(out, "  {:<width$}  {verdict}", "result");
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        f.write_str(&out)
    }
}

/// One table cell: latency summaries on one line, other objects as `k=v` pairs.
fn render(value: &Value) -> String {
    match value {
        Value::Object(map) if map.contains_key("p50_ms") => {
            let get = |k: &str| map.get(k).and_then(Value::as_f64).map_or("-".to_owned(), |v| format!("{v:.3}"));
            format!(
                "p50 {} ms  p90 {} ms  p99 {} ms  max {} ms  (n={})",
                get("p50_ms"),
                get("p90_ms"),
                get("p99_ms"),
                get("max_ms"),
                map.get("count").unwrap_or(&Value::Null)
            )
        }
        Value::Object(map) if map.is_empty() => "-".to_owned(),
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", render(v))).collect::<Vec<_>>().join(", "),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Per second over `elapsed`, rounded to 0.1.
pub fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 { 0.0 } else { (count as f64 / secs * 10.0).round() / 10.0 }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_batches() {
        let shared = SharedLatency::default();
        {
            let mut batch = LatencyBatch::new(&shared);
            for ms in 1..=100u64 {
                batch.record(Duration::from_millis(ms));
            }
        }
        let summary = shared.snapshot().summary();
        assert_eq!(summary["count"], 100);
        let p50 = summary["p50_ms"].as_f64().unwrap();
        assert!((49.0..=51.0).contains(&p50), "{summary}");
        let max = summary["max_ms"].as_f64().unwrap();
        assert!((99.0..=101.0).contains(&max), "{summary}");
    }

    #[test]
    fn report_fails_on_nonzero_counters() {
        let mut report = Report::new("x", "t");
        report.expect_zero("lost", 0);
        assert!(report.ok());
        report.expect_zero("duplicated", 2);
        assert!(!report.ok());
        assert_eq!(report.to_json()["duplicated"], 2);
        assert!(report.to_string().contains("FAILED"));
    }
}
