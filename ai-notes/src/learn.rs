//! Small linear models over sparse features: a feature vocabulary, TF-IDF weighting, ridge
//! regression (conjugate gradients on the normal equations) and multinomial logistic regression
//! (AdaGrad). Enough for sentence scoring and section classification, with no dependency.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A sparse vector: (feature index, value), indices unique.
pub type Sparse = Vec<(u32, f32)>;

/// Maps feature names to indices. Frozen after training: unknown names are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Vocabulary {
    index: HashMap<String, u32>,
}

impl Vocabulary {
    /// Builds a vocabulary of the names that occur in at least `min_docs` of `docs`.
    pub fn build<'a>(docs: impl IntoIterator<Item = &'a [(String, f32)]>, min_docs: usize) -> Self {
        let mut df: HashMap<&str, usize> = HashMap::new();
        for d in docs {
            let mut seen: Vec<&str> = d.iter().map(|(n, _)| n.as_str()).collect();
            seen.sort_unstable();
            seen.dedup();
            for n in seen {
                *df.entry(n).or_insert(0) += 1;
            }
        }
        let mut names: Vec<&str> =
            df.into_iter().filter(|&(_, c)| c >= min_docs).map(|(n, _)| n).collect();
        names.sort_unstable();
        Self {
            index: names.into_iter().enumerate().map(|(i, n)| (n.to_string(), i as u32)).collect(),
        }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no features.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Named values to a sparse vector (summing repeated names, dropping unknown ones).
    pub fn vectorize(&self, named: &[(String, f32)]) -> Sparse {
        let mut m: HashMap<u32, f32> = HashMap::new();
        for (n, v) in named {
            if let Some(&i) = self.index.get(n) {
                *m.entry(i).or_insert(0.0) += v;
            }
        }
        let mut out: Sparse = m.into_iter().collect();
        out.sort_unstable_by_key(|&(i, _)| i);
        out
    }
}

/// Sublinear TF-IDF with L2 normalisation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tfidf {
    idf: Vec<f32>,
}

impl Tfidf {
    /// Fits smoothed IDF (ln((1+n)/(1+df)) + 1) on count vectors.
    pub fn fit(docs: &[Sparse], n_features: usize) -> Self {
        let mut df = vec![0usize; n_features];
        for d in docs {
            for &(i, _) in d {
                df[i as usize] += 1;
            }
        }
        let n = docs.len() as f32;
        Self { idf: df.into_iter().map(|c| ((1.0 + n) / (1.0 + c as f32)).ln() + 1.0).collect() }
    }

    /// Weights a count vector.
    pub fn transform(&self, counts: &Sparse) -> Sparse {
        let mut out: Sparse = counts
            .iter()
            .filter(|&&(_, c)| c > 0.0)
            .map(|&(i, c)| (i, (1.0 + c.ln()) * self.idf.get(i as usize).copied().unwrap_or(1.0)))
            .collect();
        let norm = out.iter().map(|&(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, v) in &mut out {
                *v /= norm;
            }
        }
        out
    }
}

fn dot(w: &[f32], x: &Sparse) -> f32 {
    x.iter().map(|&(i, v)| w.get(i as usize).copied().unwrap_or(0.0) * v).sum()
}

/// Ridge regression: minimises Σ(y − w·x − b)² + α‖w‖².
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ridge {
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl Ridge {
    /// Fits by conjugate gradients on the normal equations, with an unpenalised intercept.
    pub fn fit(x: &[Sparse], y: &[f32], n_features: usize, alpha: f32, iterations: usize) -> Self {
        // The intercept is coordinate `n_features` of the solution, a constant-1 feature that
        // the penalty leaves alone.
        let n = n_features + 1;
        let apply = |w: &[f32]| -> Vec<f32> {
            let mut out: Vec<f32> = w.iter().map(|v| alpha * v).collect();
            out[n_features] = 0.0;
            for row in x {
                let s = dot(w, row) + w[n_features];
                for &(i, v) in row {
                    out[i as usize] += s * v;
                }
                out[n_features] += s;
            }
            out
        };
        let mut b = vec![0f32; n];
        for (row, t) in x.iter().zip(y) {
            for &(i, v) in row {
                b[i as usize] += t * v;
            }
            b[n_features] += t;
        }
        let mut w = vec![0f32; n];
        let mut r = b;
        let mut p = r.clone();
        let mut rs: f64 = r.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
        for _ in 0..iterations {
            if rs < 1e-12 {
                break;
            }
            let ap = apply(&p);
            let pap: f64 = p.iter().zip(&ap).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            if pap <= 0.0 {
                break;
            }
            let step = (rs / pap) as f32;
            for i in 0..n {
                w[i] += step * p[i];
                r[i] -= step * ap[i];
            }
            let rs_new: f64 = r.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
            let beta = (rs_new / rs) as f32;
            for i in 0..n {
                p[i] = r[i] + beta * p[i];
            }
            rs = rs_new;
        }
        let bias = w.pop().unwrap_or(0.0);
        Self { weights: w, bias }
    }

    /// Predicted value.
    pub fn predict(&self, x: &Sparse) -> f32 {
        self.bias + dot(&self.weights, x)
    }
}

/// Multinomial logistic regression.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Softmax {
    pub classes: Vec<String>,
    n_features: usize,
    /// classes × features, row-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// Training settings of [`Softmax`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftmaxOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty per example.
    pub l2: f32,
    /// Weight examples inversely to their class frequency.
    pub balanced: bool,
    /// Seed of the deterministic example order.
    pub seed: u64,
}

impl Default for SoftmaxOptions {
    fn default() -> Self {
        Self { epochs: 40, learning_rate: 0.5, l2: 1e-5, balanced: true, seed: 7 }
    }
}

impl Softmax {
    /// Trains on (features, label) pairs with AdaGrad.
    pub fn fit(x: &[Sparse], labels: &[String], n_features: usize, o: SoftmaxOptions) -> Self {
        let mut classes: Vec<String> = labels.to_vec();
        classes.sort();
        classes.dedup();
        let k = classes.len();
        let y: Vec<usize> = labels.iter().map(|l| classes.binary_search(l).unwrap_or(0)).collect();
        let mut counts = vec![0usize; k];
        for &c in &y {
            counts[c] += 1;
        }
        let sample_weight: Vec<f32> = y
            .iter()
            .map(|&c| {
                if o.balanced { x.len() as f32 / (k as f32 * counts[c].max(1) as f32) } else { 1.0 }
            })
            .collect();
        let mut m =
            Self { classes, n_features, weights: vec![0.0; k * n_features], bias: vec![0.0; k] };
        let mut g2w = vec![1e-8f32; k * n_features];
        let mut g2b = vec![1e-8f32; k];
        let mut order: Vec<usize> = (0..x.len()).collect();
        let mut state = o.seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        for _ in 0..o.epochs {
            // Fisher–Yates with a small LCG: deterministic, no dependency.
            for i in (1..order.len()).rev() {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let j = (state >> 33) as usize % (i + 1);
                order.swap(i, j);
            }
            for &n in &order {
                let p = m.probabilities(&x[n]);
                for c in 0..k {
                    let g = (p[c] - if c == y[n] { 1.0 } else { 0.0 }) * sample_weight[n];
                    let row = c * n_features;
                    for &(i, v) in &x[n] {
                        let idx = row + i as usize;
                        let grad = g * v + o.l2 * m.weights[idx];
                        g2w[idx] += grad * grad;
                        m.weights[idx] -= o.learning_rate * grad / g2w[idx].sqrt();
                    }
                    g2b[c] += g * g;
                    m.bias[c] -= o.learning_rate * g / g2b[c].sqrt();
                }
            }
        }
        m
    }

    /// Class probabilities, in `classes` order.
    pub fn probabilities(&self, x: &Sparse) -> Vec<f32> {
        let k = self.classes.len();
        let logits: Vec<f32> = (0..k)
            .map(|c| {
                self.bias[c] + dot(&self.weights[c * self.n_features..(c + 1) * self.n_features], x)
            })
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }

    /// The most probable class.
    pub fn predict(&self, x: &Sparse) -> &str {
        let p = self.probabilities(x);
        let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        self.classes.get(best).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(words: &[&str]) -> Vec<(String, f32)> {
        words.iter().map(|w| (w.to_string(), 1.0)).collect()
    }

    #[test]
    fn ridge_recovers_a_linear_function() {
        // y = 2·a − 1·b + 0.5
        let x: Vec<Sparse> =
            vec![vec![(0, 1.0)], vec![(1, 1.0)], vec![(0, 1.0), (1, 1.0)], vec![], vec![(0, 2.0)]];
        let y: Vec<f32> = x
            .iter()
            .map(|r| 0.5 + r.iter().map(|&(i, v)| if i == 0 { 2.0 * v } else { -v }).sum::<f32>())
            .collect();
        let m = Ridge::fit(&x, &y, 2, 1e-4, 50);
        for (r, t) in x.iter().zip(&y) {
            assert!((m.predict(r) - t).abs() < 1e-3, "{} vs {t}", m.predict(r));
        }
        assert!(
            (m.bias - 0.5).abs() < 1e-3
                && (m.weights[0] - 2.0).abs() < 1e-3
                && (m.weights[1] + 1.0).abs() < 1e-3
        );
        // A strong penalty shrinks the weights but not the intercept.
        let shrunk = Ridge::fit(&x, &y, 2, 100.0, 50);
        assert!(
            shrunk.weights[0].abs() < 0.5
                && (shrunk.bias - y.iter().sum::<f32>() / 5.0).abs() < 0.5
        );
    }

    #[test]
    fn softmax_separates_keyword_classes() {
        let docs = [
            (named(&["allergic", "penicillin"]), "ALLERGY"),
            (named(&["allergies", "none"]), "ALLERGY"),
            (named(&["smoke", "alcohol"]), "SOCIAL"),
            (named(&["smoke", "married"]), "SOCIAL"),
            (named(&["x-ray", "fracture"]), "IMAGING"),
        ];
        let vocab = Vocabulary::build(docs.iter().map(|(d, _)| d.as_slice()), 1);
        let x: Vec<Sparse> = docs.iter().map(|(d, _)| vocab.vectorize(d)).collect();
        let labels: Vec<String> = docs.iter().map(|(_, l)| l.to_string()).collect();
        let m = Softmax::fit(&x, &labels, vocab.len(), SoftmaxOptions::default());
        assert_eq!(m.predict(&vocab.vectorize(&named(&["penicillin"]))), "ALLERGY");
        assert_eq!(m.predict(&vocab.vectorize(&named(&["alcohol", "unknown"]))), "SOCIAL");
        let p = m.probabilities(&vocab.vectorize(&named(&["fracture"])));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn tfidf_is_normalised_and_vocab_drops_rare_names() {
        let docs = [named(&["a", "b"]), named(&["a", "c"]), named(&["a"])];
        let vocab = Vocabulary::build(docs.iter().map(|d| d.as_slice()), 2);
        assert_eq!(vocab.len(), 1);
        let counts: Vec<Sparse> = docs.iter().map(|d| vocab.vectorize(d)).collect();
        let t = Tfidf::fit(&counts, vocab.len());
        let v = t.transform(&counts[0]);
        assert!((v.iter().map(|(_, x)| x * x).sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
