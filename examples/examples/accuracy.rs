//! Accuracy of a model's outputs against labels, and agreement with a reference framework's
//! outputs: `accuracy Y.npy LABELS.npy [REFERENCE.npy]`.

use std::path::Path;
use std::process::ExitCode;

use snnc_compiler::npy::{read, Array};

fn argmax(a: &Array) -> Vec<usize> {
    let k = a.shape[1..].iter().product::<usize>().max(1);
    a.data
        .chunks(k)
        .map(|r| (0..r.len()).fold(0, |b, i| if r[i] > r[b] { i } else { b }))
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: accuracy Y.npy LABELS.npy [REFERENCE.npy]");
        return ExitCode::from(2);
    }
    let load = |p: &str| read(Path::new(p));
    let (y, labels) = match (load(&args[0]), load(&args[1])) {
        (Ok(y), Ok(l)) => (y, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let pred = argmax(&y);
    let hits = pred
        .iter()
        .zip(&labels.data)
        .filter(|(p, l)| **p as f32 == **l)
        .count();
    println!(
        "accuracy: {hits}/{} = {:.2}%",
        pred.len(),
        100.0 * hits as f64 / pred.len().max(1) as f64
    );
    if let Some(r) = args.get(2) {
        match load(r) {
            Ok(r) if r.shape == y.shape => {
                let max = y
                    .data
                    .iter()
                    .zip(&r.data)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                let rows = y.data.len() / y.shape[0].max(1);
                let equal = y
                    .data
                    .chunks(rows)
                    .zip(r.data.chunks(rows))
                    .filter(|(a, b)| a == b)
                    .count();
                let same = pred
                    .iter()
                    .zip(argmax(&r))
                    .filter(|(a, b)| **a == *b)
                    .count();
                println!(
                    "vs reference: max |diff| = {max:.3e}, identical rows {equal}/{n}, same prediction {same}/{n}",
                    n = pred.len()
                );
            }
            Ok(r) => println!("reference shape {:?} differs from {:?}", r.shape, y.shape),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    ExitCode::SUCCESS
}
