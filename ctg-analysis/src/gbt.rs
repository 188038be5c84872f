//! Small gradient-boosted decision trees (binary logistic loss): inference for the embedded
//! false-signal model and the trainer that produced it (`ctg-analyze train false-signal`).
//!
//! Training is the classic histogram method: each feature is cut into at most 64 quantile
//! bins, trees grow level by level to a fixed depth, each split maximising the second-order
//! gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`, leaves take `−G/(H+λ)` times the learning
//! rate. Everything is deterministic: same data, same parameters, same model.

use serde::{Deserialize, Serialize};

/// A node of a tree: a split (`feature >= 0`: go right when `x[feature] > threshold`, else left,
/// NaN included) or a leaf (`feature < 0`, `value` added to the margin).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub feature: i32,
    pub threshold: f32,
    pub left: u32,
    pub right: u32,
    pub value: f32,
}

/// One tree, root at index 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// A boosted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Feature names, in input order (checked against the code that computes them).
    pub features: Vec<String>,
    /// Initial margin (log-odds).
    pub base: f32,
    pub trees: Vec<Tree>,
}

/// Why a model cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("model has {found} features, the code computes {expected}")]
    FeatureCount { expected: usize, found: usize },
    #[error("model feature {index} is {found:?}, the code computes {expected:?}")]
    FeatureName { index: usize, expected: String, found: String },
    #[error("tree {tree}: node {node} points outside the tree or at a missing feature")]
    BadNode { tree: usize, node: usize },
}

impl Model {
    /// Checks the feature list and every node index, so that prediction never goes out of bounds.
    pub fn validate(&self, expected: &[&str]) -> Result<(), ModelError> {
        if self.features.len() != expected.len() {
            return Err(ModelError::FeatureCount {
                expected: expected.len(),
                found: self.features.len(),
            });
        }
        for (index, (f, e)) in self.features.iter().zip(expected).enumerate() {
            if f != e {
                return Err(ModelError::FeatureName {
                    index,
                    expected: (*e).to_owned(),
                    found: f.clone(),
                });
            }
        }
        for (t, tree) in self.trees.iter().enumerate() {
            for (k, n) in tree.nodes.iter().enumerate() {
                let bad = if n.feature >= 0 {
                    n.feature as usize >= self.features.len()
                        || n.left as usize >= tree.nodes.len()
                        || n.right as usize >= tree.nodes.len()
                        || n.left as usize <= k
                        || n.right as usize <= k
                } else {
                    false
                };
                if bad || tree.nodes.is_empty() {
                    return Err(ModelError::BadNode { tree: t, node: k });
                }
            }
        }
        Ok(())
    }

    /// The margin (log-odds) for one row of features. The model must have been validated.
    pub fn margin(&self, x: &[f32]) -> f32 {
        let mut m = self.base;
        for t in &self.trees {
            let mut k = 0usize;
            loop {
                let n = &t.nodes[k];
                if n.feature < 0 {
                    m += n.value;
                    break;
                }
                k = if x[n.feature as usize] > n.threshold {
                    n.right as usize
                } else {
                    n.left as usize
                };
            }
        }
        m
    }

    /// The probability of the positive class.
    pub fn predict(&self, x: &[f32]) -> f32 {
        sigmoid(self.margin(x))
    }
}

impl Model {
    /// The same model as complete trees of equal depth in flat arrays, evaluated without
    /// branches (a leaf above the full depth becomes splits that always go left). The model must
    /// have been validated.
    pub fn compile(&self) -> CompiledModel {
        fn depth(t: &Tree, k: usize) -> usize {
            let n = &t.nodes[k];
            if n.feature < 0 {
                0
            } else {
                1 + depth(t, n.left as usize).max(depth(t, n.right as usize))
            }
        }
        let d = self.trees.iter().map(|t| depth(t, 0)).max().unwrap_or(0);
        let inner = (1usize << d) - 1;
        let mut c = CompiledModel {
            depth: d,
            base: self.base,
            features: Vec::with_capacity(self.trees.len() * inner),
            thresholds: Vec::with_capacity(self.trees.len() * inner),
            leaves: Vec::with_capacity(self.trees.len() * (inner + 1)),
        };
        for t in &self.trees {
            let mut f = vec![0u32; inner];
            let mut th = vec![f32::INFINITY; inner];
            let mut leaves = vec![0f32; inner + 1];
            fill(t, 0, 0, 0, d, &mut f, &mut th, &mut leaves);
            c.features.extend(f);
            c.thresholds.extend(th);
            c.leaves.extend(leaves);
        }
        c
    }
}

#[allow(clippy::too_many_arguments)] // a recursive helper over the three output arrays
fn fill(
    t: &Tree,
    node: usize,
    pos: usize,
    level: usize,
    d: usize,
    f: &mut [u32],
    th: &mut [f32],
    leaves: &mut [f32],
) {
    let n = &t.nodes[node];
    if level == d {
        leaves[pos - ((1 << d) - 1)] = n.value;
        return;
    }
    if n.feature < 0 {
        // Always left (nothing is greater than infinity); both subtrees carry the leaf.
        fill(t, node, 2 * pos + 1, level + 1, d, f, th, leaves);
        fill(t, node, 2 * pos + 2, level + 1, d, f, th, leaves);
    } else {
        f[pos] = n.feature as u32;
        th[pos] = n.threshold;
        fill(t, n.left as usize, 2 * pos + 1, level + 1, d, f, th, leaves);
        fill(t, n.right as usize, 2 * pos + 2, level + 1, d, f, th, leaves);
    }
}

/// A model compiled for fast evaluation; gives exactly [`Model::margin`].
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledModel {
    depth: usize,
    base: f32,
    features: Vec<u32>,
    thresholds: Vec<f32>,
    leaves: Vec<f32>,
}

impl CompiledModel {
    pub fn margin(&self, x: &[f32]) -> f32 {
        // A depth known at compile time lets the descent be unrolled (the shipped models are
        // depth 5; the others are for training experiments).
        match self.depth {
            4 => self.margin_at::<4>(x),
            5 => self.margin_at::<5>(x),
            6 => self.margin_at::<6>(x),
            _ => self.margin_any(x),
        }
    }

    fn margin_at<const D: usize>(&self, x: &[f32]) -> f32 {
        let inner = (1usize << D) - 1;
        let mut m = self.base;
        for ((f, th), leaves) in self
            .features
            .chunks_exact(inner)
            .zip(self.thresholds.chunks_exact(inner))
            .zip(self.leaves.chunks_exact(inner + 1))
        {
            let mut k = 0usize;
            for _ in 0..D {
                k = 2 * k + 1 + usize::from(x[f[k] as usize] > th[k]);
            }
            m += leaves[k - inner];
        }
        m
    }

    fn margin_any(&self, x: &[f32]) -> f32 {
        let inner = (1usize << self.depth) - 1;
        let mut m = self.base;
        for ((f, th), leaves) in self
            .features
            .chunks_exact(inner.max(1))
            .zip(self.thresholds.chunks_exact(inner.max(1)))
            .zip(self.leaves.chunks_exact(inner + 1))
        {
            let mut k = 0usize;
            for _ in 0..self.depth {
                k = 2 * k + 1 + usize::from(x[f[k] as usize] > th[k]);
            }
            m += leaves[k - inner];
        }
        m
    }

    pub fn predict(&self, x: &[f32]) -> f32 {
        sigmoid(self.margin(x))
    }

    /// [`Self::predict`] of rows `row(0..n)`, each answer passed to `out(j, p)`; bit for bit
    /// the same as one row at a time. Descending each tree for several rows together overlaps
    /// their chains of dependent loads, which is what bounds the evaluation of one row.
    pub fn predict_each<'a>(
        &self,
        n: usize,
        row: impl Fn(usize) -> &'a [f32],
        mut out: impl FnMut(usize, f32),
    ) {
        const LANES: usize = 16;
        let mut j = 0;
        if matches!(self.depth, 4..=6) {
            while j + LANES <= n {
                let rows: [&[f32]; LANES] = std::array::from_fn(|l| row(j + l));
                let m = match self.depth {
                    4 => self.margins_at::<4, LANES>(rows),
                    5 => self.margins_at::<5, LANES>(rows),
                    _ => self.margins_at::<6, LANES>(rows),
                };
                for (l, m) in m.into_iter().enumerate() {
                    out(j + l, sigmoid(m));
                }
                j += LANES;
            }
        }
        for j in j..n {
            out(j, self.predict(row(j)));
        }
    }

    /// [`Self::margin_at`] of `L` rows; each row adds the trees in the same order.
    fn margins_at<const D: usize, const L: usize>(&self, x: [&[f32]; L]) -> [f32; L] {
        let inner = (1usize << D) - 1;
        let mut m = [self.base; L];
        for ((f, th), leaves) in self
            .features
            .chunks_exact(inner)
            .zip(self.thresholds.chunks_exact(inner))
            .zip(self.leaves.chunks_exact(inner + 1))
        {
            let mut k = [0usize; L];
            for _ in 0..D {
                for (k, x) in k.iter_mut().zip(&x) {
                    *k = 2 * *k + 1 + usize::from(x[f[*k] as usize] > th[*k]);
                }
            }
            for (m, k) in m.iter_mut().zip(k) {
                *m += leaves[k - inner];
            }
        }
        m
    }
}

pub fn sigmoid(m: f32) -> f32 {
    1.0 / (1.0 + (-m).exp())
}

/// Training rows: `x` row-major with `n_features` columns, labels 0/1, positive weights.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub n_features: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub w: Vec<f32>,
}

impl Dataset {
    pub fn new(n_features: usize) -> Self {
        Self { n_features, ..Self::default() }
    }

    pub fn rows(&self) -> usize {
        self.y.len()
    }

    pub fn push(&mut self, x: &[f32], y: bool, w: f32) {
        debug_assert_eq!(x.len(), self.n_features);
        self.x.extend_from_slice(x);
        self.y.push(if y { 1.0 } else { 0.0 });
        self.w.push(w);
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.n_features..(i + 1) * self.n_features]
    }
}

/// Boosting parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    pub trees: usize,
    pub max_depth: usize,
    pub learning_rate: f32,
    /// Smallest hessian sum allowed in a child.
    pub min_child_weight: f32,
    /// L2 regularisation of leaf values.
    pub lambda: f32,
    /// Bins per feature (at most 255).
    pub bins: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            trees: 150,
            max_depth: 5,
            learning_rate: 0.1,
            min_child_weight: 20.0,
            lambda: 1.0,
            bins: 64,
        }
    }
}

/// Trains a model. `names` label the features.
pub fn train(data: &Dataset, names: &[&str], params: &TrainParams) -> Model {
    let n = data.rows();
    let nf = data.n_features;
    let bins = params.bins.clamp(2, 255);
    // Quantile cut points per feature, from a deterministic subsample.
    let stride = (n / 200_000).max(1);
    let mut cuts: Vec<Vec<f32>> = Vec::with_capacity(nf);
    for f in 0..nf {
        let mut v: Vec<f32> = (0..n).step_by(stride).map(|i| data.x[i * nf + f]).collect();
        v.sort_by(f32::total_cmp);
        let mut c: Vec<f32> =
            (1..bins).map(|k| v[(k * v.len() / bins).min(v.len().saturating_sub(1))]).collect();
        c.dedup();
        // A cut at the maximum separates nothing.
        if let Some(&max) = v.last() {
            c.retain(|&t| t < max);
        }
        cuts.push(c);
    }
    // Column-major bins: value goes to the first cut it does not exceed.
    let mut xb: Vec<Vec<u8>> = vec![vec![0u8; n]; nf];
    for (f, col) in xb.iter_mut().enumerate() {
        let c = &cuts[f];
        for (i, b) in col.iter_mut().enumerate() {
            *b = c.partition_point(|&t| t < data.x[i * nf + f]) as u8;
        }
    }
    let wsum: f64 = data.w.iter().map(|&w| f64::from(w)).sum();
    let ysum: f64 = data.y.iter().zip(&data.w).map(|(&y, &w)| f64::from(y * w)).sum();
    let p0 = (ysum / wsum.max(1e-12)).clamp(1e-4, 1.0 - 1e-4);
    let base = (p0 / (1.0 - p0)).ln() as f32;
    let mut margin = vec![base; n];
    let mut g = vec![0f32; n];
    let mut h = vec![0f32; n];
    let mut trees = Vec::with_capacity(params.trees);
    let nbins = bins + 1;
    for _ in 0..params.trees {
        for i in 0..n {
            let p = sigmoid(margin[i]);
            g[i] = data.w[i] * (p - data.y[i]);
            h[i] = data.w[i] * (p * (1.0 - p)).max(1e-6);
        }
        let tree = grow(&xb, &cuts, &g, &h, nbins, params, &mut margin);
        trees.push(tree);
    }
    Model { features: names.iter().map(|s| (*s).to_owned()).collect(), base, trees }
}

struct Open {
    node: usize,
    rows: Vec<u32>,
    hist: Vec<(f64, f64)>,
    g: f64,
    h: f64,
}

fn histogram(xb: &[Vec<u8>], rows: &[u32], g: &[f32], h: &[f32], nbins: usize) -> Vec<(f64, f64)> {
    let mut hist = vec![(0f64, 0f64); xb.len() * nbins];
    for (f, col) in xb.iter().enumerate() {
        let hf = &mut hist[f * nbins..(f + 1) * nbins];
        for &r in rows {
            let r = r as usize;
            let e = &mut hf[col[r] as usize];
            e.0 += f64::from(g[r]);
            e.1 += f64::from(h[r]);
        }
    }
    hist
}

fn grow(
    xb: &[Vec<u8>],
    cuts: &[Vec<f32>],
    g: &[f32],
    h: &[f32],
    nbins: usize,
    p: &TrainParams,
    margin: &mut [f32],
) -> Tree {
    let n = g.len();
    let lambda = f64::from(p.lambda);
    let rows: Vec<u32> = (0..n as u32).collect();
    let hist = histogram(xb, &rows, g, h, nbins);
    let (gs, hs) = rows.iter().fold((0f64, 0f64), |(a, b), &r| {
        (a + f64::from(g[r as usize]), b + f64::from(h[r as usize]))
    });
    let mut nodes = vec![Node { feature: -1, threshold: 0.0, left: 0, right: 0, value: 0.0 }];
    let mut level = vec![Open { node: 0, rows, hist, g: gs, h: hs }];
    for depth in 0..=p.max_depth {
        let mut next = Vec::new();
        for o in level {
            let best = if depth < p.max_depth {
                best_split(&o, cuts, nbins, lambda, f64::from(p.min_child_weight))
            } else {
                None
            };
            let Some((f, bin)) = best else {
                let v = (-o.g / (o.h + lambda)) as f32 * p.learning_rate;
                nodes[o.node].value = v;
                for &r in &o.rows {
                    margin[r as usize] += v;
                }
                continue;
            };
            let (left_rows, right_rows): (Vec<u32>, Vec<u32>) =
                o.rows.iter().partition(|&&r| (xb[f][r as usize] as usize) <= bin);
            let (small, small_is_left) = if left_rows.len() <= right_rows.len() {
                (&left_rows, true)
            } else {
                (&right_rows, false)
            };
            let small_hist = histogram(xb, small, g, h, nbins);
            let big_hist: Vec<(f64, f64)> =
                o.hist.iter().zip(&small_hist).map(|(a, b)| (a.0 - b.0, a.1 - b.1)).collect();
            let (lh, rh) =
                if small_is_left { (small_hist, big_hist) } else { (big_hist, small_hist) };
            let sum = |hist: &[(f64, f64)]| {
                hist[..nbins].iter().fold((0f64, 0f64), |a, b| (a.0 + b.0, a.1 + b.1))
            };
            let (lg, lhs) = sum(&lh);
            let (rg, rhs) = sum(&rh);
            let li = nodes.len();
            nodes.push(Node { feature: -1, threshold: 0.0, left: 0, right: 0, value: 0.0 });
            nodes.push(Node { feature: -1, threshold: 0.0, left: 0, right: 0, value: 0.0 });
            nodes[o.node] = Node {
                feature: f as i32,
                threshold: cuts[f][bin],
                left: li as u32,
                right: li as u32 + 1,
                value: 0.0,
            };
            next.push(Open { node: li, rows: left_rows, hist: lh, g: lg, h: lhs });
            next.push(Open { node: li + 1, rows: right_rows, hist: rh, g: rg, h: rhs });
        }
        level = next;
        if level.is_empty() {
            break;
        }
    }
    Tree { nodes }
}

/// The best (feature, bin) split of a node: left takes bins `<= bin`.
fn best_split(
    o: &Open,
    cuts: &[Vec<f32>],
    nbins: usize,
    lambda: f64,
    min_h: f64,
) -> Option<(usize, usize)> {
    let parent = o.g * o.g / (o.h + lambda);
    let mut best: Option<(f64, usize, usize)> = None;
    for (f, c) in cuts.iter().enumerate() {
        let hf = &o.hist[f * nbins..(f + 1) * nbins];
        let (mut gl, mut hl) = (0f64, 0f64);
        // Bins 0..=c.len() exist; splitting after the last one separates nothing.
        for (bin, e) in hf.iter().enumerate().take(c.len()) {
            gl += e.0;
            hl += e.1;
            let (gr, hr) = (o.g - gl, o.h - hl);
            if hl < min_h || hr < min_h {
                continue;
            }
            let gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent;
            if gain > 1e-9 && best.is_none_or(|b| gain > b.0) {
                best = Some((gain, f, bin));
            }
        }
    }
    best.map(|(_, f, b)| (f, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_two_feature_rule_and_validates() {
        // y = (x0 > 0.5) xor (x1 > 0.3), with a useless third feature.
        let mut d = Dataset::new(3);
        let mut s = 1u64;
        let mut rnd = || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..4000 {
            let x = [rnd(), rnd(), rnd()];
            let y = (x[0] > 0.5) ^ (x[1] > 0.3);
            d.push(&x, y, 1.0);
        }
        let params = TrainParams {
            trees: 40,
            max_depth: 3,
            learning_rate: 0.3,
            min_child_weight: 1.0,
            ..TrainParams::default()
        };
        let m = train(&d, &["a", "b", "c"], &params);
        m.validate(&["a", "b", "c"]).unwrap();
        let correct =
            (0..d.rows()).filter(|&i| (m.predict(d.row(i)) > 0.5) == (d.y[i] > 0.5)).count();
        assert!(correct as f32 / d.rows() as f32 > 0.97, "{correct}");
        // Deterministic.
        assert_eq!(train(&d, &["a", "b", "c"], &params), m);
        assert!(matches!(m.validate(&["a", "b"]), Err(ModelError::FeatureCount { .. })));
        assert!(matches!(
            m.validate(&["a", "x", "c"]),
            Err(ModelError::FeatureName { index: 1, .. })
        ));
    }

    #[test]
    fn compiled_models_give_the_same_margins() {
        let mut d = Dataset::new(4);
        let mut s = 7u64;
        let mut rnd = || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..3000 {
            let x = [rnd(), rnd(), rnd(), rnd()];
            d.push(&x, x[0] + 0.3 * x[2] > 0.7, 1.0);
        }
        // Large leaves and few rows make some branches stop early (unequal depths).
        let params = TrainParams {
            trees: 25,
            max_depth: 4,
            min_child_weight: 30.0,
            ..TrainParams::default()
        };
        let m = train(&d, &["a", "b", "c", "d"], &params);
        let c = m.compile();
        for i in 0..d.rows() {
            assert_eq!(m.margin(d.row(i)).to_bits(), c.margin(d.row(i)).to_bits());
        }
        let nan = [f32::NAN; 4];
        assert_eq!(m.margin(&nan).to_bits(), c.margin(&nan).to_bits());
    }

    #[test]
    fn batched_predictions_are_those_of_one_row_at_a_time() {
        let mut d = Dataset::new(4);
        let mut s = 11u64;
        let mut rnd = || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        for i in 0..2000 {
            let mut x = [rnd(), rnd(), rnd(), rnd()];
            if i % 7 == 3 {
                x[i % 4] = f32::NAN;
            }
            d.push(&x, x[0] * x[1] + 0.3 * x[2] > 0.4 - 0.2 * x[3], 1.0);
        }
        // Depths with an unrolled batch (4 to 6) and without.
        for max_depth in [2, 4, 5, 6, 7] {
            let params = TrainParams {
                trees: 12,
                max_depth,
                min_child_weight: 1.0,
                ..TrainParams::default()
            };
            let c = train(&d, &["a", "b", "c", "d"], &params).compile();
            // Row counts that leave remainders after whole batches.
            for n in [0, 1, 15, 16, 17, 40, d.rows()] {
                let mut got = vec![f32::NAN; n];
                c.predict_each(n, |j| d.row(j), |j, p| got[j] = p);
                for (j, p) in got.iter().enumerate() {
                    assert_eq!(p.to_bits(), c.predict(d.row(j)).to_bits(), "depth {max_depth}");
                }
            }
        }
    }

    #[test]
    fn corrupt_trees_are_refused() {
        let m = Model {
            features: vec!["a".into()],
            base: 0.0,
            trees: vec![Tree {
                nodes: vec![Node { feature: 0, threshold: 0.0, left: 5, right: 6, value: 0.0 }],
            }],
        };
        assert!(matches!(m.validate(&["a"]), Err(ModelError::BadNode { .. })));
    }
}
